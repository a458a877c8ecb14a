"""Handlers for ops on parameter-derived tensors: how a weight's axes survive the arithmetic
that some layers apply before using it (weight standardisation, per-channel gains,
reshapes of a scale vector).

Each handler maps the axes of its Param inputs to its output (see ``values.Param``). A
reduction over an axis makes every position along it depend on the others, so channels
later joined with that axis are marked not output-exact: removing one changes the
weights computed for the rest. Anything not followed here returns None, and tracing
freezes the parameters it consumed.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F

from .attrs import literal
from .context import Context, Value
from .ops_shape import check_sizes, permutation, size_literal
from .registry import register_param
from .values import Factor, Param, factor_size

# --- same axes out as in ----------------------------------------------------------------

_UNARY = (
    torch.sqrt, torch.rsqrt, torch.abs, torch.neg, torch.exp, torch.log, torch.sigmoid,
    torch.tanh, torch.clamp, torch.clip, torch.square, torch.reciprocal, torch.clone,
    operator.neg, operator.pos, F.softplus, F.relu, F.sigmoid, F.tanh,
)
_UNARY_METHODS = (
    "sqrt", "rsqrt", "abs", "neg", "exp", "log", "sigmoid", "tanh", "clamp", "clip", "square",
    "reciprocal", "clone", "detach", "contiguous", "float", "double", "half", "to", "type_as",
    "relu", "softplus",
)


@register_param(_UNARY, _UNARY_METHODS)
def unary(ctx: Context, node: fx.Node) -> Value:
    p = ctx.value(node.args[0])
    return p if isinstance(p, Param) and ctx.shape(node) == p.shape else None


# --- reshapes ----------------------------------------------------------------------------

_RESHAPES = (torch.reshape, torch.flatten, torch.squeeze, torch.unsqueeze)
_RESHAPE_METHODS = (
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "view_as", "reshape_as", "expand",
    "expand_as",
)


@register_param(_RESHAPES, _RESHAPE_METHODS)
def reshape(ctx: Context, node: fx.Node) -> Value:
    """Factors keep their order; each output dim takes the run of factors whose sizes
    multiply to its size (a broadcast expand adds a bare size)."""
    p, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(p, Param) or shape is None:
        return None
    name = str(getattr(node.target, "__name__", node.target))
    if name.startswith("expand"):
        return _expand(p, shape)
    out = regroup(p.factors(), shape)
    if out is None:
        return None
    before = [f for f in p.factors() if isinstance(f, np.ndarray)]
    after = [(d, out.ids(d)) for d in range(len(shape)) if out.ids(d) is not None]
    if not check_sizes(ctx, node, before, after):
        return None
    _literals(ctx, node, out)
    return out


def regroup(factors: list[Factor], shape: tuple[int, ...]) -> Param | None:
    """Lay factors (outer to inner) over ``shape``; None when a factor would be cut."""
    factors = [f for f in factors if factor_size(f) != 1]
    axes, i = [], 0
    for n in shape:
        take, size = [], 1
        while size < n and i < len(factors):
            take.append(factors[i])
            size *= factor_size(factors[i])
            i += 1
        if size != n:
            return None
        axes.append(tuple(take))
    return Param(tuple(shape), tuple(axes)) if i == len(factors) else None


def _expand(p: Param, shape: tuple[int, ...]) -> Param | None:
    off = len(shape) - len(p.shape)
    axes = []
    for d, n in enumerate(shape):
        if d >= off and p.shape[d - off] == n:
            axes.append(p.axes[d - off])
        else:
            axes.append((n,) if n > 1 else ())
    return Param(tuple(shape), tuple(axes))


def _literals(ctx: Context, node: fx.Node, out: Param) -> None:
    """A literal size that counts one axis follows it (through the owner's attribute, as
    in ``reshape(1, self.out_channels, -1)``); one that counts a product of several axes
    cannot, so those axes are frozen."""
    for d, axis in enumerate(out.axes):
        path = size_literal(node, d, len(out.shape))
        ids = [f for f in axis if isinstance(f, np.ndarray)]
        if path is None or not ids:
            continue
        if len(axis) == 1:
            literal(ctx, node, path, ids[0], ids[0])
        else:
            ctx.freeze(Param((out.shape[d],), (axis,)),
                       f"{node.name}: a literal size counts several weight axes at once")


@register_param((torch.permute, torch.transpose, torch.swapaxes, torch.movedim),
                ("permute", "transpose", "swapaxes", "movedim"))
def permute(ctx: Context, node: fx.Node) -> Value:
    p = ctx.value(node.args[0])
    if not isinstance(p, Param):
        return None
    perm = permutation(node, len(p.shape))  # perm[new] = old
    return Param(ctx.shape(node), tuple(p.axes[old] for old in perm))


@register_param((operator.getitem,))
def getitem(ctx: Context, node: fx.Node) -> Value:
    """Tuples of Params (var_mean) index plainly; tensors only through None/:/... (views)."""
    base, index = ctx.value(node.args[0]), node.args[1]
    if isinstance(base, (tuple, list)):
        return base[index] if isinstance(index, int) else None
    entries = index if isinstance(index, tuple) else (index,)
    if not isinstance(base, Param) or not all(
        e is None or e is Ellipsis or e == slice(None) for e in entries
    ):
        return None
    return regroup(base.factors(), ctx.shape(node))


# --- element-wise arithmetic --------------------------------------------------------------

_BINARY = (
    operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, torch.add,
    torch.sub, torch.mul, torch.div, torch.pow, torch.maximum, torch.minimum,
)
_BINARY_METHODS = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "rsub")


@register_param(_BINARY, _BINARY_METHODS)
def elementwise(ctx: Context, node: fx.Node) -> Value:
    """Broadcasting: along each output dim the operands that span it must carry the same
    factor sizes; their elements are joined (a gain (O, 1, 1, 1) times a weight)."""
    shape = ctx.shape(node)
    if shape is None:
        return None
    axes: list[tuple[Factor, ...] | None] = [None] * len(shape)
    for arg in [*node.args, *node.kwargs.values()]:
        p = ctx.value(arg)
        if not isinstance(p, Param):
            if ctx.shape(arg) and any(n > 1 for n in ctx.shape(arg)):
                return None  # a tensor of unknown origin with extent
            continue
        off = len(shape) - len(p.shape)
        for d, axis in enumerate(p.axes):
            if p.shape[d] == 1:
                continue
            have = axes[d + off]
            if have is None:
                axes[d + off] = axis
            elif not _join(ctx, have, axis):
                return None
    return Param(shape, tuple(a if a is not None else ((n,) if n > 1 else ())
                              for a, n in zip(axes, shape, strict=True)))


def _join(ctx: Context, a: tuple[Factor, ...], b: tuple[Factor, ...]) -> bool:
    if [factor_size(f) for f in a] != [factor_size(f) for f in b]:
        return False
    for fa, fb in zip(a, b, strict=True):
        if isinstance(fa, np.ndarray) and isinstance(fb, np.ndarray):
            ctx.uf.union_arrays(fa, fb)
    return True


# --- reductions and normalisation ---------------------------------------------------------

_REDUCE = (torch.mean, torch.sum, torch.var, torch.std, torch.amax, torch.amin, torch.norm,
           torch.var_mean, torch.std_mean)
_REDUCE_METHODS = ("mean", "sum", "var", "std", "amax", "amin", "norm")
# Positions of (dim, keepdim) where they differ from (1, 2): norm(p, ord, dim, keepdim),
# var/std(x, dim, unbiased, keepdim).
_REDUCE_ARGS = {"norm": (2, 3), "var": (1, 3), "std": (1, 3), "var_mean": (1, 3), "std_mean": (1, 3)}


@register_param(_REDUCE, _REDUCE_METHODS)
def reduce(ctx: Context, node: fx.Node) -> Value:
    p = ctx.value(node.args[0])
    if not isinstance(p, Param):
        return None
    nd = len(p.shape)
    at_dim, at_keep = _REDUCE_ARGS.get(str(getattr(node.target, "__name__", node.target)), (1, 2))
    dim = ctx.arg(node, at_dim, "dim")
    if dim is not None and not isinstance(dim, (int, tuple, list)):
        return None
    reduced = set(range(nd)) if dim is None else {int(d) % nd for d in np.atleast_1d(dim).tolist()}
    mix(ctx, node, p, reduced)
    keep = bool(ctx.arg(node, at_keep, "keepdim", False))
    axes = tuple(() if d in reduced else a for d, a in enumerate(p.axes) if keep or d not in reduced)
    meta = node.meta.get("tensor_meta")
    if isinstance(meta, (tuple, list)) and not hasattr(meta, "shape"):  # var_mean
        return tuple(Param(tuple(m.shape), axes) for m in meta)
    return Param(ctx.shape(node), axes)


def mix(ctx: Context, node: fx.Node, p: Param, dims: set[int]) -> None:
    """Positions along ``dims`` now depend on each other: not exact to remove."""
    for d in dims:
        for f in p.axes[d]:
            if isinstance(f, np.ndarray):
                tensor = ctx.origin.get(int(f[0]), ("a weight",))[0]
                ctx.mark_inexact(Param((len(f),), ((f,),)),
                                 f"{node.name}: {tensor} is normalised across this axis (weight "
                                 "standardisation), so removing a channel changes the others' weights")


@register_param((F.batch_norm, F.layer_norm))
def normalise(ctx: Context, node: fx.Node) -> Value:
    """F.batch_norm on a (1, O, I*k*k) view standardises each O row over the rest (timm's
    StdConv2d/ScaledStdConv2d); F.layer_norm normalises its last dims."""
    p = ctx.value(node.args[0])
    if not isinstance(p, Param):
        return None
    nd = len(p.shape)
    if node.target is F.batch_norm:
        kept, params = {1}, [_kwarg(node, i, k) for i, k in ((1, "running_mean"), (2, "running_var"),
                                                              (3, "weight"), (4, "bias"))]
    else:
        k = len(ctx.arg(node, 1, "normalized_shape"))
        kept, params = set(range(nd - k)), [_kwarg(node, 2, "weight"), _kwarg(node, 3, "bias")]
    mix(ctx, node, p, set(range(nd)) - kept)
    for arg in params:
        v = ctx.value(arg)
        if isinstance(v, Param) and node.target is F.batch_norm:
            if not _join(ctx, v.axes[0], p.axes[1]):
                return None
        elif v is not None or ctx.shape(arg) is not None:
            return None
    return p


def _kwarg(node: fx.Node, index: int, name: str) -> Any:
    return node.args[index] if len(node.args) > index else node.kwargs.get(name)
