"""MACs from the traced graph: hand counts, functional ops, batch size, uncounted modules."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph
from taylorprune.analysis import count_macs
from taylorprune.models import load_model

from ..graph.nets import make


def _macs(model: nn.Module, x: torch.Tensor):
    return count_macs(graph.trace_channels(model, (x,)).gm)


def resnet20_hand_count() -> dict[str, int]:
    """ResNet-20 with projection shortcuts on 32x32, by stage (He et al. 2016, section 4.2)."""
    s1, s2, s3 = 32 * 32, 16 * 16, 8 * 8  # output positions per stage
    conv = (
        3 * 16 * 9 * s1  # stem
        + 6 * 16 * 16 * 9 * s1  # layer1: 3 blocks x 2 convs
        + (16 * 32 * 9 + 5 * 32 * 32 * 9 + 16 * 32) * s2  # layer2, 1x1 projection
        + (32 * 64 * 9 + 5 * 64 * 64 * 9 + 32 * 64) * s3  # layer3, 1x1 projection
    )
    return {
        "conv": conv,
        "linear": 64 * 10,
        "bn": 7 * (16 * s1 + 32 * s2 + 64 * s3),  # stem + 6 per stage (+1 projection BN)
        "add": 3 * (16 * s1 + 32 * s2 + 64 * s3),  # one residual add per block
        "normalize": 2 * 3 * s1,  # (x - mean) / std
    }


def test_resnet20_projection_matches_the_hand_count():
    hand = resnet20_hand_count()
    macs = _macs(load_model("cifarnet"), torch.zeros(1, 3, 32, 32))
    assert abs(macs.total - sum(hand.values())) <= 0.01 * sum(hand.values())
    assert 40e6 < macs.total < 42e6  # "about 41 M"
    assert macs.of("conv1") == 3 * 16 * 9 * 32 * 32
    assert macs.of("layer2.0.shortcut.0") == 16 * 32 * 16 * 16
    assert macs.of("layer3.2.bn2") == 64 * 8 * 8
    assert macs.of("linear") == hand["linear"]
    assert macs.uncounted == ()


def test_macs_are_per_example():
    model = load_model("resnet20")
    one = _macs(model, torch.zeros(1, 3, 32, 32))
    three = _macs(model, torch.zeros(3, 3, 32, 32))
    assert one.by_module == three.by_module


class Functional(nn.Module):
    """Functional conv, linear and matmul on parameters the module owns."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 3, 3, 3))
        self.fc = nn.Parameter(torch.randn(5, 6))
        self.proj = nn.Parameter(torch.randn(5, 4))

    def forward(self, x):
        y = F.conv2d(x, self.w, padding=1)  # (N, 6, 8, 8)
        z = F.linear(y.mean((2, 3)), self.fc)  # (N, 5)
        return z.unsqueeze(-1) @ self.proj[:1]  # (N, 5, 4)


def test_functional_ops_count_on_their_owner():
    macs = _macs(Functional(), torch.zeros(2, 3, 8, 8))
    assert macs.by_module[""] == 6 * 64 * 27 + 5 * 6 + 5 * 4 * 1


def test_groups_and_transposed_convs():
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.ConvTranspose2d(8, 2, 2, stride=2)
    )
    macs = _macs(model, torch.zeros(1, 4, 5, 5))
    assert macs.of("0") == 8 * 25 * (2 * 9)  # each output: in/groups x kernel
    assert macs.of("1") == 8 * 25 * (2 * 4)  # each input spreads to out x kernel


def test_untraceable_module_is_listed_not_guessed():
    macs = _macs(make("opaque").float(), torch.zeros(1, 3, 8, 8))
    assert macs.uncounted == ("inner (DataDependent)",)
    assert "inner" not in macs.by_module and macs.of("tail.0") == 6 * 4 * 9 * 64


class StandardisedConv(nn.Conv2d):
    """A conv subclass with its own (traceable) forward: weight standardisation, then conv."""

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                         training=True, momentum=0.0, eps=1e-5).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


class SkippingConv(nn.Conv2d):
    """A conv subclass whose forward fx cannot trace (it may skip the conv)."""

    def forward(self, x):
        return super().forward(x) if x.sum() > 0 else x[:, : self.out_channels]


class KeptForwardConv(nn.Conv2d):
    """A subclass that keeps Conv2d's forward: it is a Conv2d."""

    tag = "mine"


def _stack(conv: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 1), conv, nn.ReLU(), nn.Conv2d(4, 2, 1))


def test_conv_subclass_with_own_forward_counts_what_runs():
    """Traced through: the functional conv and the standardisation are what runs."""
    macs = _macs(_stack(StandardisedConv(4, 4, 3, padding=1)), torch.zeros(1, 3, 8, 8))
    assert macs.of("1") == 4 * 64 * 4 * 9 + 4 * 4 * 9  # conv + one op per weight element
    cg = graph.trace_channels(_stack(StandardisedConv(4, 4, 3, padding=1)), torch.zeros(1, 3, 8, 8))
    assert any(m.tensor == "1.weight" and m.dim == 0 for g in cg.prunable for m in g.members)


def test_untraceable_conv_subclass_is_uncounted_and_frozen():
    """Kept whole by the channel engine, so not taken for a Conv2d by the MAC counter."""
    model, x = _stack(SkippingConv(4, 4, 3, padding=1)), torch.zeros(1, 3, 8, 8)
    macs = _macs(model, x)
    assert macs.uncounted == ("1 (SkippingConv)",) and "1" not in macs.by_module
    cg = graph.trace_channels(model, x)
    assert not any(m.tensor.startswith("1.") for g in cg.prunable for m in g.members)
    assert any("untraceable" in (g.reason or "") for g in cg.groups)


def test_conv_subclass_keeping_the_forward_is_a_conv_for_both():
    model, x = _stack(KeptForwardConv(4, 4, 3, padding=1)), torch.zeros(1, 3, 8, 8)
    assert _macs(model, x).of("1") == 4 * 64 * 4 * 9
    cg = graph.trace_channels(model, x)
    assert any(m.tensor == "1.weight" and m.role == "out" for g in cg.prunable for m in g.members)


def test_same_padding_conv_of_timm_counts_as_a_conv():
    timm_layers = pytest.importorskip("timm.layers")
    conv = timm_layers.Conv2dSame(4, 4, 3, stride=2)
    macs = _macs(_stack(conv), torch.zeros(1, 3, 8, 8))
    assert macs.of("1") == 4 * 16 * 4 * 9 and macs.uncounted == ()
