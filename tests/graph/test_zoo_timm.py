"""The oracle on timm families (untrained, small inputs): prunable and exact shares, and
pruned == masked in float64 on the output-exact groups.

One representative per kind of layer timm builds with: BatchNormAct2d + squeeze-excite
(MobileNetV3), TF "SAME" convs (tf_ variants), ScaledStdConv2d (NF-RegNet), LayerNorm2d
(ConvNeXt), concatenation trees (DLA, DenseNet), grouped convs (RegNet), pre-activation
ResNet-V2. The sweep over every timm CNN is benchmarks/timm_coverage.py.
"""

import random

import pytest
import torch

from taylorprune import graph

from .nets import check_oracle, count, random_plan, randomize_norms

timm = pytest.importorskip("timm")

# name: (input size, least share of conv/linear output channels in prunable+exact groups).
# Every family has at least 95% of them prunable.
FAMILIES = {
    "mobilenetv3_small_050": (64, 0.95),
    "tf_mobilenetv3_small_minimal_100": (64, 0.95),
    "regnetx_002": (64, 0.95),
    "dla46_c": (64, 0.95),
    "resnetv2_18": (64, 0.95),
    "convnext_atto": (64, 0.5),  # the residual streams sit behind LayerNorm over channels
    "nf_regnet_b0": (64, 0.1),  # channels feeding a standardised conv are not exact
    "densenet121": (64, 0.95),
}
SLOW = {"densenet121", "nf_regnet_b0", "convnext_atto"}


def shares(cg: graph.ChannelGraph, model: torch.nn.Module) -> tuple[float, float]:
    """Output channels of conv/linear layers in prunable groups, and in prunable exact ones."""
    out = {f"{n}.weight": m.weight.shape[0] for n, m in model.named_modules()
           if isinstance(m, torch.nn.modules.conv._ConvNd | torch.nn.Linear)}
    counts = [sum(len(ix) for g in cg.prunable if g.exact or not exact for m in g.members
                  if m.tensor in out and m.dim == 0 for ix in m.indices) for exact in (False, True)]
    return counts[0] / sum(out.values()), counts[1] / sum(out.values())


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in FAMILIES]
)
def test_timm_family(name):
    size, share = FAMILIES[name]
    torch.manual_seed(0)
    model = randomize_norms(timm.create_model(name, num_classes=10).double().eval())
    x = torch.rand(2, 3, size, size, dtype=torch.float64)
    cg = graph.trace_channels(model, x)
    prunable, exact = shares(cg, model)
    assert prunable >= 0.95 and exact >= share
    assert not [g.reason for g in cg.groups if not g.prunable and "network" not in g.reason]
    plan = random_plan(cg, random.Random(0), fraction=0.3)
    check_oracle(model, x, {k: v for k, v in plan.items() if cg.group(k).exact}, cg)
    pruned = graph.prune(model, x, plan, channel_graph=cg)
    assert pruned(x).shape == (2, 10)
    assert count(pruned) == count(model) - cg.params_removed(plan)


def test_volo_runs_after_pruning():
    """VOLO's outlook attention unfolds its values into windows, views them with sizes read
    from the residual stream's channels and folds them back: all followed, so only the
    window weights (softmax over a window's positions) stay."""
    torch.manual_seed(0)
    model = timm.create_model("volo_d1_224", num_classes=10, img_size=96).eval()
    x = torch.rand(1, 3, 96, 96)
    cg = graph.trace_channels(model, x)
    frozen = {g.reason.split(": ", 1)[-1] for g in cg.groups if not g.prunable}
    assert frozen == {"network input", "network output", "contracted with a tensor not followed"}
    plan = random_plan(cg, random.Random(0), fraction=0.3)
    with torch.no_grad():
        assert graph.prune(model, x, plan, channel_graph=cg)(x).shape == (1, 10)
