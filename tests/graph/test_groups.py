import random

import pytest
import torch

from taylorprune import graph
from taylorprune.errors import InputError
from taylorprune.models import load_model

from .nets import make, random_plan

X = torch.rand(1, 3, 32, 32)


@pytest.fixture(scope="module")
def resnet20():
    model = load_model("resnet20").eval()
    return model, graph.trace_channels(model, X)


def test_zero_pad_residual_streams_are_prunable(resnet20):
    _, cg = resnet20
    assert len(cg.groups) == 14 and len(cg.prunable) == 12
    stream1 = next(
        g for g in cg.groups if any(m.tensor == "conv1.weight" and m.dim == 0 for m in g.members)
    )
    assert stream1.size == 16
    # Stage 1's residual channels live on in stages 2 and 3 behind the zero pads.
    assert any(m.tensor == "layer3.2.conv2.weight" and m.dim == 0 for m in stream1.members)
    pads = [
        g
        for g in cg.prunable
        if g is not stream1 and any(m.tensor == "layer2.0.bn2.weight" for m in g.members)
    ]
    assert [g.size for g in pads] == [16]  # the 8 + 8 channels stage 2 adds to the stream


def test_output_points_follow_producers(resnet20):
    _, cg = resnet20
    g = next(g for g in cg.prunable if any(p.module == "layer1.0.conv1" for p in g.outputs))
    assert [(p.module, p.kind, p.dim) for p in g.outputs] == [
        ("layer1.0.conv1", "conv", 1),
        ("layer1.0.bn1", "norm", 1),
    ]
    assert g.outputs[1].indices == tuple((k,) for k in range(16))


def test_params_per_channel_adds_up(resnet20):
    model, cg = resnet20
    g = next(g for g in cg.prunable if any(p.module == "layer1.0.conv1" for p in g.outputs))
    # conv1 row (16*9) + BN weight and bias (2) + conv2 column (16*9)
    assert g.params_per_channel == (16 * 9 * 2 + 2,) * 16
    assert cg.params_removed({g.id: [0, 5]}) == 2 * (16 * 9 * 2 + 2)


def test_max_prunable_fraction_is_high(resnet20):
    model, cg = resnet20
    total = sum(p.numel() for p in model.parameters())
    assert cg.max_prunable_params() / total > 0.99


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({99: [0]}, "groups are 0"),
        ({0: [0]}, "frozen group 0"),
        ({1: list(range(16))}, "all 16 channels"),
        ({1: [16]}, "index 16"),
    ],
)
def test_bad_plans_are_refused(resnet20, plan, message):
    model, cg = resnet20
    with pytest.raises(InputError, match=message):
        graph.prune(model, X, plan, channel_graph=cg)


def test_random_plans_never_empty_a_group():
    model = make("concat")
    cg = graph.trace_channels(model, torch.rand(1, 3, 8, 8, dtype=torch.float64))
    plan = random_plan(cg, random.Random(0), fraction=1.0)
    assert all(len(v) == cg.group(k).size - 1 for k, v in plan.items())
    graph.prune(model, torch.rand(1, 3, 8, 8, dtype=torch.float64), plan, channel_graph=cg)
