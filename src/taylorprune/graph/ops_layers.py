"""Handlers for layers with channel-indexed parameters: conv, linear and normalisation."""

from __future__ import annotations

import numpy as np
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .context import Context, Value
from .registry import register_function, register_module
from .values import Chan


def channel_ids(ctx: Context, node: fx.Node, value: Value, dim: int) -> np.ndarray | None:
    """1-D elements of ``value`` along ``dim``; anything else freezes it and gives None."""
    if isinstance(value, Chan) and value.dims == (dim,):
        return value.ids
    ctx.freeze(value, f"{node.name}: channels not on dim {dim} where the layer expects them")
    return None


def _qual(module: str, attr: str) -> str:
    return f"{module}.{attr}" if module else attr


@register_module(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def conv(ctx: Context, node: fx.Node) -> Value:
    """Output channels are new; input channels are consumed (grouped: tied group-wise).

    A grouped conv (groups > 1) is pruned by whole groups: input block j and output
    block j become one channel, so the group count drops and every group keeps its width.
    """
    m: nn.Conv2d = ctx.module(node)  # type: ignore[assignment]
    name, x = str(node.target), node.args[0]
    out_shape = ctx.shape(node)
    dim = len(out_shape) - m.weight.dim() + 1  # 1 for (N, C, H, W), 0 unbatched
    out = ctx.fresh(out_shape, dim)
    ids_in = channel_ids(ctx, node, ctx.value(x), dim)
    g = m.groups
    if g == 1:
        if ids_in is not None:
            ctx.member(_qual(name, "weight"), 1, ids_in, "in")
    elif ids_in is not None:
        for blk_in, blk_out in zip(np.split(ids_in, g), np.split(out.ids, g), strict=True):
            ctx.uf.union_arrays(np.concatenate([blk_in, blk_out]), blk_in[:1])
    else:
        ctx.freeze(out, f"{node.name}: grouped conv whose input channels are frozen")
    if ids_in is not None:
        ctx.count(name, "in_channels", ids_in)
    ctx.member(_qual(name, "weight"), 0, out.ids, "out")
    if m.bias is not None:
        ctx.member(_qual(name, "bias"), 0, out.ids, "out")
    ctx.count(name, "out_channels", out.ids)
    if g > 1:
        ctx.count(name, "groups", out.ids[:: len(out.ids) // g])
    ctx.point(node, "conv", out)
    return out


@register_module(nn.Linear)
def linear(ctx: Context, node: fx.Node) -> Value:
    """Features on the last dim are consumed and made; channels elsewhere pass through."""
    m: nn.Linear = ctx.module(node)  # type: ignore[assignment]
    name, x = str(node.target), ctx.value(node.args[0])
    out_shape = ctx.shape(node)
    last = len(out_shape) - 1
    if isinstance(x, Chan) and last not in x.dims:
        return x.with_shape(out_shape)
    if x is not None:
        ids_in = channel_ids(ctx, node, x, last)
        if ids_in is not None:
            ctx.member(_qual(name, "weight"), 1, ids_in, "in")
            ctx.count(name, "in_features", ids_in)
    out = ctx.fresh(out_shape, last)
    ctx.member(_qual(name, "weight"), 0, out.ids, "out")
    if m.bias is not None:
        ctx.member(_qual(name, "bias"), 0, out.ids, "out")
    ctx.count(name, "out_features", out.ids)
    ctx.point(node, "linear", out)
    return out


_NORM_TENSORS = ("weight", "bias", "running_mean", "running_var")


def _norm_members(ctx: Context, name: str, m: nn.Module, ids: np.ndarray, dim: int = 0) -> None:
    for attr in _NORM_TENSORS:
        if getattr(m, attr, None) is not None:
            ctx.member(_qual(name, attr), dim, ids, "norm")


@register_module(
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
)
def batch_norm(ctx: Context, node: fx.Node) -> Value:
    """Per-channel affine and statistics: channels pass through, every tensor is sliced."""
    x = ctx.value(node.args[0])
    name, m = str(node.target), ctx.module(node)
    shape = ctx.shape(node)
    dim = 1 if len(shape) > 1 else 0
    ids = channel_ids(ctx, node, x, dim)
    if ids is None:
        return ctx.fresh_frozen(shape, f"{node.name}: norm input not followed")
    _norm_members(ctx, name, m, ids)
    ctx.count(name, "num_features", ids)
    ctx.point(node, "norm", x)
    return x


@register_module(nn.GroupNorm)
def group_norm(ctx: Context, node: fx.Node) -> Value:
    """Whole normalisation groups are one channel (so removal is exact and the group count
    stays valid); with a single group every channel is prunable but removal is not exact."""
    x = ctx.value(node.args[0])
    name, m = str(node.target), ctx.module(node)
    ids = channel_ids(ctx, node, x, 1)
    if ids is None:
        return ctx.fresh_frozen(ctx.shape(node), f"{node.name}: GroupNorm input not followed")
    g = m.num_groups
    if g > 1:
        for block in np.split(ids, g):
            ctx.uf.union_arrays(block[:1], block)
        ctx.count(name, "num_groups", ids[:: len(ids) // g])
    else:
        ctx.mark_inexact(x, f"{node.name}: GroupNorm with one group normalises across channels")
    _norm_members(ctx, name, m, ids)
    ctx.count(name, "num_channels", ids)
    ctx.point(node, "norm", x)
    return x


@register_module(nn.LayerNorm)
def layer_norm(ctx: Context, node: fx.Node) -> Value:
    m: nn.LayerNorm = ctx.module(node)  # type: ignore[assignment]
    name = str(node.target)
    w = _qual(name, "weight") if m.weight is not None else None
    b = _qual(name, "bias") if m.bias is not None else None
    out = _layer_norm(ctx, node, len(m.normalized_shape), w, b, (name, "normalized_shape"))
    if isinstance(out, Chan) and out.dims[0] >= len(out.shape) - len(m.normalized_shape):
        ctx.point(node, "norm", out)
    return out


@register_function(F.layer_norm)
def functional_layer_norm(ctx: Context, node: fx.Node) -> Value:
    """F.layer_norm with get_attr weights, as in ConvNeXt's LayerNorm2d."""
    shape_arg = ctx.arg(node, 1, "normalized_shape")
    w, b = ctx.value(ctx.arg(node, 2, "weight")), ctx.value(ctx.arg(node, 3, "bias"))
    owner = ctx.scope(node)
    module = ctx.gm.get_submodule(owner) if owner else ctx.gm
    attr = None
    if isinstance(module, nn.LayerNorm) and tuple(module.normalized_shape) == tuple(shape_arg):
        attr = (owner, "normalized_shape")  # the literal came from the module's attribute
    return _layer_norm(
        ctx, node, len(shape_arg), getattr(w, "target", None), getattr(b, "target", None), attr
    )


def _layer_norm(
    ctx: Context,
    node: fx.Node,
    k: int,
    weight: str | None,
    bias: str | None,
    attr: tuple[str, str] | None,
) -> Value:
    """Normalises the last k dims: channels there are prunable but removal is not exact."""
    x = ctx.value(node.args[0])
    if not isinstance(x, Chan):
        return x
    ndim = len(x.shape)
    if all(d < ndim - k for d in x.dims):
        return x  # normalises within each channel
    if x.dim is None:
        ctx.freeze(x, f"{node.name}: layer norm over a split channel axis")
        return x
    pos = x.dim - (ndim - k)
    for tensor in (weight, bias):
        if tensor is not None:
            ctx.member(tensor, pos, x.ids, "norm")
    if attr is not None:
        ctx.count(attr[0], attr[1], x.ids, index=pos)
    else:
        ctx.const(node, (1, pos), x.ids)
    ctx.mark_inexact(x, f"{node.name}: layer norm normalises across channels")
    return x


@register_module(nn.PReLU)
def prelu(ctx: Context, node: fx.Node) -> Value:
    x = ctx.value(node.args[0])
    m: nn.PReLU = ctx.module(node)  # type: ignore[assignment]
    if m.num_parameters == 1:
        return x
    ids = channel_ids(ctx, node, x, 1)
    if ids is not None:
        ctx.member(_qual(str(node.target), "weight"), 0, ids, "scale")
        ctx.count(str(node.target), "num_parameters", ids)
    return x
