"""Fast paths give exactly what tracing the same layers op by op gives."""

import pytest
import torch

from taylorprune import graph
from taylorprune.graph import registry

from .nets import randomize_norms

timm = pytest.importorskip("timm")


def _summary(cg: graph.ChannelGraph) -> list:
    return sorted(
        (g.size, g.prunable, g.exact, sorted((m.tensor, m.dim, m.role, m.indices) for m in g.members),
         sorted((p.module, p.kind, p.dim, p.indices) for p in g.outputs))
        for g in cg.groups
    )


def test_norm_act_fast_path_matches_the_functional_trace(monkeypatch):
    torch.manual_seed(0)
    model = randomize_norms(timm.create_model("mobilenetv3_small_050", num_classes=10).eval())
    x = torch.rand(1, 3, 64, 64)
    fast = graph.trace_channels(model, x)
    assert any(type(model.get_submodule(p.module)).__name__ == "BatchNormAct2d"
               for g in fast.groups for p in g.outputs)
    names = [n for n in registry.FAST_PATHS if "norm_act" in n]
    monkeypatch.setattr(registry, "FAST_PATHS",
                        {k: v for k, v in registry.FAST_PATHS.items() if k not in names})
    slow = graph.trace_channels(model, x)
    assert len(list(slow.gm.graph.nodes)) > len(list(fast.gm.graph.nodes))  # traced through
    assert _summary(slow) == _summary(fast)


def test_same_padding_conv_is_a_leaf_conv():
    torch.manual_seed(0)
    model = timm.create_model("tf_mobilenetv3_small_minimal_100", num_classes=10).eval()
    cg = graph.trace_channels(model, torch.rand(1, 3, 64, 64))
    assert not cg.opaque  # Conv2dSame's padding arithmetic is not traced
    stem = next(g for g in cg.groups if any(m.tensor == "conv_stem.weight" and m.dim == 0
                                            for m in g.members))
    assert stem.prunable and stem.exact
