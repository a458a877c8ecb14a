"""Handlers for copies along a dim: ``repeat_interleave`` (each entry k times in a row),
``repeat`` / ``tile`` (the whole dim k times over).

Along a dim without channels (GCViT repeats its global query over the batch of windows)
the channels pass unchanged. Along a channel dim every copy of a channel is that channel:
removing it removes all its copies, and the repeat count stays what it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.fx as fx

from .context import Context, Value
from .registry import register_function, register_method
from .values import Chan


@register_function(torch.repeat_interleave)
@register_method("repeat_interleave")
def repeat_interleave(ctx: Context, node: fx.Node) -> Value:
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan) or shape is None:
        return None
    dim, repeats = ctx.arg(node, 2, "dim"), ctx.arg(node, 1, "repeats")
    if dim is None or len(shape) != len(x.shape):  # flattened first
        return _unfollowed(ctx, node, x, shape, "repeat_interleave that flattens")
    d = int(dim) % len(shape)
    if d not in x.dims:
        return x.with_shape(shape)
    if type(repeats) is not int:  # a tensor of counts per entry
        return _unfollowed(ctx, node, x, shape, "repeat_interleave along channels by counts")
    return Chan(tuple(shape), x.dims, np.repeat(x.ids, repeats, axis=x.dims.index(d)))


@register_function(torch.tile)
@register_method("repeat", "tile")
def repeat(ctx: Context, node: fx.Node) -> Value:
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan) or shape is None:
        return None
    reps = _reps(node.args[1:])
    if reps is None:
        return _unfollowed(ctx, node, x, shape, "repeat by counts not written in the code")
    lead = len(shape) - len(x.shape)  # new leading dims
    reps = (1,) * (len(shape) - len(reps)) + reps  # tile pads the counts on the left
    ids = x.ids
    for d in x.dims:
        ids = np.tile(ids, [reps[d + lead] if a == x.dims.index(d) else 1 for a in range(ids.ndim)])
    return Chan(tuple(shape), tuple(d + lead for d in x.dims), ids)


def _reps(args: tuple) -> tuple[int, ...] | None:
    """The repeat counts, given as ints or one tuple of ints (x.repeat(1, 2) or x.repeat((1, 2)))."""
    counts: Any = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    return tuple(counts) if all(type(c) is int for c in counts) else None


def _unfollowed(ctx: Context, node: fx.Node, x: Chan, shape: tuple[int, ...], what: str) -> Value:
    ctx.freeze(x, f"{node.name}: {what}")
    return ctx.fresh_frozen(shape, f"{node.name}: output of a {what}")
