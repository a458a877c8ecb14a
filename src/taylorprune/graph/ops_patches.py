"""Handlers for im2col and its inverse, which move channels in blocks.

``nn.Unfold`` / ``F.unfold`` turn (N, C, H, W) into (N, C*k*k, L) channel-major: channel c
owns the k*k consecutive rows c*k*k ... c*k*k + k*k - 1 (one per window offset).
``nn.Fold`` / ``F.fold`` sum such a block of rows back into one channel of (N, C, H, W),
so the rows of a block are removed together (VOLO's outlook attention folds what it
unfolded).
"""

from __future__ import annotations

import numpy as np
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .context import Context, Value
from .registry import register_function, register_module
from .values import Chan


@register_module(nn.Unfold)
@register_function(F.unfold)
def unfold(ctx: Context, node: fx.Node) -> Value:
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan) or shape is None:
        return None
    if x.dims != (1,) or len(x.shape) != 4 or len(shape) != 3:
        return _unfollowed(ctx, node, x, shape, "unfold")
    per = shape[1] // x.shape[1]  # k*k window offsets per channel
    return Chan(tuple(shape), (1,), np.repeat(x.ids, per))


@register_module(nn.Fold)
@register_function(F.fold)
def fold(ctx: Context, node: fx.Node) -> Value:
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan) or shape is None:
        return None
    if x.dims != (1,) or len(x.shape) != 3 or len(shape) != 4 or x.shape[1] % shape[1]:
        return _unfollowed(ctx, node, x, shape, "fold")
    blocks = x.ids.reshape(shape[1], -1)  # (C, k*k): the rows summed into each channel
    ctx.uf.union_arrays(blocks, blocks[:, :1])
    return Chan(tuple(shape), (1,), blocks[:, 0].copy())


def _unfollowed(ctx: Context, node: fx.Node, x: Chan, shape: tuple[int, ...], op: str) -> Value:
    """Channels spread over more than dim 1 (or an unbatched input): not followed."""
    ctx.freeze(x, f"{node.name}: {op} of a tensor whose channels are not on dim 1 alone")
    return ctx.fresh_frozen(shape, f"{node.name}: output of an unfollowed {op}")
