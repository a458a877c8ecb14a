"""View sizes read from shapes: a size that counts the viewed tensor's own channels follows
a plan; one read from another tensor's channels becomes a literal that pruning rewrites. In
a module traced with values (nothing there can be rewritten) it is made to follow by
joining the two sets of channels, when its arithmetic allows; otherwise those channels
freeze."""

import random

import pytest
import torch
from torch import nn

from taylorprune import graph

from .nets import check_oracle, random_plan, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class ShapeSizedViews(nn.Module):
    def __init__(self, size: str, valued: bool) -> None:
        super().__init__()
        self.size, self.valued = size, valued
        self.a, self.b = nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.a(x)
        n, c, h, w = x.size()
        if self.valued and w > 64:  # a branch on the map size: traced with values
            x = x[..., :64]
        y = self.b(x)
        # Own: y's channels are b's. Foreign: c counts a's. Odd: c - 4 gives b's 4 here only.
        c = y.size(1) if self.size == "own" else c
        half = c - 4 if self.size == "odd" else c // 2
        y = y.view(n, 2, half, h, w).transpose(1, 2).reshape(n, 2 * half, h, w)  # shuffle
        return self.fc(y.mean((2, 3)))


def _net(size, valued=False):
    torch.manual_seed(0)  # a submodule, which can be traced with values (concrete.py)
    return randomize_norms(nn.Sequential(ShapeSizedViews(size, valued)).double().eval())


def _group_of(cg, tensor, prefix="0."):
    return next(g for g in cg.groups if any(m.tensor == prefix + tensor and m.dim == 0 for m in g.members))


@pytest.mark.parametrize("valued", [False, True])
def test_view_sized_by_its_own_channel_count_follows_the_plan(valued):
    model = _net("own", valued)
    cg = graph.trace_channels(model, X)
    assert bool(cg.valued) is valued
    b = _group_of(cg, "b.weight")
    assert b.prunable and b.exact and b.size == 4  # the shuffle pairs channel i with i + 4
    assert _group_of(cg, "a.weight") is not b
    check_oracle(model, X, random_plan(cg, random.Random(0), fraction=0.5), cg)


@pytest.mark.parametrize("size", ["foreign", "odd"])
def test_view_sized_by_another_tensors_count_is_rewritten(size):
    model = _net(size)
    cg = graph.trace_channels(model, X)
    a, b = _group_of(cg, "a.weight"), _group_of(cg, "b.weight")
    assert a.prunable and b.prunable and a is not b
    for plan in ({a.id: [1, 6]}, {b.id: [2]}, {a.id: [0], b.id: [1, 3]}):
        check_oracle(model, X, plan, cg)


def test_view_sized_by_another_tensors_count_joins_the_two_where_traced_with_values():
    model = _net("foreign", valued=True)
    cg = graph.trace_channels(model, X)
    b = _group_of(cg, "b.weight")
    assert b.prunable and _group_of(cg, "a.weight") is b  # a's count sizes b's view
    check_oracle(model, X, random_plan(cg, random.Random(0), fraction=0.5), cg)


def test_view_size_that_cannot_follow_freezes():
    cg = graph.trace_channels(_net("odd", valued=True), X)
    b = _group_of(cg, "b.weight")
    assert not b.prunable and "another tensor's channel count" in b.reason


class SelectiveKernel(nn.Module):
    """Two branches stacked on a new dim, softmax-weighted over it, summed (SKNet)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 1)
        self.attn = nn.Conv2d(8, 16, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.stack([self.a(x), self.b(x)], dim=1)  # (N, 2, 8, H, W)
        w = self.attn(y.sum(1).mean((2, 3), keepdim=True)).view(x.shape[0], 2, 8, 1, 1)
        y = (y * w.softmax(dim=1)).sum(1)
        return self.fc(torch.nn.functional.normalize(y.mean((2, 3)), dim=0))


def test_stacked_branches_share_their_channels():
    torch.manual_seed(0)
    model = randomize_norms(SelectiveKernel().double().eval())
    cg = graph.trace_channels(model, X)
    a = _group_of(cg, "a.weight", prefix="")
    assert a.prunable and a.exact and _group_of(cg, "b.weight", prefix="") is a
    check_oracle(model, X, random_plan(cg, random.Random(0), fraction=0.5), cg)
