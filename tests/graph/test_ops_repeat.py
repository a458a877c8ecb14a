"""Copies along a dim: along the batch the channels pass, along channels every copy of a
channel goes with it (pruned == masked either way)."""

import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import Head, cbr, check_oracle, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class GlobalQuery(nn.Module):
    """GCViT's global attention in short: a query made once per image is repeated over the
    image's windows, which lie along the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 6)
        self.q, self.k, self.v = nn.Linear(6, 4), nn.Linear(6, 4), nn.Linear(6, 5)
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        x = self.stem(x)
        b = x.shape[0]
        q = self.q(F.adaptive_avg_pool2d(x, 4).flatten(2).transpose(1, 2))  # (B, 16, 4)
        q = q.repeat_interleave(4, dim=0)  # (B*4, 16, 4): one copy per window
        windows = x.flatten(2).transpose(1, 2).reshape(b * 4, 16, 6)
        attn = (q @ self.k(windows).transpose(-2, -1)).softmax(-1)
        return self.fc((attn @ self.v(windows)).reshape(b, 64, 5).mean(1))


class ChannelCopies(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.mix, self.tiled = cbr(3, 3), cbr(6, 5), cbr(6, 5)
        self.head = Head(5)

    def forward(self, x):
        x = self.stem(x)
        return self.head(self.mix(x.repeat_interleave(2, dim=1)) + self.tiled(x.repeat(1, 2, 1, 1)))


def _groups(cg, tensor):
    return [g for g in cg.groups if any(m.tensor == tensor and m.dim == 0 for m in g.members)]


def test_repeat_over_the_batch_passes_channels():
    torch.manual_seed(0)
    model = randomize_norms(GlobalQuery().double().eval())
    cg = graph.trace_channels(model, X)
    (q,) = _groups(cg, "q.weight")
    assert q is _groups(cg, "k.weight")[0] and q.prunable and q.exact
    assert all(g.prunable for g in cg.groups if "network" not in (g.reason or ""))
    check_oracle(model, X, {q.id: [0, 3]}, cg)


def test_copies_along_channels_go_with_their_channel():
    torch.manual_seed(0)
    model = randomize_norms(ChannelCopies().double().eval())
    cg = graph.trace_channels(model, X)
    (stem,) = _groups(cg, "stem.0.weight")
    assert stem.prunable and stem.exact and stem.size == 3
    check_oracle(model, X, {stem.id: [1]}, cg)
    pruned = graph.prune(model, X, {stem.id: [1]}, channel_graph=cg)
    assert pruned.mix[0].in_channels == pruned.tiled[0].in_channels == 4
