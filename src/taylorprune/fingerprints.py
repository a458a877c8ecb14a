"""What a pruning run started from, by content: so --resume continues only the same run.

The options a run was given are compared on resume; these fingerprints cover what options
cannot: the starting weights (another --weights file, or a retrained model of the same name)
and the data (another data set of the same size). Each is a sha256 over tensor bytes in a
canonical order, so the same content stored anywhere (another path, a memory map, another
memory layout) gives the same digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .artifacts import weights_sha256
from .data import ImageData
from .errors import InputError
from .train.sources import InMemory, as_source

FILE = "fingerprints.json"  # in the run folder, written when the run starts


@dataclass(frozen=True)
class RunFingerprint:
    """sha256 hex digests of a run's inputs."""

    weights: str  # the starting network's state dict (artifacts.weights_sha256)
    train: str  # the training images, labels and class names (data_sha256)
    validation: str | None  # the validation split the same way; None when there is none


# each field in words, for the one line that says what differs
_WORDS = {"weights": "the starting weights", "train": "the training data", "validation": "the validation data"}


def fingerprint_run(net: nn.Module, train: Any, validation: Any) -> RunFingerprint:
    """``train`` and ``validation``: ImageData, a Dataset, a DataLoader or a data source."""
    return RunFingerprint(weights_sha256(net.state_dict()), _data_fingerprint(train),
                          None if validation is None else _data_fingerprint(validation))


def _data_fingerprint(data: Any) -> str:
    """ImageData (held or wrapped in a source) by content; a Dataset or DataLoader by its source's
    fingerprint hook (train.sources: its own fingerprint(), else its type and length)."""
    source = as_source(data, torch.device("cpu"))
    if isinstance(source, InMemory):
        return data_sha256(source.data)
    streamed: Any = source  # a Dataset or DataLoader source: both have fingerprint()
    return streamed.fingerprint()


def data_sha256(data: ImageData) -> str:
    """sha256 of the images and labels (dtype, shape and bytes, as weights_sha256 hashes tensors)
    and the class names: a changed pixel, label, order or class name changes it."""
    tensors = weights_sha256({"images": data.images, "labels": data.labels})
    return hashlib.sha256(json.dumps([tensors, list(data.classes)]).encode()).hexdigest()


def record(out: Path, fingerprint: RunFingerprint) -> None:
    (out / FILE).write_text(json.dumps(asdict(fingerprint), indent=2) + "\n")


def check_resume(out: Path, fingerprint: RunFingerprint) -> None:
    """One line naming what differs from the fingerprint ``out`` recorded; nothing when it matches.

    A folder without the file (written before fingerprints were recorded) resumes unchecked.
    """
    path = out / FILE
    if not path.is_file():
        return
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        recorded = {}
    differ = [_WORDS[f.name] for f in fields(RunFingerprint)
              if not isinstance(recorded, dict) or recorded.get(f.name) != getattr(fingerprint, f.name)]
    if differ:
        raise InputError(f"--resume: {' and '.join(differ)} differ from those the run in {out} started from "
                         f"(see {path}); resume with the --model, --weights and --data of the first run, "
                         "or start again with --force")
