"""Modules whose forward computes on shapes are traced with example values: their channels
stay prunable, except where the forward branches on a channel count."""

import random

import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import cbr, check_oracle, random_plan, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class PoolIfLarge(nn.Module):
    """timm's ConvMlp: pools only when the map is larger than the kernel (shape control flow)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(cin, cout, 3)

    def forward(self, x):
        if x.shape[-1] > 3:
            x = F.adaptive_avg_pool2d(x, 3)
        n, c = x.size(0), x.size(1)
        return self.fc(x.reshape(n, c, 3, 3))


class BranchOnChannels(nn.Module):
    def forward(self, x):
        return x * 2 if x.shape[1] % 2 == 0 else x


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.mlp, self.branch = cbr(3, 6), PoolIfLarge(6, 4), BranchOnChannels()
        self.mid = cbr(4, 5)
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        x = self.mid(self.mlp(self.stem(x)))
        return self.fc(self.branch(x)[:, :, 0, 0])


def _net():
    torch.manual_seed(0)
    return randomize_norms(Net().double().eval())


def _group_of(cg, tensor, dim=0):
    return next(g for g in cg.groups if any(m.tensor == tensor and m.dim == dim for m in g.members))


def test_shape_control_flow_is_traced_with_values():
    model = _net()
    cg = graph.trace_channels(model, X)
    assert cg.valued >= {"mlp"} and not cg.opaque
    stem, mlp = _group_of(cg, "stem.0.weight"), _group_of(cg, "mlp.fc.weight")
    assert stem.prunable and stem.exact and mlp.prunable and mlp.exact
    plan = {g.id: v for g, v in ((stem, [1, 4]), (mlp, [0]))}
    check_oracle(model, X, plan, cg)
    assert type(graph.prune(model, X, plan, channel_graph=cg).mlp) is PoolIfLarge


def test_branch_on_a_channel_count_freezes_those_channels():
    cg = graph.trace_channels(_net(), X)
    mid = _group_of(cg, "mid.0.weight")
    assert not mid.prunable and "branches on this channel count" in mid.reason
    check_oracle(_net(), X, random_plan(cg, random.Random(0), fraction=0.5), cg)


class Heads(nn.Module):
    """EfficientViT-MSRA's attention: split sizes and a view size are literals of its
    forward, and it caches a tensor per device as it runs (timm's attention_bias_cache)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Conv2d(c, 4 + 4 + 6, 1), nn.Conv2d(6, c, 1)
        self.temperature = nn.Parameter(torch.rand(1) + 0.5)
        self.window = 4
        self.cache: dict[str, torch.Tensor] = {}

    def forward(self, x):
        b, _, h, w = x.shape
        key = str(x.device)
        if key not in self.cache:
            self.cache[key] = self.temperature * 2
        q, k, v = self.qkv(x).view(b, -1, h, w).split([4, 4, 6], dim=1)
        attn = (q.flatten(2).transpose(-2, -1) @ k.flatten(2) * self.cache[key]).softmax(-1)
        return self.proj((v.flatten(2) @ attn.transpose(-2, -1)).view(b, 6, h, w))


class Windows(nn.Module):
    """EfficientViT-MSRA's LocalWindowAttention: windows only a map larger than its child's
    window (shape control flow), so it is traced with values; the child is not."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.attn = Heads(c)

    def forward(self, x):
        b, c, h, w = x.shape
        ws = self.attn.window
        if h <= ws:
            return self.attn(x)
        x = x.view(b, c, h // ws, ws, w // ws, ws).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, ws, ws)
        x = self.attn(x).view(b, h // ws, w // ws, c, ws, ws)
        return x.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def test_channel_literals_of_a_plain_child_of_a_module_traced_with_values_are_rewritten():
    torch.manual_seed(0)
    model = nn.Sequential(cbr(3, 6), Windows(6), nn.Flatten(1), nn.Linear(6 * 64, 5))
    model = randomize_norms(model.double().eval())
    cg = graph.trace_channels(model, X)
    assert cg.valued == {"1"}
    assert all(isinstance(v, torch.Tensor) for v in model[1].attn.cache.values())  # no proxy
    qkv = [g for g in cg.groups if any(m.tensor == "1.attn.qkv.weight" and m.dim == 0 for m in g.members)]
    assert len(qkv) == 2 and all(g.prunable and g.exact for g in qkv)
    assert not [g.reason for g in cg.groups if not g.prunable and "network" not in g.reason]
    plan = {g.id: [0, g.size - 1] for g in qkv}
    check_oracle(model, X, plan, cg)
    pruned = graph.prune(model, X, plan, channel_graph=cg)
    assert type(pruned[1]) is Windows and isinstance(pruned[1].attn, torch.fx.GraphModule)
    assert pruned[1].attn.window == 4 and pruned[1].attn.qkv.out_channels == 14 - 2 * 2 - 2
