import pytest
import torch
from torch import nn

from taylorprune import graph
from taylorprune.errors import InputError

from .nets import ALL_NETS, DataDependent, make

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(ALL_NETS))
def test_inputs_and_outputs_are_frozen(name):
    cg = graph.trace_channels(make(name), X)
    reasons = {g.reason for g in cg.groups}
    assert {"network input", "network output"} <= reasons
    assert cg.prunable, "every tiny net has something to prune"


def test_unknown_op_freezes_what_it_touches():
    cg = graph.trace_channels(make("unknown"), X)
    frozen = [g for g in cg.groups if g.reason and "roll" in g.reason]
    tensors = {m.tensor for g in frozen for m in g.members}
    assert "mid.0.weight" in tensors and "tail.0.weight" in tensors
    prunable = {(m.tensor, m.dim) for g in cg.prunable for m in g.members}
    assert ("stem.0.weight", 0) in prunable and ("mid.0.weight", 1) in prunable
    assert ("mid.0.weight", 0) not in prunable and ("tail.0.weight", 1) not in prunable


def test_untraceable_submodule_becomes_frozen_leaf():
    cg = graph.trace_channels(make("opaque"), X)
    assert cg.opaque == frozenset({"inner"})
    frozen = [g for g in cg.groups if g.reason and "untraceable" in g.reason]
    assert frozen and all(g.reason.startswith("inner:") for g in frozen)


def test_untraceable_model_is_one_clear_error():
    with pytest.raises(InputError, match="DataDependent.forward"):
        graph.trace_channels(DataDependent(), torch.rand(1, 6, 4, 4))


def test_wrong_example_inputs_are_an_input_error():
    with pytest.raises(InputError, match="example inputs"):
        graph.trace_channels(make("residual"), torch.rand(1, 5, 8, 8, dtype=torch.float64))


def test_tracing_leaves_model_and_modes_alone():
    model = make("residual").train()
    model.stem.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    graph.trace_channels(model, X)
    assert model.training and not model.stem.training and model.a.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_grouped_conv_is_pruned_by_whole_groups():
    cg = graph.trace_channels(make("grouped"), X)
    (g,) = [
        g
        for g in cg.prunable
        if any(m.tensor == "grouped.0.weight" and m.role == "out" for m in g.members)
    ]
    assert g.size == 4  # one channel per conv group
    rows = next(m for m in g.members if m.tensor == "grouped.0.weight" and m.dim == 0)
    assert rows.indices == ((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11))


def test_layer_norm_over_channels_is_prunable_but_not_exact():
    cg = graph.trace_channels(make("norms_and_shuffle"), X)
    inexact = [g for g in cg.prunable if not g.exact]
    assert inexact and all("norm" in g.exact_reason for g in inexact)
    assert any(m.tensor == "layer_scale" for g in inexact for m in g.members)


def test_bare_layer_traces_with_nothing_prunable():
    cg = graph.trace_channels(nn.Linear(4, 2), torch.rand(3, 4))  # traced as F.linear
    assert cg.groups and not cg.prunable


def test_every_tensor_of_a_dict_output_is_a_frozen_network_output():
    from tests.custom_data import DictSegmenter

    cg = graph.trace_channels(DictSegmenter(), torch.rand(1, 3, 8, 8))
    frozen = {m.tensor for g in cg.groups if g.reason == "network output" for m in g.members}
    assert {"head.weight", "aux.weight"} <= frozen
    assert not {m.tensor for g in cg.prunable for m in g.members if m.role == "out"} & {"head.weight", "aux.weight"}
