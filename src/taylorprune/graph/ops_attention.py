"""Handlers for matrix products and attention: q @ k^T, attn @ v, x @ W, and
F.scaled_dot_product_attention.

A product sums over its contracted dim. When both operands carry channels there (q and k
along the head dim), a removed channel is zero in both at its producers, so its term
vanishes: the two are joined and removal is exact. The output keeps the channels of the
dims that are not contracted. A dim whose channels are tied across it (the heads of a
(B, heads, N, head_dim) view, whose head-dim channels are shared by every head) never
shrinks, so data of unknown origin may span it.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F

from .attrs import axis
from .context import Context, Value
from .registry import register_function, register_method
from .values import Chan, Param, size_of


@register_function(torch.matmul, operator.matmul, torch.bmm)
@register_method("matmul", "bmm")
def matmul(ctx: Context, node: fx.Node) -> Value:
    a, b = node.args[0], node.args[1]
    out = ctx.shape(node)
    sa, sb = ctx.shape(a), ctx.shape(b)
    va, vb = ctx.value(a), ctx.value(b)
    if out is None or sa is None or sb is None or len(sa) < 2 or len(sb) < 2:
        return _give_up(ctx, node, "a matrix-vector product")
    nd = len(out)
    # Frame (*batch, n, m, k): a occupies (batch, n, k), b (batch, k, m).
    frame = (*out, sa[-1])
    fa = _in_frame(va, sa, frame, (nd - 2, nd))
    fb = _in_frame(vb, sb, frame, (nd, nd - 1))
    rows = _in_frame(ctx.rows.get(node), sb, frame, (nd, nd - 1))  # b = k^T v: k's channels
    if not _contract(ctx, node, va, vb, fa, rows or fb, frame):
        return _give_up(ctx, node, "a product over channels with a tensor not followed")
    kept = [c for c in (fa, fb) if c is not None and nd not in c.dims]
    if len(kept) == 2 and set(kept[0].dims) != set(kept[1].dims):
        return _outer(ctx, node, fa, fb, out) or _give_up(
            ctx, node, "both factors carry channels on different dims")
    kept = kept or _param_sides(ctx, va, vb, nd)[:1]
    result = None
    for c in kept:
        here = Chan(out, c.dims, c.ids)
        if result is not None:
            ctx.join(result, here)
        result = result or here
    if not _spans_ok(ctx, node, [(fa, va, sa), (fb, vb, sb)], result, nd):
        return _give_up(ctx, node, "data of unknown origin spans channels that can shrink")
    return result


def _outer(ctx: Context, node: fx.Node, fa: Chan, fb: Chan, out: tuple[int, ...]) -> Chan | None:
    """k^T @ v of linear attention (CoaT's factorised attention, EfficientViT's LiteMLA):
    its rows carry k's channels and its columns v's, which no one element per position can
    say. Followed when its one consumer contracts those rows with channels, q @ (k^T v): that
    product gets k's channels (``Context.rows``) to join with q's, and v's pass. A channel
    removed from k and q takes its row's terms out of every column, as in the masked net."""
    nd = len(out)
    user = next(iter(node.users)) if len(node.users) == 1 else None
    shared = set(fa.dims) & set(fb.dims)
    if (user is None or not _is_product(user) or len(user.args) < 2
            or user.args[1] is not node or user.args[0] is node
            or nd - 2 not in fa.dims or nd - 1 in fa.dims or nd - 2 in fb.dims
            or not all(ctx.fixed_extent(f, d) for f in (fa, fb) for d in shared)):
        return None
    ctx.rows[user] = Chan(out, fa.dims, fa.ids)
    return Chan(out, fb.dims, fb.ids)


