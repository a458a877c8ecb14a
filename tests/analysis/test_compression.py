"""analyze_network_for_compression: totals add up, the maximum reduction is what surgery
gives, frozen channels carry the engine's reason, and real networks analyse."""

import pytest
import torch
from torch import nn

from taylorprune import graph
from taylorprune.analysis import CompressionReport, analyze_network_for_compression
from taylorprune.models import load_model

from ..fixtures import shared_file
from ..graph.nets import make

X32 = torch.zeros(1, 3, 32, 32)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def cifarnet() -> tuple[nn.Module, CompressionReport]:
    model = load_model("cifarnet")
    return model, analyze_network_for_compression(model, X32)


def test_layers_add_up_to_the_network(cifarnet):
    model, report = cifarnet
    assert report.learnables == _count(model) == sum(layer.learnables for layer in report.layers)
    assert report.memory_bytes == 4 * report.learnables
    assert report.int8_memory_bytes == report.learnables
    assert report.input_shape == (3, 32, 32)
    assert [layer.name for layer in report.layers][:2] == ["conv1", "bn1"]  # normalize owns none
    conv = next(layer for layer in report.layers if layer.name == "layer3.0.conv2")
    assert (conv.type, conv.learnables, conv.filters, conv.prunable_filters) == (
        "Conv2d",
        64 * 64 * 9,
        64,
        64,
    )
    assert conv.frozen_reason is None


def test_network_is_left_as_it_was():
    model = load_model("resnet20").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze_network_for_compression(model, X32)
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert before.keys() == after.keys() and all(before[k].equal(after[k]) for k in before)


def test_output_layer_is_frozen_with_the_engine_reason(cifarnet):
    _, report = cifarnet
    (linear,) = report.frozen_layers
    assert (linear.name, linear.filters, linear.prunable_filters) == ("linear", 10, 0)
    assert linear.frozen_reason == "network output"
    assert 0 < linear.max_reduction < 1  # its input columns still go


def _prune_to_one_channel(model: nn.Module, x: torch.Tensor) -> nn.Module:
    cg = graph.trace_channels(model, (x,))
    plan = {g.id: range(1, g.size) for g in cg.prunable if g.size > 1}
    return graph.prune(model, (x,), plan, channel_graph=cg)


def test_max_reduction_is_what_pruning_gives(cifarnet):
    model, report = cifarnet
    smallest = _prune_to_one_channel(model, X32)
    assert (
        _count(smallest)
        == report.min_learnables
        == sum(layer.min_learnables for layer in report.layers)
    )
    assert report.max_reduction == pytest.approx(1 - _count(smallest) / _count(model))
    assert report.min_memory_bytes == 4 * _count(smallest)
    for layer in report.layers:
        kept = sum(p.numel() for p in smallest.get_submodule(layer.name).parameters(recurse=False))
        assert layer.min_learnables == kept, layer.name


def test_akamaster_resnet20_residual_channels_are_prunable():
    model = load_model("resnet20", weights=shared_file("models/akamaster-resnet20.th"))
    report = analyze_network_for_compression(model, X32)
    for stage, width in (("layer2", 32), ("layer3", 64)):
        # the stream carried from the stage before plus the zero-pad channels: all prunable
        stream = [
            g for g in report.groups if any(m.tensor == f"{stage}.0.bn2.weight" for m in g.members)
        ]
        assert len(stream) >= 2 and all(g.prunable for g in stream)
        assert sum(g.size for g in stream) == width
        bn = next(layer for layer in report.layers if layer.name == f"{stage}.2.bn2")
        assert bn.prunable_filters == bn.filters == width and bn.frozen_reason is None
    assert [layer.name for layer in report.frozen_layers] == ["linear"]
    assert report.min_learnables == _count(_prune_to_one_channel(model, X32))


class MixingReshape(nn.Module):
    """Splits the stem's 4 channels into 2 x 2 and folds the inner pair into the rows."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.mid = nn.Conv2d(2, 6, 1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):  # x: (N, 3, 8, 8)
        x = self.stem(x).view(x.size(0), 2, 2, 8, 8).view(x.size(0), 2, 16, 8)
        return self.fc(self.mid(x).mean((2, 3)))


def test_channel_mixing_reshape_freezes_its_group_with_the_reason():
    report = analyze_network_for_compression(MixingReshape(), torch.zeros(1, 3, 8, 8))
    stem = report.layers[0]
    assert (stem.name, stem.filters, stem.prunable_filters) == ("stem", 4, 0)
    assert "reshape mixes the channel axis" in stem.frozen_reason
    (group,) = [g for g in report.groups if any(m.tensor == "stem.bias" for m in g.members)]
    assert not group.prunable and group.reason == stem.frozen_reason
    mid = report.layers[1]
    assert mid.frozen_reason is None and mid.prunable_filters == 6


def test_untraceable_submodule_is_reported_not_pruned():
    report = analyze_network_for_compression(make("opaque").float(), torch.zeros(1, 3, 8, 8))
    inner = next(layer for layer in report.layers if layer.name == "inner.conv")
    assert inner.prunable_filters == 0 and inner.max_reduction == 0
    assert "torch.fx cannot trace" in inner.frozen_reason
    assert report.uncounted_macs == ("inner (DataDependent)",)


def test_network_without_learnables():
    report = analyze_network_for_compression(nn.Sequential(nn.ReLU()), torch.zeros(1, 3, 4, 4))
    assert (report.learnables, report.max_reduction, report.layers) == (0, 0.0, ())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "densenet121"])
def test_torchvision_networks(name):
    model = load_model(f"torchvision:{name}", num_classes=10)
    report = analyze_network_for_compression(model, torch.zeros(1, 3, 64, 64))
    assert sum(layer.learnables for layer in report.layers) == report.learnables == _count(model)
    assert sum(layer.min_learnables for layer in report.layers) == report.min_learnables
    assert 0.5 < report.max_reduction < 1 and report.macs > 0 and not report.uncounted_macs
