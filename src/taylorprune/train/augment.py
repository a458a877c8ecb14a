"""Batch-wise CIFAR augmentation on the device, on uint8 images (no per-image Python)."""

from __future__ import annotations

import torch


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) in 0..255, or float in [0, 1], to float32 in [0, 1], channels_last."""
    x = images.float().div_(255) if images.dtype == torch.uint8 else images.float()
    return x.contiguous(memory_format=torch.channels_last)


def random_crop_flip(
    images: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (zero fill) and a random horizontal flip."""
    n, c, h, w = images.shape
    dev = images.device
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))  # (N, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * pad + 1, (n, 1, 1, 1), device="cpu", generator=generator).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (n, 1, 1, 1), device="cpu", generator=generator).to(dev)
    rows = (torch.arange(h, device=dev).view(1, 1, h, 1) + dy).expand(n, c, h, w + 2 * pad)
    out = padded.gather(2, rows)  # (N, C, H, W+2p)
    cols = (torch.arange(w, device=dev).view(1, 1, 1, w) + dx).expand(n, c, h, w)
    out = out.gather(3, cols)  # (N, C, H, W)
    flip = torch.rand(n, device="cpu", generator=generator).lt(0.5).to(dev).view(n, 1, 1, 1)
    return torch.where(flip, out.flip(3), out)
