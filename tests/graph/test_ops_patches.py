"""Unfold and fold move channels in blocks of k*k rows: the channels around them stay
prunable and exact (VOLO's outlook attention)."""

import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import Head, cbr, check_oracle, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class Outlook(nn.Module):
    """VOLO's outlook attention in short: unfold the map into 3x3 windows, mix each window's
    positions with weights computed per location and head, fold the windows back."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.v = cbr(3, 6), nn.Conv2d(6, 6, 1)
        self.attn, self.unfold = nn.Conv2d(6, 2 * 9 * 9, 1), nn.Unfold(3, padding=1)
        self.mid, self.head = cbr(6, 5), Head(5)

    def forward(self, x):
        x = self.stem(x)
        b, c, h, w = x.shape
        v = self.unfold(self.v(x)).reshape(b, 2, c // 2, 9, h * w).permute(0, 1, 4, 3, 2)
        a = self.attn(x).flatten(2).transpose(1, 2).reshape(b, h * w, 2, 9, 9).permute(0, 2, 1, 3, 4)
        y = (a.softmax(-1) @ v).permute(0, 1, 4, 3, 2)  # (B, heads, C/heads, 9, L)
        y = y.reshape(b, c * 9, h * w)  # channel-major rows: each channel's 9 in a row
        return self.head(self.mid(F.fold(y, (h, w), 3, padding=1)))


def test_unfold_and_fold_keep_channels_prunable_and_exact():
    torch.manual_seed(0)
    model = randomize_norms(Outlook().double().eval())
    cg = graph.trace_channels(model, X)
    stem, v = ([g for g in cg.groups if any(m.tensor == t and m.dim == 0 for m in g.members)]
               for t in ("stem.0.weight", "v.weight"))
    assert len(stem) == len(v) == 1 and stem[0] is v[0]  # c is read from the stem's output
    assert stem[0].prunable and stem[0].exact
    assert stem[0].size == 3  # the two heads' channels go together
    plan = {stem[0].id: [1]}
    check_oracle(model, X, plan, cg)
    pruned = graph.prune(model, X, plan, channel_graph=cg)
    assert pruned.v.out_channels == pruned.mid[0].in_channels == 4 and pruned(X).shape == (2, 5)