def _is_product(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in ("matmul", "bmm")
    return node.op == "call_function" and node.target in (torch.matmul, operator.matmul, torch.bmm)


def _param_sides(ctx: Context, va: Value, vb: Value, nd: int) -> list[Chan]:
    """A weight's free axis becomes output channels (x @ W: W's columns, like F.linear)."""
    out = []
    for value, dim, frame_dim in ((va, -2, nd - 2), (vb, -1, nd - 1)):
        if isinstance(value, Param) and len(value.shape) == 2 and value.ids(dim % 2) is not None:
            ids = value.ids(dim % 2)
            ctx.role(ids, "out")
            out.append(Chan((), (frame_dim,), ids))  # re-shaped by the caller
    return out


def _in_frame(
    value: Value, shape: tuple[int, ...], frame: tuple[int, ...], last2: tuple[int, int]
) -> Chan | None:
    """A Chan of an operand re-indexed into the product's frame (batch dims right-aligned)."""
    if not isinstance(value, Chan):
        return None
    off = len(frame) - 1 - len(shape)
    where = {d: (d + off if d < len(shape) - 2 else last2[d - len(shape) + 2]) for d in range(len(shape))}
    order = np.argsort([where[d] for d in value.dims])
    dims = tuple(sorted(where[d] for d in value.dims))
    return Chan(frame, dims, np.transpose(value.ids, order) if value.ids.ndim > 1 else value.ids)


def _contract(ctx, node, va, vb, fa, fb, frame) -> bool:
    """Join what both operands carry along the contracted dim (the frame's last)."""
    k = len(frame) - 1
    ca = fa is not None and k in fa.dims
    cb = fb is not None and k in fb.dims
    if ca and cb:
        ctx.join(fa, fb)
        return True
    if not (ca or cb) or frame[k] == 1:
        return True
    chan, other = (fa, vb) if ca else (fb, va)
    ids = axis(ctx, other, len(other.shape) - (2 if ca else 1)) if isinstance(other, Param) else None
    if ids is None or chan.dims != (k,):
        ctx.freeze(chan, f"{node.name}: contracted with a tensor not followed")
        return True
    ctx.bind(ids, chan.ids, "in")  # x @ W: W's rows are the input channels
    return True


def _spans_ok(ctx, node, operands, result: Chan | None, nd: int) -> bool:
    """Operands without channels that span a channel dim of the result or of the other
    operand are fine only where that dim cannot shrink."""
    chans = [f for f, _, _ in operands if f is not None]
    for f, v, shape in operands:
        if f is not None or isinstance(v, Param):
            continue
        off = nd - len(shape)
        spanned = {d + off for d in range(len(shape) - 2) if shape[d] > 1}
        for c in chans:
            for d in set(c.dims) & spanned:
                if not ctx.fixed_extent(c, d):
                    return False
    return True


def _give_up(ctx: Context, node: fx.Node, what: str) -> Value:
    reason = f"{node.name}: {what}"
    for arg in node.args[:2]:
        ctx.freeze(ctx.value(arg), reason)
    return ctx.fresh_frozen(ctx.shape(node), reason)


@register_function(F.scaled_dot_product_attention)
def attention(ctx: Context, node: fx.Node) -> Value:
    """softmax(q k^T * scale) v: q and k joined along their last dim, v's channels pass.
    Without an explicit scale it is 1/sqrt(head dim); pruning the head dim would change it,
    so the pruned network passes the original scale (and stays exact)."""
    q, k, v = (ctx.value(a) for a in node.args[:3])
    out = ctx.shape(node)
    nd = len(out)
    frame = (*out[:-1], ctx.shape(node.args[1])[-2], ctx.shape(node.args[0])[-1])
    fq = _in_frame(q, ctx.shape(node.args[0]), frame, (nd - 2, nd))
    fk = _in_frame(k, ctx.shape(node.args[1]), frame, (nd - 1, nd))  # k^T: (.., k, m)
    if not _contract(ctx, node, q, k, fq, fk, frame):
        return _give_up(ctx, node, "attention over channels not followed")
    for f in (fq, fk):
        if f is not None and any(d >= nd - 2 and d != nd or not ctx.fixed_extent(f, d)
                                 for d in f.dims if d != nd):
            return _give_up(ctx, node, "query or key channels outside the head dim")
    if ctx.arg(node, 6, "scale") is None and fq is not None and nd in fq.dims:
        head_dim = size_of(fq, nd).ids  # default scale: 1/sqrt(head dim)
        ctx.const(node, ("scale",), head_dim, pin=frame[nd] ** -0.5)
    if not isinstance(v, Chan):
        return None
    return Chan(out, v.dims, v.ids)
