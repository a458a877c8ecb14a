"""Handlers for ops that move channels around: reshape/flatten, permute, indexing,
concatenation, chunk/split and constant padding of the channel axis.

Literals that count channels (slice bounds, split sections, pad widths, view sizes) are
recorded as ConstRewrite so surgery can rewrite them.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .concrete import VALUED, ShapeInt
from .context import Context, Value
from .registry import register_function, register_method, register_module
from .values import Chan, Param, Size, expand, simplify, size_of

# --- reshape family ------------------------------------------------------------------


def dim_groups(a: tuple[int, ...], b: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """Pair runs of dims of shape a and shape b with equal products (how a view regroups)."""
    groups, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        si, sj, pa, pb = [], [], 1, 1
        if i < len(a):
            pa, i = a[i], i + 1
            si.append(i - 1)
        if j < len(b):
            pb, j = b[j], j + 1
            sj.append(j - 1)
        while pa != pb:
            if pa < pb and i < len(a):
                pa, i = pa * a[i], i + 1
                si.append(i - 1)
            elif pb < pa and j < len(b):
                pb, j = pb * b[j], j + 1
                sj.append(j - 1)
            else:
                break
        groups.append((si, sj))
    return groups


@register_module(nn.Flatten)
@register_function(torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze)
@register_method(
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "unflatten", "view_as", "reshape_as"
)
def reshape(ctx: Context, node: fx.Node) -> Value:
    """Regroup dims. Flattening spreads each channel over a block of features; splitting the
    channel axis into (a, b) keeps a fixed and ties the a entries of each b together, so the
    split stays rectangular after pruning (this maps a channel shuffle exactly)."""
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan) or shape is None:
        _freeze_sizes(ctx, node, len(shape or ()))
        return None
    hit = [g for g in dim_groups(x.shape, shape) if set(g[0]) & set(x.dims)]
    if len(hit) != 1 or not set(x.dims) <= set(hit[0][0]) or not hit[0][1]:
        ctx.freeze(x, f"{node.name}: reshape mixes the channel axis with other dims")
        return ctx.fresh_frozen(shape, f"{node.name}: output of an unfollowed reshape")
    src, dst = hit[0]
    ids = np.ascontiguousarray(expand(x, tuple(src))).reshape([shape[d] for d in dst])
    out = simplify(shape, tuple(dst), ids)
    if len(out.dims) > 1:
        columns = out.ids.reshape(-1, out.ids.shape[-1])  # (outer, inner)
        ctx.uf.union_arrays(columns, columns[:1])
    before = [size_of(x, d).ids for d in x.dims]
    after = [(d, size_of(out, d).ids) for d in out.dims if not ctx.fixed_extent(out, d)]
    if not check_sizes(ctx, node, before, after, out):
        reason = f"{node.name}: a view sized by another tensor's channel count"
        ctx.freeze(x, reason)
        ctx.freeze(out, reason)
    _view_literals(ctx, node, out)
    return out


def _freeze_sizes(ctx: Context, node: fx.Node, nd: int) -> None:
    """A view of a tensor whose channels are not followed keeps its size in every plan, so
    channels a size of it is read from (VOLO: ``unfold(v).reshape(B, heads, C // heads, ...)``
    with ``C`` the input's channels) must stay."""
    for d in range(nd):
        found = size_arg(node, d, nd)
        raw = found[1] if found else None
        size = _shape_int(ctx, raw) if isinstance(raw, ShapeInt) else (
            ctx.value(raw) if isinstance(raw, fx.Node) else None)
        for ids in size.chans if isinstance(size, Size) else ():
            ctx.freeze(Chan((len(ids),), (0,), ids), f"{node.name}: sizes a view of a tensor not followed")


def _view_literals(ctx: Context, node: fx.Node, out: Chan) -> None:
    """Rewrite a literal size given for the innermost channel dim of a view/reshape."""
    path = size_literal(node, out.dims[-1], len(out.shape))
    if path is not None:
        inner = out.ids.reshape(-1, out.ids.shape[-1])[0]  # one entry per kept column
        ctx.const(node, path, inner)


def size_arg(node: fx.Node, d: int, nd: int) -> tuple[tuple[int, ...], Any] | None:
    """(path in node.args, value) of the size a view, reshape or unflatten gives output dim
    ``d``; None for other ops."""
    name = getattr(node.target, "__name__", node.target)
    if name not in ("view", "reshape", "unflatten"):
        return None
    if name == "unflatten":
        sizes = node.args[2]
        first = _dim(node.args[1], nd - len(sizes) + 1)
        path: tuple[int, ...] = (2, d - first)
    elif len(node.args) == 2 and isinstance(node.args[1], (tuple, list)):
        sizes, path = node.args[1], (1, d)
    else:
        sizes, path = node.args[1:], (1 + d,)
    k = path[-1] if name == "unflatten" or len(path) == 2 else d
    return (path, sizes[k]) if 0 <= k < len(sizes) else None


def size_literal(node: fx.Node, d: int, nd: int) -> tuple[int, ...] | None:
    """Path of the int literal (not -1) that sizes output dim ``d`` of a view, if any."""
    found = size_arg(node, d, nd)
    return found[0] if found and _literal(found[1]) and found[1] != -1 else None


def _literal(value: Any) -> bool:
    """An int written in the code, not one read from a shape (ShapeInt) or a bool."""
    return type(value) is int


def check_sizes(
    ctx: Context,
    node: fx.Node,
    before: list[np.ndarray],
    after: list[tuple[int, np.ndarray]],
    out: Chan | None = None,
) -> bool:
    """Sizes read from shapes where a view puts channels (``x.view(B, C // 2, 2, H, W)``
    with ``C = x.size(1)``). ``before``: the input's channels per dim; ``after``: (output
    dim, its channels); ``out``: the whole output, if a Chan. A size computed from the
    input's own channel counts follows them. One read from other channels (``C // heads``
    with ``C`` the stream's, sizing q's head dim) becomes a literal that pruning rewrites
    (regraph.py), so the two stay apart. In a module traced with values, where nothing can
    be rewritten, the size is made to follow: its channels are joined one to one with an
    equally long block of the output's channels (``C`` with the heads x head_dim of
    ``reshape(B, N, 3, heads, C // heads)``) when the size's arithmetic then gives the
    right count for every plan. Otherwise: False."""
    nd = len(ctx.shape(node))
    other = ctx.value(node.args[1]) if str(node.target) in ("view_as", "reshape_as") else None
    for d, ids in after:
        found = size_arg(node, d, nd)
        raw = found[1] if found else (node.args[1] if other is not None else None)
        if raw is None or _literal(raw) or isinstance(raw, bool):
            continue
        size = (size_of(other, d) if other is not None
                else _shape_int(ctx, raw) if isinstance(raw, ShapeInt) else ctx.value(raw))
        if not isinstance(size, Size):
            return False
        if all(_counted_in(ctx, c, [*before, ids]) for c in size.chans):
            continue
        if found is not None and isinstance(raw, fx.Node) and not node.meta.get(VALUED):
            reads = np.concatenate(size.chans) if size.chans else np.zeros(0, np.int64)
            ctx.const(node, found[0], ids, reads=reads)  # made the literal count (regraph.py)
            continue
        if size.ids is not None and len(size.ids) == len(ids):
            ctx.uf.union_arrays(size.ids, ids)
        elif not _follow_block(ctx, size, out.ids if out is not None else ids, len(ids)):
            return False
    return True


def _shape_int(ctx: Context, value: ShapeInt) -> Size:
    """The Size a ShapeInt stands for: the channels of the dim it was read from."""
    node = next((n for n in ctx.env if n.name == value.source[0]), None)
    size = size_of(ctx.env.get(node), value.source[1]) if node is not None else Size()
    ids = size.ids if value.steps == () else None
    return Size(size.chans, ids, value.steps)


def _follow_block(ctx: Context, size: Size, ids: np.ndarray, n: int) -> bool:
    """Join the size's one source with the leading-index-0 block of ``ids`` as long as it;
    True if its arithmetic then gives n' for every count n' of the sized dim. A dim that
    repeats each channel m times in a row (``reshape(B, C * k * k, L)`` of channel-major
    window rows) is joined one entry per run, its count m times the source's."""
    if len(size.chans) != 1 or size.steps is None:
        return False
    source = size.chans[0]
    while ids.size > len(source) and ids.ndim > 1:
        ids = ids[0]
    for m in dict.fromkeys((1, _run(ctx, ids.ravel()))):
        block = ids.ravel()[::m]
        r, rest = divmod(len(source), n // m)
        if block.size == len(source) and not rest and n % m == 0 and all(
            size.count(r * k) == m * k for k in range(1, n // m + 1)
        ):
            ctx.uf.union_arrays(source, block)
            return True
    return False


def _run(ctx: Context, ids: np.ndarray) -> int:
    """m when ``ids`` is runs of m positions of one channel each, else 1."""
    roots = np.array([ctx.uf.find(int(e)) for e in ids])
    m = int(np.argmax(roots != roots[0])) or len(roots)
    runs = roots.reshape(-1, m) if len(roots) % m == 0 else None
    return m if runs is not None and (runs == runs[:, :1]).all() else 1


def _counted_in(ctx: Context, ids: np.ndarray, candidates: list[np.ndarray]) -> bool:
    roots = np.sort([ctx.uf.find(int(e)) for e in ids])
    return any(len(c) == len(ids) and np.array_equal(np.sort([ctx.uf.find(int(e)) for e in c]), roots)
               for c in candidates)


def _dim(d: Any, nd: int) -> int:
    return int(d) % nd


@register_function(torch.permute, torch.transpose, torch.swapaxes, torch.movedim)
@register_method("permute", "transpose", "swapaxes", "movedim")
def permute(ctx: Context, node: fx.Node) -> Value:
    """Channel dims move with the permutation (ConvNeXt's NCHW <-> NHWC)."""
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan):
        return None
    nd = len(x.shape)
    perm = permutation(node, nd)  # perm[new] = old
    new_of = {old: new for new, old in enumerate(perm)}
    new_dims = [new_of[d] for d in x.dims]
    order = np.argsort(new_dims)
    return Chan(shape, tuple(sorted(new_dims)), np.transpose(x.ids, order))


def permutation(node: fx.Node, nd: int) -> list[int]:
    """perm[new] = old dim of a permute/transpose/swapaxes/movedim node."""
    name = node.target if isinstance(node.target, str) else node.target.__name__
    args = node.args[1:] or tuple(node.kwargs.values())
    if name == "permute":
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        return [_dim(d, nd) for d in dims]
    if name == "movedim":
        perm = [d for d in range(nd) if d != _dim(args[0], nd)]
        perm.insert(_dim(args[1], nd), _dim(args[0], nd))
        return perm
    a, b = _dim(args[0], nd), _dim(args[1], nd)  # transpose / swapaxes
    perm = list(range(nd))
    perm[a], perm[b] = b, a
    return perm


# --- indexing ---------------------------------------------------------------------------


@register_function(operator.getitem)
def getitem(ctx: Context, node: fx.Node) -> Value:
    base, index = node.args[0], node.args[1]
    value = ctx.value(base)
    if isinstance(value, (tuple, list)):
        return value[index] if isinstance(index, (int, slice)) else None
    if not isinstance(value, Chan):
        return None
    return _index(ctx, node, value, index)


def _index(ctx: Context, node: fx.Node, x: Chan, index: Any) -> Value:
    """Basic indexing: channel slices with step 1 select ids (bounds rewritten), an int picks
    one slice along a dim that cannot shrink; anything else touching the channel axis
    (ints, steps, tensors) freezes it."""
    shape, nd = ctx.shape(node), len(x.shape)
    entries = list(index) if isinstance(index, tuple) else [index]
    if not all(e is None or e is Ellipsis or isinstance(e, (int, slice)) for e in entries):
        ctx.freeze(x, f"{node.name}: advanced indexing")
        return ctx.fresh_frozen(shape, f"{node.name}: output of advanced indexing")
    used = sum(e is not None and e is not Ellipsis for e in entries)
    if Ellipsis in entries:
        at = entries.index(Ellipsis)
        entries[at : at + 1] = [slice(None)] * (nd - used)
    else:
        entries += [slice(None)] * (nd - used)
    in_dim, out_dim, dims, ids = 0, 0, [], x.ids
    axes = list(x.dims)  # the input dims that ids' axes still index
    for pos, e in enumerate(entries):
        if e is None:
            out_dim += 1
            continue
        if in_dim in x.dims and isinstance(e, int) and len(x.dims) > 1 and ctx.fixed_extent(x, in_dim):
            ids = np.take(ids, e, axis=axes.index(in_dim))  # qkv[0] of a (3, heads, d) view
            axes.remove(in_dim)
        elif in_dim in x.dims and e != slice(None):
            if not _channel_slice(e) or x.dim is None:
                ctx.freeze(x, f"{node.name}: indexes the channel axis with {e!r}")
                return ctx.fresh_frozen(shape, f"{node.name}: output of channel indexing")
            ids = _slice_ids(ctx, node, x.ids, e, (1, pos) if isinstance(index, tuple) else (1,))
        if not isinstance(e, int):
            dims += [out_dim] if in_dim in x.dims else []
            out_dim += 1
        in_dim += 1
    return Chan(shape, tuple(dims), ids)


def _channel_slice(e: Any) -> bool:
    return (
        isinstance(e, slice)
        and e.step in (None, 1)
        and all(b is None or _literal(b) for b in (e.start, e.stop))
    )


def _slice_ids(ctx: Context, node: fx.Node, ids: np.ndarray, s: slice, path: tuple) -> np.ndarray:
    for field in ("start", "stop"):
        bound = getattr(s, field)
        if bound is None or bound == 0:
            continue
        if bound > 0:
            ctx.const(node, (*path, field), ids[:bound])
        else:
            ctx.const(node, (*path, field), ids[bound:], sign=-1)
    return ids[s]


# --- concatenation and splitting -------------------------------------------------------


@register_function(torch.cat, torch.concat, torch.concatenate)
def cat(ctx: Context, node: fx.Node) -> Value:
    """Along the channel axis ids are concatenated; along other dims inputs are joined."""
    shape = ctx.shape(node)
    tensors, nd = ctx.arg(node, 0, "tensors"), len(shape)
    dim = _dim(ctx.arg(node, 1, "dim", 0), nd)
    values = [ctx.value(t) for t in tensors]
    chans = [v for v in values if isinstance(v, Chan)]
    if not chans:
        return None
    if all(dim not in c.dims for c in chans):
        return _cat_along_other(ctx, node, tensors, values, chans, shape)
    parts = []
    for t, v in zip(tensors, values, strict=True):
        if isinstance(v, Chan) and v.dims == (dim,):
            parts.append(v.ids)
        else:
            ctx.freeze(v, f"{node.name}: concatenated input without channel ids")
            parts.append(ctx.fresh_frozen(ctx.shape(t), f"{node.name}: unfollowed input").ids)
    return Chan(shape, (dim,), np.concatenate(parts))


@register_function(torch.stack)
def stack(ctx: Context, node: fx.Node) -> Value:
    """Stacking adds a dim without channels: the inputs' channels are joined, as for a
    concatenation along a dim without channels (selective-kernel branches)."""
    shape = ctx.shape(node)
    tensors = ctx.arg(node, 0, "tensors")
    values = [ctx.value(t) for t in tensors]
    chans = [v for v in values if isinstance(v, Chan)]
    if not chans:
        return None
    dim = _dim(ctx.arg(node, 1, "dim", 0), len(shape))
    joined = _cat_along_other(ctx, node, tensors, values, chans, chans[0].shape)
    return Chan(shape, tuple(d + (d >= dim) for d in joined.dims), joined.ids)


def _cat_along_other(ctx: Context, node: fx.Node, tensors, values, chans, shape) -> Value:
    """Concatenating along a dim without channels (tokens): the inputs' channels are joined;
    a parameter (a class token) is sliced with them; anything else spanning them freezes."""
    first = chans[0]
    for t, v in zip(tensors, values, strict=True):
        if isinstance(v, Chan):
            ctx.join(first, v)
            continue
        off = len(first.shape) - len(ctx.shape(t))
        ids = v.ids(first.dim - off) if isinstance(v, Param) and first.dim is not None else None
        if ids is not None and len(ids) == len(first.ids):
            ctx.bind(ids, first.ids, "scale")
        else:
            ctx.freeze(first, f"{node.name}: concatenated with a tensor without those channels")
            ctx.freeze(v, f"{node.name}: concatenated with channels it does not follow")
    return first.with_shape(shape)


@register_function(torch.unbind)
@register_method("unbind")
def unbind(ctx: Context, node: fx.Node) -> Value:
    """Slices along a dim: plain ones keep the channels; along a channel dim only if that
    dim cannot shrink (q, k, v = qkv.unbind(0) of a (3, B, heads, N, head_dim) view)."""
    x, meta = ctx.value(node.args[0]), node.meta.get("tensor_meta")
    shapes = [tuple(m.shape) for m in meta]
    if not isinstance(x, Chan):
        return tuple(None for _ in shapes)
    dim = _dim(ctx.arg(node, 1, "dim", 0), len(x.shape))
    dims = tuple(d - (d > dim) for d in x.dims if d != dim)
    if dim not in x.dims:
        return tuple(Chan(s, dims, x.ids) for s in shapes)
    if len(x.dims) == 1 or not ctx.fixed_extent(x, dim):
        ctx.freeze(x, f"{node.name}: unbinds a channel axis")
        return tuple(ctx.fresh_frozen(s, f"{node.name}: unfollowed unbind") for s in shapes)
    at = x.dims.index(dim)
    return tuple(Chan(s, dims, np.take(x.ids, i, axis=at)) for i, s in enumerate(shapes))


@register_function(torch.chunk, torch.split)
@register_method("chunk", "split")
def split(ctx: Context, node: fx.Node) -> Value:
    """Explicit sections are rewritten; equal pieces (a count or a size) tie position i of
    every piece together so the pieces stay equal after pruning (ShuffleNet's chunk). The
    axis split may be one dim of several channel dims if the others cannot shrink (LeViT's
    per-head q, k, v sections)."""
    x, meta = ctx.value(node.args[0]), node.meta.get("tensor_meta")
    shapes = [tuple(m.shape) for m in meta]
    if not isinstance(x, Chan):
        return tuple(None for _ in shapes)
    dim = _dim(ctx.arg(node, 2, "dim", 0), len(x.shape))
    if dim not in x.dims:
        return tuple(x.with_shape(s) for s in shapes)
    sections = node.args[1] if len(node.args) > 1 else _first_kwarg(node, _SECTION_KEYS)
    listed = isinstance(sections, (tuple, list))
    if any(not ctx.fixed_extent(x, d) for d in x.dims if d != dim) or (
        listed and not all(type(n) is int for n in sections)
    ):
        ctx.freeze(x, f"{node.name}: split not followed")
        return tuple(ctx.fresh_frozen(s, f"{node.name}: unfollowed split") for s in shapes)
    at = x.dims.index(dim)
    sizes = [s[dim] for s in shapes]
    pieces = np.split(x.ids, np.cumsum(sizes)[:-1], axis=at)
    columns = [size_of(Chan(s, x.dims, p), dim).ids for s, p in zip(shapes, pieces, strict=True)]
    if listed:
        for k, piece in enumerate(columns):
            ctx.const(node, (1, k), piece)
    elif len(set(sizes)) == 1:
        for piece in pieces[1:]:
            ctx.uf.union_arrays(pieces[0], piece)
        if str(getattr(node.target, "__name__", node.target)) == "split" and isinstance(
            sections, int
        ):
            ctx.const(node, (1,), columns[0])
    else:
        ctx.freeze(x, f"{node.name}: split into unequal pieces by a size")
    return tuple(Chan(s, x.dims, p) for s, p in zip(shapes, pieces, strict=True))


_SECTION_KEYS = ("split_size_or_sections", "split_size", "chunks")


def _first_kwarg(node: fx.Node, keys: tuple[str, ...]) -> Any:
    return next((node.kwargs[k] for k in keys if k in node.kwargs), None)


# --- padding ----------------------------------------------------------------------------


@register_function(F.pad)
def pad(ctx: Context, node: fx.Node) -> Value:
    """Constant padding of the channel axis inserts new (constant) channels; they are
    prunable like any other and the pad widths are rewritten to match."""
    x, shape = ctx.value(node.args[0]), ctx.shape(node)
    if not isinstance(x, Chan):
        return None
    widths, nd = ctx.arg(node, 1, "pad"), len(x.shape)
    mode = ctx.arg(node, 2, "mode", "constant")
    chan_pairs = [d for d in x.dims if 2 * (nd - 1 - d) + 1 < len(widths)]
    if not chan_pairs or all(
        widths[2 * (nd - 1 - d)] == widths[2 * (nd - 1 - d) + 1] == 0 for d in chan_pairs
    ):
        return x.with_shape(shape)
    k = 2 * (nd - 1 - chan_pairs[0])
    left, right = widths[k], widths[k + 1]
    if (
        x.dim is None
        or mode != "constant"
        or not all(_literal(w) and w >= 0 for w in (left, right))
    ):
        ctx.freeze(x, f"{node.name}: pads the channel axis in a way not followed")
        return ctx.fresh_frozen(shape, f"{node.name}: output of an unfollowed pad")
    zl, zr = ctx.uf.fresh(left), ctx.uf.fresh(right)
    ctx.zeros.update(int(e) for e in (*zl, *zr))
    ctx.const(node, (1, k), zl)
    ctx.const(node, (1, k + 1), zr)
    return Chan(shape, x.dims, np.concatenate([zl, x.ids, zr]))
