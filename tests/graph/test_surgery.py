import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorprune import graph

from .nets import ALL_NETS, EXACT_NETS, check_oracle, count, make, random_plan

X = torch.rand(3, 3, 8, 8, dtype=torch.float64)
GRAPHS = {name: (make(name), None) for name in ALL_NETS}


def _traced(name):
    model, cg = GRAPHS[name]
    if cg is None:
        cg = graph.trace_channels(model, X)
        GRAPHS[name] = (model, cg)
    return model, cg


@pytest.mark.parametrize("name", sorted(EXACT_NETS))
@settings(max_examples=15, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_pruned_equals_masked(name, seed):
    model, cg = _traced(name)
    check_oracle(model, X, random_plan(cg, random.Random(seed)), cg)


@settings(max_examples=10, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_not_exact_groups_still_give_a_runnable_net(seed):
    model, cg = _traced("norms_and_shuffle")
    plan = random_plan(cg, random.Random(seed))
    pruned = graph.prune(model, X, plan, channel_graph=cg)
    assert pruned(X).shape == (3, 5)
    assert count(pruned) == count(model) - cg.params_removed(plan)
    exact = {k: v for k, v in plan.items() if cg.group(k).exact}
    check_oracle(model, X, exact, cg)


def test_prune_keeps_names_and_updates_attributes():
    model, cg = _traced("grouped")
    g = next(g for g in cg.prunable if g.size == 4)
    pruned = graph.prune(model, X, {g.id: [1, 3]}, channel_graph=cg)
    conv = pruned.grouped[0]
    assert (conv.in_channels, conv.out_channels, conv.groups) == (4, 6, 2)
    assert tuple(conv.weight.shape) == (6, 2, 3, 3)
    assert pruned.grouped[1].num_features == 6 and pruned.out[0].in_channels == 6
    assert set(pruned.state_dict()) == set(model.state_dict())


def test_transposed_convs_are_pruned_on_their_own_axes():
    model, cg = _traced("upsample")
    up = next(g for g in cg.prunable if any(m.tensor == "up.1.weight" for m in g.members))
    grouped = next(g for g in cg.prunable if any(m.tensor == "head.fc.weight" for m in g.members))
    assert grouped.size == 3  # whole groups of the grouped transposed conv
    pruned = graph.prune(model, X, {up.id: [0, 4], grouped.id: [1]}, channel_graph=cg)
    assert tuple(pruned.up[0].weight.shape) == (8, 4, 2, 2) and pruned.up[0].out_channels == 4
    conv = pruned.grouped
    assert (conv.in_channels, conv.out_channels, conv.groups) == (4, 6, 2)
    assert tuple(conv.weight.shape) == (4, 3, 3, 3) and pruned.head.fc.in_features == 6


def test_prune_and_mask_never_touch_the_input_model():
    model, cg = _traced("residual")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plan = random_plan(cg, random.Random(0), fraction=0.5)
    graph.prune(model, X, plan, channel_graph=cg)
    graph.mask(model, X, plan, channel_graph=cg)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_masked_channel_output_is_exactly_zero():
    """BN bias and running mean must not leak a constant out of a masked channel."""
    model, cg = _traced("residual")
    g = next(g for g in cg.prunable if any(p.module == "a.0.1" for p in g.outputs))
    masked = graph.mask(model, X, {g.id: [0]}, channel_graph=cg)
    seen = {}
    masked.a[0][1].register_forward_hook(lambda m, i, o: seen.setdefault("bn", o))
    masked(X)
    (pos,) = next(p for p in g.outputs if p.module == "a.0.1").indices[0]
    assert torch.count_nonzero(seen["bn"][:, pos]) == 0


def test_empty_plan_is_a_copy():
    model, cg = _traced("concat")
    pruned = graph.prune(model, X, {}, channel_graph=cg)
    assert pruned is not model
    torch.testing.assert_close(pruned(X), model(X))


def test_pruned_net_trains():
    model, cg = _traced("slicing")
    pruned = graph.prune(
        model, X, random_plan(cg, random.Random(3), fraction=0.4), channel_graph=cg
    )
    pruned.train()
    pruned(X).sum().backward()
    assert all(p.grad is not None for p in pruned.parameters())
