"""CIFAR-10's "binary version": data_batch_1..5.bin, test_batch.bin, batches.meta.txt.

Each .bin file is a run of 3073-byte records: one label byte, then 3072 pixel bytes
(1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major).
batches.meta.txt holds the class names, one a line.
"""

from __future__ import annotations

import posixpath

import numpy as np
import torch

from ..errors import InputError
from .image_data import ImageData
from .trees import Tree

MARKER = "batches.meta.txt"  # the file whose folder is a binary-version root
SPLITS = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
RECORD = 1 + 3 * 32 * 32  # bytes: label, then pixels
FIX = "re-download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"


def read_binary(tree: Tree, root: str) -> dict[str, ImageData]:
    meta = posixpath.join(root, MARKER)
    try:
        lines = tree.read(meta).decode().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{tree.where(meta)} is not a text file of class names; {FIX}") from None
    classes = tuple(line.strip() for line in lines if line.strip())
    return {
        split: _read_batches(tree, [posixpath.join(root, b) for b in batches], classes)
        for split, batches in SPLITS.items()
    }


def _read_batches(tree: Tree, paths: list[str], classes: tuple[str, ...]) -> ImageData:
    records = [_read_batch(tree, path, len(classes)) for path in paths]
    data = np.concatenate(records)  # (N, 3073)
    images = torch.from_numpy(data[:, 1:].reshape(-1, 3, 32, 32))  # (N, 3, 32, 32)
    labels = torch.from_numpy(data[:, 0].astype(np.int64))  # (N,)
    return ImageData(images, labels, classes)


def _read_batch(tree: Tree, path: str, num_classes: int) -> np.ndarray:
    raw = np.frombuffer(tree.read(path), dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise InputError(
            f"{tree.where(path)} is not a CIFAR-10 binary batch ({raw.size} bytes is not a "
            f"whole number of {RECORD}-byte records); {FIX}"
        )
    records = raw.reshape(-1, RECORD)  # (N, 3073)
    if records[:, 0].max() >= num_classes:
        raise InputError(
            f"{tree.where(path)} has labels outside 0..{num_classes - 1} (batches.meta.txt "
            f"names {num_classes} classes); {FIX}"
        )
    return records
