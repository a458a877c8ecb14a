import operator

import torch
import torch.nn.functional as F
from torch import fx

from taylorprune import graph
from taylorprune.graph.context import read_at
from taylorprune.graph.regraph import replace_at
from taylorprune.models import load_model

from .nets import make


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
