"""Handlers for functional layers: F.conv*, F.linear, F.batch_norm, F.instance_norm,
F.group_norm, F.layer_norm and F.prelu with weights that are module attributes, read
directly or computed from parameters on the fly (see ops_params).

The weight's own elements become the layer's channels (output rows) or are joined with
the input's (columns), so surgery slices every parameter and buffer the op reads. A
literal that counts channels (``groups``, ``num_groups``, ``normalized_shape``) is
rewritten, unless it is the attribute of the module that owns the weight (timm's
``F.conv2d(..., self.groups)``): then that attribute is updated and the forward reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .attrs import axis, count_owner, literal, owner
from .context import Context, Value
from .ops_layers import channel_ids, conv_along_channels, group_blocks, layer_norm_over
from .registry import register_function
from .values import Chan, Param

# --- conv and linear ----------------------------------------------------------------------


@register_function(F.conv1d, F.conv2d, F.conv3d)
def conv(ctx: Context, node: fx.Node) -> Value:
    """Output channels are the weight's rows; input channels join its columns (grouped:
    whole groups, as for nn.Conv2d, and the groups literal follows)."""
    x, w = ctx.value(ctx.arg(node, 0, "input")), ctx.value(ctx.arg(node, 1, "weight"))
    b = ctx.value(ctx.arg(node, 2, "bias"))
    out_shape = ctx.shape(node)
    dim = 1 if len(out_shape) == len(w.shape if isinstance(w, Param) else out_shape) else 0
    rows, cols = axis(ctx, w, 0), axis(ctx, w, 1)
    if rows is None or cols is None:
        reason = f"{node.name}: conv weight computed by ops not followed"
        if isinstance(w, Chan):
            reason = f"{node.name}: conv weight computed from the input (dynamic convolution)"
        ctx.freeze(x, reason)
        return ctx.fresh_frozen(out_shape, reason)
    along = conv_along_channels(ctx, node, x, out_shape, dim, len(rows))
    if along is not None:
        return along
    out = Chan(out_shape, (dim,), rows)
    ctx.role(rows, "out")
    if isinstance(b, Param) and axis(ctx, b, 0) is not None:
        ctx.bind(axis(ctx, b, 0), rows, "out")
    g = int(ctx.arg(node, 6, "groups", 1))
    ids_in = channel_ids(ctx, node, x, dim)
    if ids_in is None:
        ctx.freeze(out, f"{node.name}: conv input channels not followed") if g > 1 else None
    elif g == 1:
        ctx.bind(cols, ids_in, "in")
    else:
        group_blocks(ctx, ids_in, rows, g)
        literal(ctx, node, _arg_path(node, 6, "groups"), rows[:: len(rows) // g], rows, "groups")
    count_owner(ctx, rows, rows)
    ctx.functional_point(node, "conv", out)
    return out


@register_function(F.linear)
def linear(ctx: Context, node: fx.Node) -> Value:
    x, w = ctx.value(ctx.arg(node, 0, "input")), ctx.value(ctx.arg(node, 1, "weight"))
    b = ctx.value(ctx.arg(node, 2, "bias"))
    out_shape = ctx.shape(node)
    last = len(out_shape) - 1
    if isinstance(x, Chan) and last not in x.dims:
        return x.with_shape(out_shape)
    rows, cols = axis(ctx, w, 0), axis(ctx, w, 1) if isinstance(w, Param) and w.shape[1:] else None
    if rows is None or cols is None:
        reason = f"{node.name}: linear weight not followed"
        ctx.freeze(x, reason)
        return ctx.fresh_frozen(out_shape, reason)
    if x is not None:
        ids_in = channel_ids(ctx, node, x, last)
        if ids_in is not None:
            ctx.bind(cols, ids_in, "in")
            count_owner(ctx, cols, ids_in)
    ctx.role(rows, "out")
    if isinstance(b, Param) and axis(ctx, b, 0) is not None:
        ctx.bind(axis(ctx, b, 0), rows, "out")
    count_owner(ctx, rows, rows)
    out = Chan(out_shape, (last,), rows)
    ctx.functional_point(node, "linear", out)
    return out


def _arg_path(node: fx.Node, index: int, name: str) -> tuple[int | str]:
    return (index,) if len(node.args) > index else (name,)


# --- normalisation -------------------------------------------------------------------------


def _bind_all(ctx: Context, node: fx.Node, params: list[Any], ids: np.ndarray, role: str) -> bool:
    """Join per-channel parameters with the channels; False if one is not a followed Param."""
    for arg in params:
        v = ctx.value(arg)
        if v is None and ctx.shape(arg) is None:
            continue
        p = axis(ctx, v, 0) if isinstance(v, Param) and len(v.shape) == 1 else None
        if p is None or len(p) != len(ids):
            return False
        ctx.bind(p, ids, role)
        count_owner(ctx, p, ids)
    return True


@register_function(F.batch_norm, F.instance_norm)
def batch_norm(ctx: Context, node: fx.Node) -> Value:
    """Per-channel statistics and affine (timm's BatchNormAct2d): all sliced with dim 1."""
    x = ctx.value(node.args[0])
    ids = channel_ids(ctx, node, x, 1)
    if ids is None:
        return ctx.fresh_frozen(ctx.shape(node), f"{node.name}: norm input not followed")
    names = ("running_mean", "running_var", "weight", "bias")  # same order in both
    params = [ctx.arg(node, i + 1, n) for i, n in enumerate(names)]
    if not _bind_all(ctx, node, params, ids, "norm"):
        ctx.freeze(x, f"{node.name}: norm parameters not followed")
        return x
    ctx.functional_point(node, "norm", x)
    return x


@register_function(F.group_norm)
def group_norm(ctx: Context, node: fx.Node) -> Value:
    x = ctx.value(node.args[0])
    ids = channel_ids(ctx, node, x, 1)
    if ids is None:
        return ctx.fresh_frozen(ctx.shape(node), f"{node.name}: GroupNorm input not followed")
    w = ctx.value(ctx.arg(node, 2, "weight"))
    if not _bind_all(ctx, node, [ctx.arg(node, 2, "weight"), ctx.arg(node, 3, "bias")], ids, "norm"):
        ctx.freeze(x, f"{node.name}: norm parameters not followed")
        return x
    g = int(ctx.arg(node, 1, "num_groups"))
    if g > 1:
        for block in np.split(ids, g):
            ctx.uf.union_arrays(block[:1], block)
        weight = axis(ctx, w, 0)
        path = _arg_path(node, 1, "num_groups")
        if weight is None:
            ctx.const(node, path, ids[:: len(ids) // g])
        else:
            literal(ctx, node, path, ids[:: len(ids) // g], weight, "num_groups")
    else:
        ctx.mark_inexact(x, f"{node.name}: GroupNorm with one group normalises across channels")
    ctx.functional_point(node, "norm", x)
    return x


@register_function(F.layer_norm, *([F.rms_norm] if hasattr(F, "rms_norm") else []))
def layer_norm(ctx: Context, node: fx.Node) -> Value:
    """F.layer_norm with parameter weights, as in ConvNeXt's LayerNorm2d."""
    shape_arg = ctx.arg(node, 1, "normalized_shape")
    k = len(shape_arg)
    params = [ctx.arg(node, 2, "weight")] + ([ctx.arg(node, 3, "bias")] if node.target is F.layer_norm else [])

    def bind(ids: np.ndarray, pos: int) -> bool:
        for arg in params:
            v = ctx.value(arg)
            if v is None and ctx.shape(arg) is None:
                continue
            p = axis(ctx, v, pos) if isinstance(v, Param) and len(v.shape) == k else None
            if p is None or len(p) != len(ids):
                return False
            ctx.bind(p, ids, "norm")
        return True

    def rewrite(ids: np.ndarray, pos: int) -> None:
        weight = ctx.value(params[0])
        found = owner(ctx, axis(ctx, weight, pos)) if isinstance(weight, Param) else None
        if found is not None and found[0] == ctx.scope(node):
            module = ctx.submodule(found[0])
            shape = getattr(module, "normalized_shape", None)
            if isinstance(module, nn.LayerNorm) and tuple(shape) == tuple(shape_arg):
                ctx.count(found[0], "normalized_shape", ids, index=pos)
                return
        ctx.const(node, (1, pos), ids)

    out = layer_norm_over(ctx, node, k, bind, rewrite)
    if isinstance(out, Chan) and out.dim is not None:
        ctx.functional_point(node, "norm", out)
    return out


@register_function(F.prelu, torch.prelu)
def prelu(ctx: Context, node: fx.Node) -> Value:
    x, w = ctx.value(node.args[0]), node.args[1]
    if ctx.shape(w) in ((), (1,)):
        return x
    ids = channel_ids(ctx, node, x, 1)
    if ids is not None and not _bind_all(ctx, node, [w], ids, "scale"):
        ctx.freeze(x, f"{node.name}: PReLU weight not followed")
    return x
