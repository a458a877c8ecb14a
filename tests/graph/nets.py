"""Tiny networks that each exercise one channel-mapping rule, plus the oracle helpers.

Every net takes (N, 3, 8, 8) images and returns (N, 5) logits unless its docstring says so.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph


def cbr(cin: int, cout: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Head(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Residual(nn.Module):
    """Two residual blocks on one stream, the second with a biased conv."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.a = nn.Sequential(cbr(8, 6), nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.b = nn.Sequential(cbr(8, 4), nn.Conv2d(4, 8, 1), nn.BatchNorm2d(8))
        self.head = Head(8)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(x + self.a(x))
        x = F.relu(self.b(x) + x)
        return self.head(x)


class Concat(nn.Module):
    """Two branches concatenated on the channel axis (Inception/DenseNet style)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 6)
        self.left, self.right = cbr(6, 4), cbr(6, 5)
        self.mix = cbr(6 + 4 + 5, 7)
        self.head = Head(7)

    def forward(self, x):
        x = self.stem(x)
        return self.head(self.mix(torch.cat([x, self.left(x), self.right(x)], dim=1)))


class Depthwise(nn.Module):
    """Inverted residual: expand, depthwise (multiplier 2), project, residual, SE gate."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 6)
        self.expand = cbr(6, 12)
        self.dw = nn.Sequential(
            nn.Conv2d(12, 24, 3, padding=1, groups=12), nn.BatchNorm2d(24), nn.ReLU6()
        )
        self.se1, self.se2 = nn.Conv2d(24, 4, 1), nn.Conv2d(4, 24, 1)
        self.project = nn.Sequential(nn.Conv2d(24, 6, 1, bias=False), nn.BatchNorm2d(6))
        self.head = Head(6)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(self.expand(x))
        gate = torch.sigmoid(self.se2(F.relu(self.se1(y.mean((2, 3), keepdim=True)))))
        return self.head(x + self.project(y * gate))


class Grouped(nn.Module):
    """A grouped conv (4 groups) between plain convs: pruned by whole groups."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.grouped = cbr(8, 12, groups=4)
        self.out = cbr(12, 6)
        self.head = Head(6)

    def forward(self, x):
        return self.head(self.out(self.grouped(self.stem(x))))


class ZeroPad(nn.Module):
    """Parameter-free shortcut: subsample and zero-pad channels (asymmetric 2 + 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 6)
        self.block = nn.Sequential(nn.Conv2d(6, 12, 3, 2, 1, bias=False), nn.BatchNorm2d(12))
        self.head = Head(12)

    def forward(self, x):
        x = self.stem(x)
        shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 4))
        return self.head(F.relu(self.block(x) + shortcut))


class Slicing(nn.Module):
    """Channel slices with literal bounds, split sections, chunk into equal halves."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 10)
        self.a, self.b = cbr(4, 3), cbr(6, 3)
        self.pair = cbr(6, 8)
        self.c, self.d = cbr(2, 4), cbr(2, 4)
        self.head = Head(4 + 4 + 3)

    def forward(self, x):
        x = self.stem(x)
        low, high = self.a(x[:, :4]), self.b(x[:, -6:])
        p, q = torch.split(self.pair(torch.cat([low, high], 1)), [3, 5], dim=1)
        h1, h2 = q[:, 1:].chunk(2, dim=1)
        return self.head(torch.cat([self.c(h1) + self.d(h2), self.d(h2), p], 1))


class FlattenSpatial(nn.Module):
    """Flatten over spatial dims into a linear layer, with a literal view size."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 6)
        self.fc1 = nn.Linear(6 * 4 * 4, 7)
        self.fc2 = nn.Linear(7, 5)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)  # (N, 6, 4, 4)
        return self.fc2(F.relu(self.fc1(x.view(x.size(0), 6 * 4 * 4))))


class Unknown(nn.Module):
    """torch.roll over channels is not in any handler table: its channels must be frozen."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.mid, self.tail = cbr(3, 6), cbr(6, 6), cbr(6, 4)
        self.head = Head(4)

    def forward(self, x):
        return self.head(self.tail(torch.roll(self.mid(self.stem(x)), 1, dims=1)))


class DataDependent(nn.Module):
    """Control flow on tensor values: fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 6, 1)

    def forward(self, x):
        return self.conv(x) if x.sum() > 0 else x


class Opaque(nn.Module):
    """An untraceable submodule in the middle: it stays whole and frozen, the rest prunable."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.inner, self.tail = cbr(3, 6), DataDependent(), cbr(6, 4)
        self.head = Head(4)

    def forward(self, x):
        return self.head(self.tail(self.inner(self.stem(x))))


class NormsAndShuffle(nn.Module):
    """GroupNorm (2 groups of 2), chunk and channel shuffle by view/transpose, LayerNorm over channels and a
    per-channel layer_scale parameter (ConvNeXt-like, not output-exact)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4), nn.GELU())
        self.norm = nn.LayerNorm(8)
        self.pw = nn.Linear(8, 8)
        self.layer_scale = nn.Parameter(torch.rand(8, 1, 1) + 0.5)
        self.head = Head(8)

    def forward(self, x):
        x = self.stem(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat([a, self.branch(b)], 1)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        y = self.pw(self.norm(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return self.head(x + self.layer_scale * y)


class Upsample(nn.Module):
    """Transposed convs (segmentation decoders, LowFormer's attention): plain and grouped."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.up = nn.Sequential(nn.ConvTranspose2d(8, 6, 2, stride=2), nn.BatchNorm2d(6), nn.ReLU())
        self.grouped = nn.ConvTranspose2d(6, 9, 3, padding=1, groups=3, bias=False)
        self.head = Head(9)

    def forward(self, x):
        return self.head(self.grouped(self.up(self.stem(x))))


EXACT_NETS = {
    "residual": Residual,
    "concat": Concat,
    "depthwise": Depthwise,
    "grouped": Grouped,
    "zero_pad": ZeroPad,
    "slicing": Slicing,
    "flatten_spatial": FlattenSpatial,
    "unknown": Unknown,
    "opaque": Opaque,
    "upsample": Upsample,
}
ALL_NETS = {**EXACT_NETS, "norms_and_shuffle": NormsAndShuffle}


def make(name: str, seed: int = 0) -> nn.Module:
    """A float64 net in eval mode with non-trivial BN statistics and affine parameters."""
    torch.manual_seed(seed)
    return randomize_norms(ALL_NETS[name]().double().eval(), seed)


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model


def random_plan(cg: graph.ChannelGraph, rng: random.Random, fraction: float | None = None) -> dict:
    """Remove a random subset (never all) of every prunable group's channels."""
    plan = {}
    for g in cg.prunable:
        if g.size < 2:
            continue
        k = round(fraction * g.size) if fraction is not None else rng.randint(0, g.size - 1)
        plan[g.id] = sorted(rng.sample(range(g.size), min(k, g.size - 1)))
    return plan


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_oracle(model: nn.Module, x: torch.Tensor, plan: dict, cg: graph.ChannelGraph) -> None:
    """pruned(x) == masked(x) (exact groups only in the plan) and the parameter count adds up."""
    pruned = graph.prune(model, x, plan, channel_graph=cg)
    masked = graph.mask(model, x, plan, channel_graph=cg)
    with torch.no_grad():
        want, got = masked(x), pruned(x)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert count(pruned) == count(model) - cg.params_removed(plan)
