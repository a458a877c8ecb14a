"""Batch-wise CIFAR augmentation on the device, on uint8 images (no per-image Python).

The random draws of a whole epoch are made on the CPU generator at once and copied to the
device in one transfer: a host-to-device copy per mini-batch would stall the GPU queue
every step.
"""

from __future__ import annotations

import torch


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) in 0..255, or float in [0, 1], to float32 in [0, 1], channels_last."""
    x = images.float().div_(255) if images.dtype == torch.uint8 else images.float()
    return x.contiguous(memory_format=torch.channels_last)


def draw_crop_flip(n: int, pad: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 3) int64 on the CPU: per image a row shift, a column shift in 0..2*pad, a flip bit."""
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator).lt(0.5).long().unsqueeze(1)
    return torch.cat([shifts, flips], 1)


def random_crop_flip(
    images: torch.Tensor,
    draws: torch.Tensor | None = None,
    *,
    pad: int = 4,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Shift by up to ``pad`` pixels (zero fill) and mirror, per ``draws`` from draw_crop_flip.

    Without ``draws`` they are made here from ``generator`` (one transfer to the device).
    """
    n, c, h, w = images.shape
    dev = images.device
    if draws is None:
        draws = draw_crop_flip(n, pad, generator).to(dev)
    dy, dx, flip = (draws[:, k].view(n, 1, 1, 1) for k in range(3))
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))  # (N, C, H+2p, W+2p)
    rows = (torch.arange(h, device=dev).view(1, 1, h, 1) + dy).expand(n, c, h, w + 2 * pad)
    out = padded.gather(2, rows)  # (N, C, H, W+2p)
    cols = (torch.arange(w, device=dev).view(1, 1, 1, w) + dx).expand(n, c, h, w)
    out = out.gather(3, cols)  # (N, C, H, W)
    return torch.where(flip.bool(), out.flip(3), out)
