"""Handlers for ops that act on each channel separately: activations, element-wise
arithmetic with broadcasting, pooling, and reductions/softmax (channel-mixing when they
run over the channel axis)."""

from __future__ import annotations

import operator

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .context import Context, Value
from .registry import register_function, register_method, register_module
from .values import Chan, Param, Size, expand, simplify, size_of

# --- unary, shape-preserving ----------------------------------------------------------

UNARY_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
)
_UNARY_FUNCTIONS = (
    F.relu,
    F.relu_,
    F.relu6,
    F.leaky_relu,
    F.elu,
    F.selu,
    F.celu,
    F.gelu,
    F.silu,
    F.mish,
    F.hardswish,
    F.hardsigmoid,
    F.hardtanh,
    F.sigmoid,
    F.tanh,
    F.softplus,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    torch.relu,
    torch.relu_,
    torch.sigmoid,
    torch.tanh,
    torch.exp,
    torch.abs,
    torch.neg,
    torch.clamp,
    torch.clip,
    torch.sqrt,
    torch.rsqrt,
    torch.reciprocal,
    torch.log,
    torch.erf,
    torch.square,
    F.logsigmoid,
    F.softsign,
    F.hardshrink,
    F.tanhshrink,
    operator.neg,
    operator.pos,
    torch.clone,
    torch.zeros_like,  # shaped like their input at run time: they follow its channels
    torch.ones_like,
    torch.empty_like,
    torch.full_like,
    torch.rand_like,
    torch.randn_like,
    # Named, not imported: importing torchvision costs about 2 s of start-up.
    "torchvision.ops.stochastic_depth.stochastic_depth",  # scales whole samples: (N, 1, 1, 1) noise
)
_UNARY_METHODS = (
    "relu",
    "relu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "exp",
    "abs",
    "neg",
    "clamp",
    "clamp_",
    "clip",
    "sqrt",
    "rsqrt",
    "reciprocal",
    "log",
    "erf",
    "square",
    "contiguous",
    "clone",
    "detach",
    "float",
    "double",
    "half",
    "to",
    "type_as",
    "requires_grad_",
    "zero_",
    "fill_",
)


@register_module(*UNARY_MODULES)
@register_function(*_UNARY_FUNCTIONS)
@register_method(*_UNARY_METHODS)
def unary(ctx: Context, node: fx.Node) -> Value:
    """Same shape in and out, each channel mapped on its own."""
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if isinstance(x, Chan) and shape == x.shape:
        return x
    if isinstance(x, Chan):
        ctx.freeze(x, f"{node.name}: shape changed by an element-wise op")
        return ctx.fresh_frozen(shape, f"{node.name}: output of a shape-changing op")
    return None


# --- spatial: pooling, resizing, broadcasting expands ---------------------------------

_SPATIAL_MODULES = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.Upsample,
    nn.UpsamplingNearest2d,
    nn.UpsamplingBilinear2d,
    nn.ZeroPad2d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ReflectionPad2d,
    nn.ReplicationPad2d,
)
_SPATIAL_FUNCTIONS = (
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_max_pool3d,
    F.interpolate,
    torch.max_pool2d,
    torch.avg_pool1d,
    torch.adaptive_avg_pool1d,
)


@register_module(*_SPATIAL_MODULES)
@register_function(*_SPATIAL_FUNCTIONS)
@register_method("expand", "expand_as")
def spatial(ctx: Context, node: fx.Node) -> Value:
    """Acts on dims 2+ of an (N, C, ...) tensor: channels on dim 1 pass unchanged."""
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan) or shape is None:
        return None
    if len(shape) == len(x.shape) and all(d < 2 and shape[d] == x.shape[d] for d in x.dims):
        return x.with_shape(shape)
    ctx.freeze(x, f"{node.name}: spatial op that changes the channel axis")
    return ctx.fresh_frozen(shape, f"{node.name}: output of a channel-changing op")


# --- binary element-wise with broadcasting --------------------------------------------

