"""CIFAR ResNets of depth 6n+2 (He et al. 2016, section 4.2).

Two shortcut kinds where a block changes shape:
- ``projection``: 1x1 conv (stride 2) + BN, as in MATLAB's "CIFARNet" example;
- ``zero-pad``: parameter-free, subsample by 2 and zero-pad the channel axis
  ("option A", the layout of the akamaster checkpoints).
Module names and the default input normalisation (ImageNet statistics) follow the
akamaster checkpoints, so their state dicts load and score without renaming.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize
from .registry import register_model

Shortcut = Literal["projection", "zero-pad"]


class ZeroPadShortcut(nn.Module):
    """x[:, :, ::2, ::2] padded with ``pad`` zero channels on each side of the channel axis."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: Shortcut) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if shortcut == "projection":
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )
            else:
                if stride != 2 or planes - in_planes != 2 * ((planes - in_planes) // 2):
                    raise InputError("zero-pad shortcuts need stride 2 and an even width increase")
                self.shortcut = ZeroPadShortcut((planes - in_planes) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Input (N, 3, 32, 32) in [0, 1]; output (N, num_classes) logits."""

    def __init__(
        self,
        depth: int = 20,
        *,
        num_classes: int = 10,
        width: float = 1.0,
        shortcut: Shortcut = "projection",
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise InputError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        if shortcut not in ("projection", "zero-pad"):
            raise InputError(f"shortcut must be 'projection' or 'zero-pad', got {shortcut!r}")
        n = (depth - 2) // 6
        widths = [max(1, round(w * width)) for w in (16, 32, 64)]
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        stages = []
        for i, planes in enumerate(widths):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride, shortcut))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(self.normalize(x))))  # (N, 16w, 32, 32)
        out = self.layer3(self.layer2(self.layer1(out)))  # (N, 64w, 8, 8)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # (N, 64w)
        return self.linear(out)


def _factory(depth: int, shortcut: Shortcut):
    def build(**kw) -> CifarResNet:
        kw.setdefault("shortcut", shortcut)
        return CifarResNet(depth, **kw)

    build.__doc__ = f"CIFAR ResNet-{depth}, {shortcut} shortcuts by default."
    return build


for _depth in (20, 32, 44, 56, 110):
    register_model(f"resnet{_depth}")(_factory(_depth, "zero-pad"))
    register_model(f"resnet{_depth}_projection")(_factory(_depth, "projection"))
# MATLAB's example network: ResNet-20 with projection shortcuts.
register_model("cifarnet")(_factory(20, "projection"))
