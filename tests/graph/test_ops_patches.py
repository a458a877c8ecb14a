"""Unfold and fold move channels in blocks of k*k rows: the channels around them stay
prunable and exact (VOLO's outlook attention)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import Head, cbr, check_oracle, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class Outlook(nn.Module):
    """VOLO's outlook attention in short: unfold the map into 3x3 windows, mix each window's
    positions with weights computed per location and head, fold the windows back."""

    def __init__(self, branch: bool = False) -> None:
        super().__init__()
        self.branch = branch  # branch on the map size, so the module is traced with values
        self.stem, self.v = cbr(3, 6), nn.Conv2d(6, 6, 1)
        self.attn, self.unfold = nn.Conv2d(6, 2 * 9 * 9, 1), nn.Unfold(3, padding=1)
        self.mid, self.head = cbr(6, 5), Head(5)

    def forward(self, x):
        x = self.stem(x)
        b, c, h, w = x.shape
        if self.branch and w > 64:
            x = x[..., :64]
        v = self.unfold(self.v(x)).reshape(b, 2, c // 2, 9, h * w).permute(0, 1, 4, 3, 2)
        a = self.attn(x).flatten(2).transpose(1, 2).reshape(b, h * w, 2, 9, 9).permute(0, 2, 1, 3, 4)
        y = (a.softmax(-1) @ v).permute(0, 1, 4, 3, 2)  # (B, heads, C/heads, 9, L)
        y = y.reshape(b, c * 9, h * w)  # channel-major rows: each channel's 9 in a row
        return self.head(self.mid(F.fold(y, (h, w), 3, padding=1)))


@pytest.mark.parametrize("branch", [False, True])
def test_unfold_and_fold_keep_channels_prunable_and_exact(branch):
    torch.manual_seed(0)
    model = randomize_norms(nn.Sequential(Outlook(branch)).double().eval())  # a submodule: see concrete.py
    cg = graph.trace_channels(model, X)
    assert bool(cg.valued) is branch
    stem, v = (next(g for g in cg.groups if any(m.tensor == t and m.dim == 0 for m in g.members))
               for t in ("0.stem.0.weight", "0.v.weight"))
    # ``c`` is read from the stem's output: a plain trace rewrites the sizes made from it,
    # one traced with values ties v's channels to the stem's (the C*9 rows in runs of 9).
    assert (stem is v) is branch and stem.prunable and stem.exact and v.prunable and v.exact
    assert v.size == 3  # the two heads' channels go together
    plans = [{stem.id: [1]}] if branch else [{stem.id: [1, 4]}, {v.id: [1]}, {stem.id: [0], v.id: [2]}]
    for plan in plans:
        check_oracle(model, X, plan, cg)
    pruned = graph.prune(model, X, {v.id: [1]}, channel_graph=cg)
    assert pruned[0].v.out_channels == pruned[0].mid[0].in_channels == 4 and pruned(X).shape == (2, 5)