_BINARY_FUNCTIONS = (
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.iadd,
    operator.isub,
    operator.imul,
    operator.itruediv,
    operator.pow,
    torch.add,
    torch.sub,
    torch.mul,
    torch.div,
    torch.maximum,
    torch.minimum,
    torch.where,
    torch.pow,
    torch.addcmul,
    torch.addcdiv,
    torch.lerp,
)
_BINARY_METHODS = (
    "add",
    "add_",
    "sub",
    "sub_",
    "mul",
    "mul_",
    "div",
    "div_",
    "maximum",
    "minimum",
    "pow",
    "addcmul",
    "addcmul_",
    "addcdiv",
    "lerp",
)


@register_function(*_BINARY_FUNCTIONS)
@register_method(*_BINARY_METHODS)
def elementwise(ctx: Context, node: fx.Node) -> Value:
    """Operands that span the channel axis are joined position by position; operands
    broadcast along it (size 1) leave it alone; per-channel parameters are sliced."""
    out_shape = ctx.shape(node)
    if out_shape is None:  # arithmetic on Python numbers: a Size stays one
        return size_arithmetic(ctx, node)
    nd = len(out_shape)
    full: list[Chan] = []
    for arg in [*node.args, *node.kwargs.values()]:
        shape, value = ctx.shape(arg), ctx.value(arg)
        if shape is None or not isinstance(value, Chan):
            continue
        off = nd - len(shape)
        if all(shape[d] == out_shape[d + off] for d in value.dims):
            full.append(Chan(out_shape, tuple(d + off for d in value.dims), value.ids))
    if not full:
        return None
    dims = tuple(sorted({d for c in full for d in c.dims}))
    for other in full[1:]:
        ctx.join(full[0], other)
    out = simplify(out_shape, dims, expand(full[0], dims))
    _unknown_operands(ctx, node, out)
    return out


_STEPS = {operator.add: "add", operator.sub: "sub", operator.mul: "mul", operator.floordiv: "floordiv"}


def size_arithmetic(ctx: Context, node: fx.Node) -> Value:
    """A Size combined with an int literal records the step; anything else loses them."""
    values = ctx.value(list(node.args))
    sizes = [v for v in values if isinstance(v, Size)]
    if not sizes:
        return None
    chans = tuple(c for v in sizes for c in v.chans)
    op = _STEPS.get(node.target)
    a, b = (node.args + (None,))[:2]
    if op and len(sizes) == 1 and isinstance(values[0], Size) and type(b) is int and sizes[0].steps is not None:
        return Size(chans, None, (*sizes[0].steps, (op, b)))
    if op in ("add", "mul") and len(sizes) == 1 and isinstance(values[1], Size) and type(a) is int:
        return Size(chans, None, (*(sizes[0].steps or ()), (op, a))) if sizes[0].steps is not None else Size(chans, None, None)
    return Size(chans, None, None)


def _unknown_operands(ctx: Context, node: fx.Node, out: Chan) -> None:
    """Join per-channel parameters with the channels; freeze when a tensor of unknown origin
    spans channels. A parameter's other axes are frozen: slicing them would break this op."""
    nd = len(out.shape)
    for arg in [*node.args, *node.kwargs.values()]:
        shape, value = ctx.shape(arg), ctx.value(arg)
        if shape is None or isinstance(value, Chan):
            continue
        off = nd - len(shape)
        spans = [d - off for d in out.dims if d - off >= 0 and shape[d - off] > 1]
        if isinstance(value, Param):
            ids = value.ids(spans[0]) if len(spans) == 1 and out.dim is not None else None
            if spans and (ids is None or len(ids) != len(out.ids)):
                ctx.freeze(out, f"{node.name}: combines channels with a parameter laid out otherwise")
            elif ids is not None:
                ctx.bind(ids, out.ids, "scale")
            rest = [a for d, a in enumerate(value.axes) if d not in spans]
            ctx.freeze(Param(shape, tuple(rest)), f"{node.name}: parameter axis not followed")
        elif spans:
            ctx.freeze(out, f"{node.name}: combines channels with a tensor of unknown origin")


# --- reductions and softmax ------------------------------------------------------------

