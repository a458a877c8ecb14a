"""The export formats: how each writes a network and how its file is run to check it.

Adding a format is one writer, one loader and one entry in FORMATS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from .onnx_file import export_onnx, load_onnx
from .pt2_file import export_pt2, load_pt2

Runner = Callable[[torch.Tensor], torch.Tensor]  # a batch (N, C, H, W) -> logits (N, classes)


@dataclass(frozen=True)
class Format:
    """One file format a network can be exported to."""

    write: Callable[[nn.Module, Path, Sequence[int]], Path]  # (net, path, (C, H, W)) -> the file
    load: Callable[..., Runner]  # (the written file, *, trust_code) -> the file, ready to run
    runtime: str  # what runs the file, named in the parity report


FORMATS = {
    "onnx": Format(export_onnx, load_onnx, "onnxruntime"),
    "pt2": Format(export_pt2, load_pt2, "torch.export"),
}


def export_format(name: str) -> Format:
    """The format called ``name``, or one line listing those there are."""
    if name not in FORMATS:
        raise InputError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[name]
