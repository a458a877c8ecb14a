import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from taylorprune import graph
from taylorprune.graph.context import read_at
from taylorprune.graph.regraph import replace_at
from taylorprune.models import load_model

from .nets import check_oracle, make


def test_replace_at_rebuilds_nested_literals():
    args = ("x", (slice(None), slice(2, 8)), [3, 5])
    assert replace_at(args, (1, 1, "stop"), 6) == ("x", (slice(None), slice(2, 6)), [3, 5])
    assert replace_at(args, (2, 0), 1)[2] == [1, 5]
    assert read_at(args, (1, 1, "start")) == 2


def _pads(module: fx.GraphModule) -> list[tuple]:
    return [n.args[1] for n in module.graph.nodes if n.target is F.pad]


def test_zero_pad_widths_are_rewritten():
    model = load_model("resnet20").eval()
    x = torch.rand(1, 3, 32, 32)
    cg = graph.trace_channels(model, x)
    (g,) = [
        g
        for g in cg.prunable
        if any(m.tensor == "layer2.0.bn2.weight" for m in g.members)
        and not any(m.tensor == "conv1.weight" for m in g.members)
    ]
    rows = next(m for m in g.members if m.tensor == "layer2.0.bn2.weight").indices
    left = [k for k, (pos,) in enumerate(rows) if pos < 8]
    pruned = graph.prune(model, x, {g.id: left[:3]}, channel_graph=cg)
    shortcut = pruned.get_submodule("layer2.0.shortcut")
    assert isinstance(shortcut, fx.GraphModule) and _pads(shortcut) == [(0, 0, 0, 0, 5, 8)]
    assert pruned.layer2[0].bn2.num_features == 29
    assert type(pruned.layer2[0]).__name__ == "BasicBlock"  # only the shortcut is re-graphed
    assert pruned(x).shape == (1, 10)


def test_slice_and_split_literals_are_rewritten():
    model = make("slicing")
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    cg = graph.trace_channels(model, x)
    stem = next(g for g in cg.prunable if any(p.module == "stem.0" for p in g.outputs))
    pruned = graph.prune(model, x, {stem.id: [0]}, channel_graph=cg)
    assert isinstance(pruned, fx.GraphModule)  # the literals live in the root's forward
    slices = [n.args[1] for n in pruned.graph.nodes if n.target is operator.getitem]
    assert (slice(None, None, None), slice(None, 3, None)) in slices
    assert pruned.stem[0].out_channels == 9


class _Unpacks(nn.Module):
    """pvt_v2's attention: the spatial size comes as an argument its caller built from a
    shape, and a channel count is a literal of the forward."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels, self.conv = channels, nn.Conv2d(channels, channels, 1)

    def forward(self, tokens: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size  # a proxy when traced on its own, two getitems more than in the network
        x = tokens.transpose(1, 2).reshape(tokens.shape[0], self.channels, h, w)
        return self.conv(x).flatten(2).transpose(1, 2)


class _Stage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.attn = nn.Conv2d(3, 8, 3, padding=1), _Unpacks(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.attn(x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3]))


def test_literal_in_a_module_that_traces_differently_alone_is_rewritten_in_its_parent():
    model = nn.Sequential(_Stage(), nn.Flatten(1), nn.Linear(8 * 16, 4)).double().eval()
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    cg = graph.trace_channels(model, x)
    stem = next(g for g in cg.prunable if any(m.tensor == "0.stem.weight" for m in g.members))
    check_oracle(model, x, {stem.id: [1, 5]}, cg)
    pruned = graph.prune(model, x, {stem.id: [1, 5]}, channel_graph=cg)
    assert isinstance(pruned[0], fx.GraphModule) and type(pruned).__name__ == "Sequential"
    assert pruned[0].stem.out_channels == 6 and pruned(x).shape == (2, 4)


class _Heads(nn.Module):
    """Twins' attention: the head dim of q and the width of the merged heads are read from
    the stream's shape (``C // heads``, ``C``), not from q's or v's own channels."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.q, self.k, self.v = nn.Conv2d(3, 8, 3, padding=1), *(nn.Linear(8, 8) for _ in range(3))
        self.proj, self.head = nn.Linear(8, 8), nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).flatten(2).transpose(1, 2)
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, 2, c // 2).transpose(1, 2)
        k, v = (f(x).reshape(b, n, 2, -1).transpose(1, 2) for f in (self.k, self.v))
        y = ((q @ k.transpose(-2, -1)).softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.head((x + self.proj(y)).mean(1))


def test_a_view_sized_by_another_tensors_channel_count_is_rewritten():
    torch.manual_seed(0)
    model = _Heads().double().eval()
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    cg = graph.trace_channels(model, x)
    stream, qk, v = (next(g for g in cg.groups if any(m.tensor == t and m.dim == 0 for m in g.members))
                     for t in ("stem.weight", "q.weight", "v.weight"))
    assert len({stream.id, qk.id, v.id}) == 3 and all(g.prunable for g in (stream, qk, v))
    plan = {stream.id: [0, 5], qk.id: [1], v.id: [2, 3]}
    check_oracle(model, x, plan, cg)
    pruned = graph.prune(model, x, plan, channel_graph=cg)
    assert pruned.stem.out_channels == 6 and pruned.q.out_features == 6 and pruned.v.out_features == 4
    for keep in ({stream.id: [0]}, {v.id: [1]}, {qk.id: [0]}):  # each alone
        check_oracle(model, x, keep, cg)
