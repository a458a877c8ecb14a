"""Tiny non-ImageData tasks for the tests: Datasets, segmentation with dict outputs, regression."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from tests.fixtures import colour_blobs


class Pairs(Dataset):
    """A map-style Dataset over in-memory tensors that counts its reads (to prove streaming)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.inputs, self.targets = inputs, targets
        self.reads = 0

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        return self.inputs[i], self.targets[i]


def blob_pairs(n: int, seed: int = 0) -> Pairs:
    """colour_blobs as a Dataset of float images in [0, 1] and int64 labels."""
    data = colour_blobs(n, seed=seed)
    return Pairs(data.images.float() / 255, data.labels)


def squares(n: int, size: int = 16, seed: int = 0) -> Pairs:
    """Segmentation: a bright square (class 1) on noise (class 0); masks (N, H, W) int64."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g) * 0.3
    masks = torch.zeros(n, size, size, dtype=torch.int64)
    for k in range(n):
        top, left = torch.randint(0, size // 2, (2,), generator=g).tolist()
        masks[k, top:top + size // 2, left:left + size // 2] = 1
    images[:, 0] += 0.7 * masks
    return Pairs(images, masks)


def slopes(n: int, size: int = 8, seed: int = 0) -> Pairs:
    """Regression: the target is the brightness gradient's slope, a float (N,) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    slope = torch.rand(n, generator=g) * 2 - 1
    ramp = torch.linspace(-0.5, 0.5, size)
    images = 0.5 + slope.view(n, 1, 1, 1) * ramp.view(1, 1, 1, size) + 0.02 * torch.randn(n, 1, size, size, generator=g)
    return Pairs(images.expand(n, 3, size, size).contiguous(), slope)


class DictSegmenter(nn.Module):
    """Returns {"out": (N, classes, H, W), "aux": ...} like torchvision's segmentation models."""

    def __init__(self, classes: int = 2, width: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.head = nn.Conv2d(width, classes, 1)
        self.aux = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.body(x)
        return {"out": self.head(features), "aux": self.aux(features)}


def regressor() -> nn.Module:
    """A small CNN with one output per image."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1))
