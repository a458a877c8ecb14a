"""Modules whose forward computes on shapes are traced with example values: their channels
stay prunable, except where the forward branches on a channel count."""

import random

import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import cbr, check_oracle, random_plan, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class PoolIfLarge(nn.Module):
    """timm's ConvMlp: pools only when the map is larger than the kernel (shape control flow)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(cin, cout, 3)

    def forward(self, x):
        if x.shape[-1] > 3:
            x = F.adaptive_avg_pool2d(x, 3)
        n, c = x.size(0), x.size(1)
        return self.fc(x.reshape(n, c, 3, 3))


class BranchOnChannels(nn.Module):
    def forward(self, x):
        return x * 2 if x.shape[1] % 2 == 0 else x


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.mlp, self.branch = cbr(3, 6), PoolIfLarge(6, 4), BranchOnChannels()
        self.mid = cbr(4, 5)
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        x = self.mid(self.mlp(self.stem(x)))
        return self.fc(self.branch(x)[:, :, 0, 0])


def _net():
    torch.manual_seed(0)
    return randomize_norms(Net().double().eval())


def _group_of(cg, tensor, dim=0):
    return next(g for g in cg.groups if any(m.tensor == tensor and m.dim == dim for m in g.members))


def test_shape_control_flow_is_traced_with_values():
    model = _net()
    cg = graph.trace_channels(model, X)
    assert cg.valued >= {"mlp"} and not cg.opaque
    stem, mlp = _group_of(cg, "stem.0.weight"), _group_of(cg, "mlp.fc.weight")
    assert stem.prunable and stem.exact and mlp.prunable and mlp.exact
    plan = {g.id: v for g, v in ((stem, [1, 4]), (mlp, [0]))}
    check_oracle(model, X, plan, cg)
    assert type(graph.prune(model, X, plan, channel_graph=cg).mlp) is PoolIfLarge


def test_branch_on_a_channel_count_freezes_those_channels():
    cg = graph.trace_channels(_net(), X)
    mid = _group_of(cg, "mid.0.weight")
    assert not mid.prunable and "branches on this channel count" in mid.reason
    check_oracle(_net(), X, random_plan(cg, random.Random(0), fraction=0.5), cg)