_REDUCE_FUNCTIONS = (
    torch.mean,
    torch.sum,
    torch.amax,
    torch.amin,
    torch.max,
    torch.min,
    torch.std,
    torch.var,
    torch.logsumexp,
    torch.prod,
    torch.norm,
)
_REDUCE_METHODS = (
    "mean",
    "sum",
    "amax",
    "amin",
    "max",
    "min",
    "std",
    "var",
    "logsumexp",
    "prod",
    "norm",
)


@register_function(*_REDUCE_FUNCTIONS)
@register_method(*_REDUCE_METHODS)
def reduce(ctx: Context, node: fx.Node) -> Value:
    """Reducing other dims keeps the channels; reducing the channel axis mixes channels,
    so removal stays valid but is not exact (unless one channel spans that dim, as the
    groups of a (N, groups, C/groups) view do)."""
    x = ctx.value(node.args[0])
    if not isinstance(x, Chan):
        return None
    dim = ctx.arg(node, 1, "dim")
    if isinstance(dim, fx.Node) or (dim is not None and not isinstance(dim, (int, tuple, list))):
        return elementwise(ctx, node)  # torch.max(a, b) is element-wise
    nd = len(x.shape)
    reduced = set(range(nd)) if dim is None else {d % nd for d in np.atleast_1d(dim).tolist()}
    over = sorted(reduced & set(x.dims))
    if over and not all(ctx.uniform_along(x, d) for d in over):
        ctx.mark_inexact(x, f"{node.name}: reduction over the channel axis")
        return None
    ids, left = x.ids, [d for d in x.dims if d not in reduced]
    for d in reversed(over):  # one channel along it: keep index 0
        ids = np.take(ids, 0, axis=x.dims.index(d))
    if not left:
        return None
    keep = bool(ctx.arg(node, 2, "keepdim", False))
    dims = tuple(d if keep else d - sum(r < d for r in reduced) for d in left)
    x = Chan(x.shape, x.dims, ids)
    meta = node.meta.get("tensor_meta")
    if isinstance(meta, (tuple, list)) and not hasattr(meta, "shape"):  # (values, indices)
        return tuple(Chan(tuple(m.shape), dims, x.ids) for m in meta)
    return Chan(ctx.shape(node), dims, x.ids)


@register_function(F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, F.normalize)
@register_method("softmax", "log_softmax")
def softmax(ctx: Context, node: fx.Node) -> Value:
    """Normalising along a dim: over the channel axis each output depends on all channels."""
    x = ctx.value(node.args[0])
    at = 2 if node.target is F.normalize else 1  # normalize(x, p, dim)
    dim = ctx.arg(node, at, "dim", 1 if node.target is F.normalize else None)
    if isinstance(x, Chan) and (not isinstance(dim, int) or dim % len(x.shape) in x.dims):
        if not (isinstance(dim, int) and ctx.uniform_along(x, dim % len(x.shape))):
            ctx.mark_inexact(x, f"{node.name}: normalises over the channel axis")
    return x


# --- non-tensor queries ---------------------------------------------------------------


@register_function(torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.tensor)
@register_method("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor")
def created(ctx: Context, node: fx.Node) -> Value:
    """A tensor made in the forward has the size it was given, which no plan changes."""
    name = getattr(node.target, "__name__", node.target)
    return ctx.fresh_frozen(ctx.shape(node), f"{node.name}: a tensor made by {name} in the forward "
                            "keeps its size")


@register_function(getattr, len)
@register_method("size", "dim", "numel", "__len__")
def query(ctx: Context, node: fx.Node) -> Value:
    """Shape queries give Sizes that remember which channels they count; other tensor
    attributes (``x.T``) are not followed."""
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if shape is not None:
        ctx.freeze(x, f"{node.name}: tensor attribute not followed")
        return ctx.fresh_frozen(shape, f"{node.name}: tensor attribute not followed")
    full = ctx.shape(node.args[0])
    name = node.args[1] if node.target is getattr else str(getattr(node.target, "__name__", node.target))
    if full is None or name not in ("shape", "size", "len", "__len__"):
        return None
    dim = 0 if name in ("len", "__len__") else ctx.arg(node, 1, "dim")
    if name == "shape" or dim is None:
        return tuple(size_of(x, d) for d in range(len(full)))
    return size_of(x, int(dim) % len(full)) if isinstance(dim, int) else None
