"""Attention in a conv hybrid: q @ k^T, attn @ v, F.scaled_dot_product_attention, x @ W,
a class token concatenated with the tokens."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from taylorprune import graph

from .nets import check_oracle, count, random_plan, randomize_norms

X = torch.rand(2, 3, 8, 8, dtype=torch.float64)


class Attention(nn.Module):
    """timm's Attention: one qkv projection viewed as (3, heads, head_dim)."""

    def __init__(self, dim: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.heads, self.head_dim, self.fused = heads, dim // heads, fused
        self.scale = self.head_dim**-0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, N, head_dim) each
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Hybrid(nn.Module):
    """Conv stem, a class token, one attention block with a hidden MLP, a head on the token."""

    def __init__(self, fused: bool = False) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.attn = Attention(8, 2, fused)
        self.mlp_w = nn.Parameter(torch.randn(8, 12))  # applied as x @ W
        self.out = nn.Linear(12, 8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)  # (B, 16, 8)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.attn(x)
        x = x + self.out(F.gelu(x @ self.mlp_w))
        return self.head(x[:, 0])


def _net(fused=False, seed=0):
    torch.manual_seed(seed)
    return randomize_norms(Hybrid(fused).double().eval(), seed)


def _group_of(cg, tensor, dim=0):
    return next(g for g in cg.groups if any(m.tensor == tensor and m.dim == dim for m in g.members))


def test_head_dim_channels_are_shared_by_q_k_v_and_every_head():
    cg = graph.trace_channels(_net(), X)
    g = _group_of(cg, "attn.qkv.weight")
    assert g.prunable and g.exact and g.size == 4  # head_dim: one channel per index
    rows = next(m for m in g.members if m.tensor == "attn.qkv.weight" and m.dim == 0)
    assert rows.indices[0] == (0, 4, 8, 12, 16, 20)  # index 0 of q, k, v in both heads
    assert {("attn.proj.weight", 1)} <= {(m.tensor, m.dim) for m in g.members}


def test_stream_class_token_and_x_at_w_are_followed():
    cg = graph.trace_channels(_net(), X)
    stream = _group_of(cg, "stem.0.weight")
    assert stream.prunable and stream.exact
    assert {"cls", "mlp_w", "attn.qkv.weight", "head.weight"} <= {m.tensor for m in stream.members}
    hidden = _group_of(cg, "mlp_w", dim=1)
    assert hidden.prunable and hidden.exact and ("out.weight", 1) in {
        (m.tensor, m.dim) for m in hidden.members}


@pytest.mark.parametrize("seed", [0, 1])
def test_hybrid_pruned_equals_masked(seed):
    model = _net(seed=seed)
    cg = graph.trace_channels(model, X)
    plan = random_plan(cg, random.Random(seed), fraction=0.5)
    check_oracle(model, X, plan, cg)
    pruned = graph.prune(model, X, plan, channel_graph=cg)
    assert pruned(X).shape == (2, 5) and count(pruned) == count(model) - cg.params_removed(plan)


def test_default_attention_scale_is_kept_when_the_head_dim_shrinks():
    model = _net(fused=True)
    cg = graph.trace_channels(model, X)
    g = _group_of(cg, "attn.qkv.weight")
    assert g.prunable and g.exact
    check_oracle(model, X, {g.id: [1]}, cg)
    pruned = graph.prune(model, X, {g.id: [1]}, channel_graph=cg)
    sdpa = next(n for n in pruned.attn.graph.nodes if n.target is F.scaled_dot_product_attention)
    assert sdpa.kwargs["scale"] == 4**-0.5  # the original head dim's scale


class FactorAttention(nn.Module):
    """CoaT's factorised attention: softmax(k)^T v first, a (head_dim, head_dim) matrix per
    head whose rows are k's channels and columns v's, then q times it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.q, self.k, self.v = (nn.Linear(6, 8) for _ in range(3))
        self.proj, self.fc = nn.Linear(8, 6), nn.Linear(6, 5)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)  # (B, N, 6)
        b, n, _ = x.shape
        q, k, v = (f(x).reshape(b, n, 2, 4).transpose(1, 2) for f in (self.q, self.k, self.v))
        factor = k.softmax(dim=2).transpose(-1, -2) @ v  # (B, 2, 4, 4)
        y = (q @ factor).transpose(1, 2).reshape(b, n, 8)
        return self.fc((x + self.proj(y)).mean(1))


def test_factorised_attention_joins_q_with_k_and_passes_v():
    torch.manual_seed(0)
    model = FactorAttention().double().eval()
    cg = graph.trace_channels(model, X)
    q, k, v = (next(g for g in cg.groups if any(m.tensor == f"{t}.weight" and m.dim == 0 for m in g.members))
               for t in "qkv")
    assert q is k and v is not q and all(g.prunable and g.exact and g.size == 4 for g in (q, v))
    for plan in ({q.id: [1]}, {v.id: [0, 2]}, random_plan(cg, random.Random(0), 0.5)):
        check_oracle(model, X, plan, cg)


class GramSquared(nn.Module):
    """k^T v times itself: its rows are contracted with its own columns, which the
    factorised-attention rule does not cover, so those channels freeze."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.k, self.v = nn.Conv2d(3, 6, 3, padding=1), nn.Linear(6, 4), nn.Linear(6, 4)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        f = self.k(x).transpose(-1, -2) @ self.v(x)  # (B, 4, 4)
        return self.fc((f @ f).flatten(1))


def test_product_of_k_t_v_with_itself_freezes():
    torch.manual_seed(0)
    model = GramSquared().double().eval()
    cg = graph.trace_channels(model, X)
    k = next(g for g in cg.groups if any(m.tensor == "k.weight" and m.dim == 0 for m in g.members))
    assert not k.prunable and "different dims" in k.reason
    check_oracle(model, X, random_plan(cg, random.Random(0), 0.5), cg)
