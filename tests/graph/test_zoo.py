"""The correctness oracle on real architectures: for random plans, pruned(x) == masked(x)
in float64 eval mode with non-trivial BN statistics, and the parameter count adds up."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorprune import graph
from taylorprune.models import load_model

from ..fixtures import shared_file
from .nets import check_oracle, count, random_plan, randomize_norms

CIFAR = ["resnet20", "resnet20_projection", "resnet56", "resnet56_projection"]
# name: (input size, examples); the slowest are marked but still run by default.
TORCHVISION = {
    "resnet18": (32, 3),
    "mobilenet_v2": (32, 3),
    "mobilenet_v3_small": (32, 3),
    "shufflenet_v2_x0_5": (32, 3),
    "squeezenet1_1": (64, 3),
    "googlenet": (32, 2),
    "efficientnet_b0": (32, 2),
    "regnet_y_400mf": (32, 2),
    "resnet50": (32, 2),
    "densenet121": (32, 2),
    "vgg11_bn": (32, 1),
}
SLOW = {"resnet50", "densenet121", "vgg11_bn", "efficientnet_b0", "regnet_y_400mf", "googlenet"}
_CACHE: dict[str, tuple] = {}


def _build(spec: str, size: int, weights=None):
    if spec not in _CACHE:
        kw = {"num_classes": 10} if spec.startswith("torchvision:") else {}
        if spec == "torchvision:googlenet":
            kw.update(aux_logits=False, init_weights=True)
        model = load_model(spec, weights=weights, **kw).double().eval()
        if weights is None:
            randomize_norms(model)
        x = torch.rand(2, 3, size, size, dtype=torch.float64)
        _CACHE[spec] = (model, x, graph.trace_channels(model, x))
    return _CACHE[spec]


def _oracle(spec: str, size: int, seed: int, weights=None) -> None:
    model, x, cg = _build(spec, size, weights)
    assert cg.prunable and all(g.exact for g in cg.prunable)
    check_oracle(model, x, random_plan(cg, random.Random(seed)), cg)


@pytest.mark.parametrize("name", CIFAR)
@settings(max_examples=4, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_cifar_resnets(name, seed):
    _oracle(name, 32, seed)


@pytest.mark.shared
@pytest.mark.parametrize("depth", [20, 56])
@settings(max_examples=2, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_akamaster_checkpoints(depth, seed):
    weights = shared_file(f"models/akamaster-resnet{depth}.th")
    _oracle(f"resnet{depth}", 32, seed, weights)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in TORCHVISION],
)
def test_torchvision(name):
    size, examples = TORCHVISION[name]

    @settings(max_examples=examples, deadline=None, database=None)
    @given(seed=st.integers(0, 2**32 - 1))
    def check(seed):
        _oracle(f"torchvision:{name}", size, seed)

    check()
    _CACHE.pop(f"torchvision:{name}")  # free the (float64) model


@pytest.mark.slow
def test_convnext_runs_and_keeps_shapes():
    """LayerNorm over channels makes the residual streams not output-exact: check shapes,
    the parameter count, and the oracle on the exact groups only."""
    model, x, cg = _build("torchvision:convnext_tiny", 32)
    inexact = [g for g in cg.prunable if not g.exact]
    assert inexact and all("layer norm" in g.exact_reason for g in inexact)
    plan = random_plan(cg, random.Random(0), fraction=0.3)
    pruned = graph.prune(model, x, plan, channel_graph=cg)
    assert pruned(x).shape == (2, 10)
    assert count(pruned) == count(model) - cg.params_removed(plan)
    check_oracle(model, x, {k: v for k, v in plan.items() if cg.group(k).exact}, cg)
    _CACHE.pop("torchvision:convnext_tiny")
