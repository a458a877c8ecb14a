"""Handlers for layers with channel-indexed parameters: conv, linear and normalisation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch.fx as fx
from torch import nn

from .context import Context, Value
from .registry import register_module
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
    along = conv_along_channels(ctx, node, ctx.value(x), out_shape, dim, m.out_channels)
    if along is not None:
        return along
    out = ctx.fresh(out_shape, dim)
    ids_in = channel_ids(ctx, node, ctx.value(x), dim)
    g = m.groups
    if g == 1:
        if ids_in is not None:
            ctx.member(_qual(name, "weight"), 1, ids_in, "in")
    elif ids_in is not None:
        group_blocks(ctx, ids_in, out.ids, g)
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


@register_module(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def conv_transpose(ctx: Context, node: fx.Node) -> Value:
    """A transposed conv's weight is (in, out / groups, *kernel): input channels are rows,
    output channels columns; grouped, whole groups go as for a conv."""
    m: nn.ConvTranspose2d = ctx.module(node)  # type: ignore[assignment]
    name, x = str(node.target), ctx.value(node.args[0])
    out_shape = ctx.shape(node)
    dim = len(out_shape) - m.weight.dim() + 1  # 1 for (N, C, H, W), 0 unbatched
    out = ctx.fresh(out_shape, dim)
    ids_in = channel_ids(ctx, node, x, dim)
    if ids_in is None and m.groups > 1:
        ctx.freeze(out, f"{node.name}: grouped conv whose input channels are frozen")
    elif ids_in is not None:
        ctx.member(_qual(name, "weight"), 0, ids_in, "in")
        ctx.count(name, "in_channels", ids_in)
        if m.groups > 1:
            group_blocks(ctx, ids_in, out.ids, m.groups)
            ctx.count(name, "groups", out.ids[:: len(out.ids) // m.groups])
    if m.groups == 1:
        ctx.member(_qual(name, "weight"), 1, out.ids, "out")
    if m.bias is not None:
        ctx.member(_qual(name, "bias"), 0, out.ids, "out")
    ctx.count(name, "out_channels", out.ids)
    ctx.point(node, "conv", out)
    return out


def group_blocks(ctx: Context, ids_in: np.ndarray, ids_out: np.ndarray, groups: int) -> None:
    """Input block j and output block j of a grouped conv become one channel."""
    blocks_in = ids_in.reshape(groups, -1)  # (groups, in per group)
    blocks = np.concatenate([blocks_in, ids_out.reshape(groups, -1)], axis=1)
    ctx.uf.union_arrays(blocks, blocks_in[:, :1])


def conv_along_channels(
    ctx: Context, node: fx.Node, x: Value, out_shape: tuple[int, ...], dim: int, out_channels: int
) -> Chan | None:
    """A one-channel conv sliding along dims that hold channel ids (ECA attention runs a
    Conv1d over the channel axis): the output keeps those ids when it keeps their extent,
    but each output mixes neighbouring channels, so removal is not exact."""
    if not isinstance(x, Chan) or dim in x.dims or out_channels != 1:
        return None
    if any(d < dim or out_shape[d] != x.shape[d] for d in x.dims):
        ctx.freeze(x, f"{node.name}: convolution along the channel axis changes its extent")
        return ctx.fresh_frozen(out_shape, f"{node.name}: output of a conv along channels")
    out = x.with_shape(out_shape)
    ctx.mark_inexact(out, f"{node.name}: convolution along the channel axis mixes neighbours")
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
    tensors = [_qual(name, t) for t in ("weight", "bias") if getattr(m, t, None) is not None]

    def bind(ids: np.ndarray, pos: int) -> bool:
        for tensor in tensors:
            ctx.member(tensor, pos, ids, "norm")
        return True

    def rewrite(ids: np.ndarray, pos: int) -> None:
        ctx.count(name, "normalized_shape", ids, index=pos)

    out = layer_norm_over(ctx, node, len(m.normalized_shape), bind, rewrite)
    if isinstance(out, Chan) and out.dims[0] >= len(out.shape) - len(m.normalized_shape):
        ctx.point(node, "norm", out)
    return out


def layer_norm_over(
    ctx: Context,
    node: fx.Node,
    k: int,
    bind: Callable[[np.ndarray, int], bool],
    rewrite: Callable[[np.ndarray, int], None],
) -> Value:
    """Normalises the last k dims: channels there are prunable but removal is not exact.

    ``bind(ids, pos)`` joins the affine parameters' axis ``pos`` with the channels (False:
    they are not followed, so the channels freeze); ``rewrite`` updates the shape count.
    """
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
    if not bind(x.ids, pos):
        ctx.freeze(x, f"{node.name}: norm parameters not followed")
        return x
    rewrite(x.ids, pos)
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
