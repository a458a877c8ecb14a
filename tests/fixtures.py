"""Helpers shared by the tests: the ../shared folder beside the repository, tiny data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from taylorprune.data import ImageData
from taylorprune.errors import InputError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_file(relative: str) -> Path:
    """A file from ../shared, or skip the test with the reason when it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared folder beside the repository holds it)")
    return path


def colour_blobs(n: int, classes: int = 3, size: int = 8, seed: int = 0) -> ImageData:
    """A learnable toy set: each class is an image tinted by its own colour, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    tints = torch.linspace(40, 215, classes)
    images = torch.randint(0, 60, (n, 3, size, size), generator=g).float()
    images[:, 0] += tints[labels].view(n, 1, 1)
    images[:, 2] += tints.flip(0)[labels].view(n, 1, 1)
    data = images.clamp(0, 255).to(torch.uint8)
    return ImageData(data, labels.long(), tuple(f"c{i}" for i in range(classes)))


def tiny_resnet(num_classes: int = 3):
    """ResNet-8 at quarter width (zero-pad shortcuts): residual coupling in ~2k learnables."""
    from taylorprune.models.cifar_resnet import CifarResNet

    torch.manual_seed(0)
    return CifarResNet(8, num_classes=num_classes, width=0.25)


def wide_convnet(num_classes: int = 3):
    """Two wide 3x3 convolutions on the full 8x8 image: compute, not overhead, sets its time, so
    removing channels saves time a timer can see even at small batches on a busy machine."""
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 96, 3, padding=1), nn.BatchNorm2d(96), nn.ReLU(),
                         nn.Conv2d(96, 96, 3, padding=1), nn.BatchNorm2d(96), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, num_classes))


def two_class_net():
    """A network with 2 outputs, for data with 3 classes (labels out of range)."""
    return tiny_resnet(num_classes=2)


def flat_net_32():
    """Takes only 3x32x32 inputs (a linear layer over the flattened image)."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))


class DataDependent(torch.nn.Module):
    """Branches on tensor values, which torch.fx cannot trace."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        y = self.conv(x)
        if y.mean() > 0:
            y = -y
        return self.fc(y.mean((2, 3)))


def fails_on_rank_one():
    """A model factory that refuses to build on torchrun's rank 1 (a rank that dies early)."""
    if os.environ.get("RANK") == "1":
        raise InputError("rank 1 was told to fail")
    return tiny_resnet()
