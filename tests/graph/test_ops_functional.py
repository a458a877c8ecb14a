"""Functional layers with module-attribute weights: F.conv2d (plain, grouped, on a weight
standardised on the fly), F.batch_norm with running statistics, F.group_norm, F.layer_norm,
F.linear; pruned == masked on the exact groups, every parameter and buffer sliced."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import check_oracle, count, random_plan, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class BNAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d in miniature: F.batch_norm on the module's own tensors, then an
    activation the fast paths do not know."""

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, self.momentum, self.eps)
        return x * torch.sigmoid(1.5 * x)


class StdConv(nn.Conv2d):
    """ScaledStdConv2d in miniature: each output row standardised over its fan-in by
    F.batch_norm on a (1, O, I*k*k) view, scaled by a per-output gain."""

    def __init__(self, cin, cout, k, groups=1):
        super().__init__(cin, cout, k, padding=k // 2, groups=groups)
        self.gain = nn.Parameter(torch.rand(cout, 1, 1, 1) + 0.5)

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                         weight=(self.gain * 0.7).view(-1), training=True, momentum=0.0,
                         eps=1e-6).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class VarMeanConv(nn.Conv2d):
    """Weight standardisation written with var_mean and arithmetic (BiT's original form)."""

    def forward(self, x):
        var, mean = torch.var_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=False)
        w = (self.weight - mean) / torch.sqrt(var + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class GroupedConv(nn.Conv2d):
    """A conv subclass with its own forward passing ``self.groups`` to F.conv2d."""

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's channels-first LayerNorm: permute, F.layer_norm, permute back."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Functional(nn.Module):
    """Every functional layer in one net; all exact except the channels feeding ``std``."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(8, 3, 3, 3))  # F.conv2d on a bare parameter
        self.bn1 = BNAct(8)
        self.grouped = GroupedConv(8, 12, 3, padding=1, groups=4)
        self.bn2 = BNAct(12)
        self.w3 = nn.Parameter(torch.randn(10, 12, 1, 1))
        self.gn = nn.GroupNorm(5, 10)
        self.std = StdConv(10, 6, 3)
        self.fc_w, self.fc_b = nn.Parameter(torch.randn(5, 6)), nn.Parameter(torch.randn(5))

    def forward(self, x):
        x = self.bn1(F.conv2d(x, self.w1, None, 1, 1))
        x = self.bn2(self.grouped(x))
        x = F.conv2d(x, self.w3)
        x = F.relu(F.group_norm(x, self.gn.num_groups, self.gn.weight, self.gn.bias))
        x = self.std(x)
        return F.linear(x.mean((2, 3)), self.fc_w, self.fc_b)


def _net(cls, seed=0):
    torch.manual_seed(seed)
    return randomize_norms(cls().double().eval(), seed)


def _group_of(cg, tensor, dim=0):
    return next(g for g in cg.groups if any(m.tensor == tensor and m.dim == dim for m in g.members))


def test_functional_layers_are_prunable_with_all_their_tensors():
    model = _net(Functional)
    cg = graph.trace_channels(model, X)
    g1 = _group_of(cg, "w1")
    assert g1.prunable and g1.exact and g1.size == 4  # grouped conv: 4 whole groups
    tensors = {m.tensor for m in g1.members}
    assert {"bn1.running_mean", "bn1.running_var", "bn1.weight", "grouped.weight", "w3"} <= tensors
    assert _group_of(cg, "w3").size == 5  # five GroupNorm groups
    std_out = _group_of(cg, "std.weight")
    assert std_out.prunable and std_out.exact
    assert {"std.gain", "std.bias", "fc_w"} <= {m.tensor for m in std_out.members}
    assert {m.role for m in std_out.members if m.tensor == "std.weight"} == {"out"}


def test_standardised_weight_makes_its_input_channels_inexact():
    cg = graph.trace_channels(_net(Functional), X)
    fed = _group_of(cg, "w3")  # the GroupNorm's channels feed the standardised conv
    assert fed.prunable and not fed.exact
    assert "std.weight is normalised" in fed.exact_reason


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_equals_masked_and_buffers_are_sliced(seed):
    model = _net(Functional, seed)
    cg = graph.trace_channels(model, X)
    plan = random_plan(cg, random.Random(seed), fraction=0.5)
    check_oracle(model, X, {k: v for k, v in plan.items() if cg.group(k).exact}, cg)
    pruned = graph.prune(model, X, plan, channel_graph=cg)
    assert pruned(X).shape == (2, 5)
    assert count(pruned) == count(model) - cg.params_removed(plan)
    assert pruned.bn1.running_var.shape == pruned.bn1.weight.shape == (pruned.w1.shape[0],)
    assert pruned.std.gain.shape[0] == pruned.std.out_channels == pruned.std.weight.shape[0]
    assert pruned.grouped.groups == pruned.grouped.out_channels // 3
    assert pruned.gn.num_channels == pruned.gn.weight.shape[0] == pruned.w3.shape[0]
    assert type(pruned.grouped) is GroupedConv and type(pruned.std) is StdConv  # no regraph


class VarMeanNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = VarMeanConv(3, 8, 3, padding=1), VarMeanConv(8, 6, 1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        return self.fc(self.b(F.relu(self.a(x))).mean((2, 3)))


def test_var_mean_standardisation_is_followed():
    model = _net(VarMeanNet)
    cg = graph.trace_channels(model, X)
    hidden = _group_of(cg, "a.weight")
    assert hidden.prunable and not hidden.exact and "b.weight is normalised" in hidden.exact_reason
    exact = _group_of(cg, "b.weight")
    assert exact.prunable and exact.exact
    plan = random_plan(cg, random.Random(0), fraction=0.5)
    check_oracle(model, X, {exact.id: plan[exact.id]}, cg)
    assert graph.prune(model, X, plan, channel_graph=cg)(X).shape == (2, 5)


class LiteralGroups(nn.Module):
    """groups and a reshape count written as literals in the forward: rewritten."""

    def __init__(self) -> None:
        super().__init__()
        self.w1, self.w2 = nn.Parameter(torch.randn(8, 3, 1, 1)), nn.Parameter(torch.randn(8, 2, 3, 3))
        self.scale = nn.Parameter(torch.rand(8) + 0.5)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(F.conv2d(x, self.w1))
        x = F.conv2d(x, self.w2, padding=1, groups=4) * self.scale.view(1, 8, 1, 1)
        return self.fc(x.mean((2, 3)))


def test_literal_counts_are_rewritten():
    model = _net(LiteralGroups)
    cg = graph.trace_channels(model, X)
    g = _group_of(cg, "w2")
    assert g.prunable and g.exact and g.size == 4
    assert "scale" in {m.tensor for m in g.members}
    check_oracle(model, X, {g.id: [1, 3]}, cg)


class LayerNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 8, 3, padding=1), LayerNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.norm(self.conv(x)).mean((2, 3)))


def test_functional_layer_norm_over_channels_is_prunable_not_exact():
    model = _net(LayerNormNet)
    cg = graph.trace_channels(model, X)
    g = _group_of(cg, "conv.weight")
    assert g.prunable and not g.exact and "layer norm" in g.exact_reason
    assert {"norm.weight", "norm.bias"} <= {m.tensor for m in g.members}
    pruned = graph.prune(model, X, {g.id: [0, 5]}, channel_graph=cg)
    assert pruned.norm.normalized_shape == (6,) and pruned(X).shape == (2, 5)


class WeightFromInput(nn.Module):
    """A dynamic conv: the kernel is computed from the input."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.fc = nn.Conv2d(3, 4, 1), nn.Linear(4, 5)

    def forward(self, x):
        y = self.stem(x)
        kernel = y.mean((0, 2, 3)).reshape(4, 1, 1, 1)
        return self.fc(F.conv2d(y, kernel, groups=4).mean((2, 3)))


class FlippedWeight(nn.Module):
    """One parameter used by a followed conv and, flipped, by another: slicing it for the
    first would change the second, so both stay whole."""

    def __init__(self) -> None:
        super().__init__()
        self.w, self.fc = nn.Parameter(torch.randn(6, 3, 3, 3)), nn.Linear(6, 5)

    def forward(self, x):
        y = F.conv2d(x, self.w, padding=1) + F.conv2d(x, torch.flip(self.w, [2]), padding=1)
        return self.fc(y.mean((2, 3)))


def test_weights_not_followed_freeze_with_a_reason():
    cg = graph.trace_channels(_net(WeightFromInput), X)
    assert not any(m.tensor == "stem.weight" for g in cg.prunable for m in g.members)
    assert any("dynamic convolution" in (g.reason or "") for g in cg.groups)
    cg = graph.trace_channels(_net(FlippedWeight), X)
    assert not cg.prunable
    assert "flip" in next(g for g in cg.groups if ("w", 0) in {(m.tensor, m.dim) for m in g.members}).reason


class ECA(nn.Module):
    """Efficient channel attention: a Conv1d slides along the channel axis."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.eca = nn.Conv2d(3, 8, 3, padding=1), nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        y = self.eca(x.mean((2, 3)).view(x.shape[0], 1, -1)).view(x.shape[0], -1, 1, 1)
        return self.fc((x * y.sigmoid()).mean((2, 3)))


def test_conv_along_the_channel_axis_is_prunable_not_exact():
    model = _net(ECA)
    cg = graph.trace_channels(model, X)
    g = _group_of(cg, "stem.weight")
    assert g.prunable and not g.exact and "along the channel axis" in g.exact_reason
    assert graph.prune(model, X, {g.id: [1, 2, 6]}, channel_graph=cg)(X).shape == (2, 5)


def test_functional_outputs_are_read_at_their_modules():
    cg = graph.trace_channels(_net(Functional), X)
    points = {(p.module, p.kind) for g in cg.groups for p in g.outputs}
    assert {("std", "conv"), ("bn1", "norm"), ("grouped", "conv")} <= points
    assert all(p.module for g in cg.groups for p in g.outputs)  # root-level ops have no hook
