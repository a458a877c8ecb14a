"""Mini-batches from an in-memory image set: resident on the device, augmented in bulk."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..data import ImageData
from .augment import random_crop_flip, to_float


def to_device(data: ImageData, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images stay uint8 on the device (4x less memory than float); labels int64."""
    return data.images.to(device), data.labels.to(device)


def iterate_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    *,
    augment: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x float (B, C, H, W) in [0, 1], y (B,)) following ``order`` (indices)."""
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size].to(images.device)
        x = images[idx]
        if augment:
            x = random_crop_flip(x, generator=generator)
        yield to_float(x), labels[idx]
