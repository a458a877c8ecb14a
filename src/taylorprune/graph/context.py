"""The state the channel pass builds while handlers walk the traced graph.

Handlers never touch the model: they read shapes, create and join elements, and record
what surgery will need later (parameter slices, attribute counts, graph constants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch.fx as fx
from torch import nn

from .concrete import VALUED
from .values import Chan, Param, UnionFind, expand

Value = Any  # Chan | Param | None | tuple/list of values


@dataclass(frozen=True)
class RawMember:
    """Parameter/buffer ``tensor`` loses, along ``dim``, every position whose element is removed."""

    tensor: str  # qualified name, e.g. "layer1.0.conv1.weight"
    dim: int
    ids: np.ndarray  # (size along dim,) elements
    role: str  # "out" (producer rows), "in" (consumer columns), "norm", "scale"


@dataclass(frozen=True)
class PendingPoint:
    """A functional conv/linear/norm output, made a RawPoint if it is its module's output."""

    node: fx.Node
    kind: str  # "conv" | "linear" | "norm"
    chan: Chan


@dataclass(frozen=True)
class AttrCount:
    """Module attribute (or one entry of a tuple attribute) set to the number of kept ids."""

    module: str
    attr: str
    ids: np.ndarray
    index: int | None = None  # position inside a tuple attribute such as normalized_shape


@dataclass(frozen=True)
class ConstRewrite:
    """A literal in a node's arguments that counts channels (pad width, slice bound, view size).

    The new literal is ``sign * (number of kept ids)``, or ``pin`` once any of the ids is
    removed (a value the original computed from a channel count, such as the attention
    scale 1/sqrt(head dim), kept as it was); ``path`` walks node.args (ints index
    tuples/lists, "start"/"stop" read slices); a path that starts with a string names a
    keyword argument instead. With ``reads``, the entry is not a literal but a size the
    forward reads from other channels' shape (``C // heads``); it becomes the literal when
    the plan removes any of ``ids`` or of ``reads``.
    """

    node: str
    path: tuple[int | str, ...]
    ids: np.ndarray
    sign: int = 1
    pin: float | None = None
    reads: np.ndarray | None = None  # the entry is a size computed from these channels


def read_at(obj: Any, path: tuple[int | str, ...]) -> Any:
    """The entry at ``path`` in nested tuples/lists/slices."""
    for key in path:
        obj = getattr(obj, key) if isinstance(key, str) else obj[key]
    return obj


def read_literal(node: fx.Node, path: tuple[int | str, ...]) -> Any:
    """The literal a ConstRewrite path points at in a node's arguments (None: a keyword
    argument that is not given)."""
    if isinstance(path[0], str):
        return read_at(node.kwargs.get(path[0]), path[1:])
    return read_at(node.args, path)


@dataclass(frozen=True)
class RawPoint:
    """A module output where a channel's activation (and its gradient) can be read."""

    module: str
    kind: str  # "conv" | "linear" | "norm"
    call: int  # which call of the module (0 unless it is shared)
    chan: Chan


@dataclass
class Context:
    gm: fx.GraphModule
    model: nn.Module  # the traced model: modules traced through keep their class only here
    opaque: frozenset[str] = frozenset()  # submodules kept whole because fx cannot trace them
    tensors: frozenset[str] = frozenset()  # the model's parameters and buffers (sliceable)
    uf: UnionFind = field(default_factory=UnionFind)
    env: dict[fx.Node, Value] = field(default_factory=dict)
    frozen: dict[int, str] = field(default_factory=dict)  # element -> reason
    inexact: dict[int, str] = field(default_factory=dict)  # element -> reason
    zeros: set[int] = field(default_factory=set)  # elements made by constant padding
    members: dict[tuple[str, int], RawMember] = field(default_factory=dict)
    counts: dict[tuple[str, str, int | None], AttrCount] = field(default_factory=dict)
    consts: list[ConstRewrite] = field(default_factory=list)
    points: list[RawPoint] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    origin: dict[int, tuple[str, int]] = field(default_factory=dict)  # axis's 1st element -> member key
    pending: list[PendingPoint] = field(default_factory=list)
    rows: dict[fx.Node, Chan] = field(default_factory=dict)  # product -> the channels of its
    # right operand's rows, which it contracts (ops_attention: q @ (k^T v))

    # --- reading the graph ---------------------------------------------------------
    def module(self, node: fx.Node) -> nn.Module:
        return self.gm.get_submodule(str(node.target))

    def submodule(self, name: str) -> nn.Module:
        """A module of the model by qualified name (in the graph module, modules that were
        traced through are plain containers of their tensors)."""
        return self.model.get_submodule(name)

    def value(self, arg: Any) -> Value:
        """The pass's value for an argument (nodes looked up, containers mapped)."""
        if isinstance(arg, fx.Node):
            return self.env.get(arg)
        if isinstance(arg, (tuple, list)):
            return type(arg)(self.value(a) for a in arg)
        if isinstance(arg, dict):  # e.g. a segmentation network's {"out": ..., "aux": ...}
            return tuple(self.value(a) for a in arg.values())
        return None

    def arg(self, node: fx.Node, index: int, name: str, default: Any = None) -> Any:
        """A raw argument by position or keyword."""
        if len(node.args) > index:
            return node.args[index]
        return node.kwargs.get(name, default)

    @staticmethod
    def shape(arg: Any) -> tuple[int, ...] | None:
        """Shape of a tensor-valued node from shape propagation, None for non-tensors."""
        meta = arg.meta.get("tensor_meta") if isinstance(arg, fx.Node) else None
        shape = getattr(meta, "shape", None)
        return tuple(shape) if shape is not None else None

    def scope(self, node: fx.Node) -> str:
        """Qualified name of the innermost module whose forward made this node."""
        stack = node.meta.get("nn_module_stack") or {}
        return list(stack.values())[-1][0] if stack else ""

    # --- elements ----------------------------------------------------------------------
    def fresh(self, shape: tuple[int, ...], dim: int) -> Chan:
        return Chan(tuple(shape), (dim,), self.uf.fresh(shape[dim]))

    def fresh_frozen(self, shape: tuple[int, ...] | None, reason: str) -> Chan | None:
        """New elements for a tensor we cannot follow, frozen (channel dim 1, or 0 for 1-D)."""
        if not shape:
            return None
        chan = self.fresh(shape, 1 if len(shape) > 1 else 0)
        self.freeze(chan, reason)
        return chan

    def freeze(self, value: Value, reason: str) -> None:
        """Freeze every element a value carries (channels, and parameter axes)."""
        for ids in _elements(value):
            for e in np.unique(ids).tolist():
                self.frozen.setdefault(e, reason)

    def mark_inexact(self, value: Value, reason: str) -> None:
        for ids in _elements(value):
            for e in np.unique(ids).tolist():
                self.inexact.setdefault(e, reason)

    def fixed_extent(self, chan: Chan, dim: int) -> bool:
        """No plan can shrink ``dim``: every slice along it holds the same channels (the
        heads of a (B, heads, N, head_dim) view whose head-dim channels every head shares)."""
        if dim not in chan.dims:
            return True
        if len(chan.dims) == 1:
            return chan.shape[dim] == 1
        roots = np.vectorize(self.uf.find, otypes=[np.int64])(chan.ids)
        slices = np.moveaxis(roots, chan.dims.index(dim), 0).reshape(roots.shape[chan.dims.index(dim)], -1)
        first = np.sort(slices[0])
        return all(np.array_equal(np.sort(s), first) for s in slices[1:])

    def uniform_along(self, chan: Chan, dim: int) -> bool:
        """Every position along ``dim`` holds the same channel (for fixed other indices), so
        mixing along it mixes nothing across channels."""
        if dim not in chan.dims:
            return True
        roots = np.vectorize(self.uf.find, otypes=[np.int64])(chan.ids)
        return bool((roots == np.take(roots, [0], axis=chan.dims.index(dim))).all())

    def join(self, a: Chan, b: Chan) -> None:
        """Join two tensors' channels position by position (dims may differ in extent)."""
        dims = tuple(sorted(set(a.dims) | set(b.dims)))
        self.uf.union_arrays(expand(a, dims), expand(b, dims))

    # --- parameters ------------------------------------------------------------------
    def param(self, node: fx.Node) -> Param | None:
        """Fresh elements for every dim of size > 1 of a get_attr tensor, recorded as members
        so surgery slices whichever of them end up joined with channels."""
        shape, target = self.shape(node), str(node.target)
        if shape is None:
            return None
        axes: list[tuple[np.ndarray, ...]] = []
        for d, n in enumerate(shape):
            if n == 1:
                axes.append(())
                continue
            ids = self.uf.fresh(n)
            axes.append((ids,))
            if target in self.tensors:
                self.member(target, d, ids, "scale")
                self.origin[int(ids[0])] = (target, d)
            else:
                self.freeze(Param((n,), ((ids,),)), f"{node.name}: {target} is a tensor "
                            "constant of the forward, not a parameter surgery can slice")
        return Param(tuple(shape), tuple(axes))

    def bind(self, ids: np.ndarray, channels: np.ndarray, role: str) -> None:
        """Join a parameter axis with channels, naming the parameter's role there."""
        self.uf.union_arrays(ids, channels)
        self.role(ids, role)

    def role(self, ids: np.ndarray, role: str) -> None:
        """Name the role of the parameter axis these elements came from (default "scale")."""
        key = self.origin.get(int(ids[0])) if len(ids) else None
        old = self.members.get(key) if key is not None else None
        if old is not None and len(old.ids) == len(ids) and old.role == "scale":
            self.members[key] = RawMember(old.tensor, old.dim, old.ids, role)

    # --- records for surgery -----------------------------------------------------------
    def member(self, tensor: str, dim: int, ids: np.ndarray, role: str) -> None:
        """Record a parameter slice; a shared module seen again joins its positions."""
        key = (tensor, dim)
        old = self.members.get(key)
        if old is None:
            self.members[key] = RawMember(tensor, dim, np.asarray(ids), role)
        elif old.ids.shape == np.shape(ids):
            self.uf.union_arrays(old.ids, np.asarray(ids))
        else:
            self.freeze(Chan((len(ids),), (0,), np.asarray(ids)), f"{tensor} used with two shapes")

    def count(self, module: str, attr: str, ids: np.ndarray, index: int | None = None) -> None:
        key = (module, attr, index)
        if key not in self.counts:
            self.counts[key] = AttrCount(module, attr, np.asarray(ids), index)

    def const(
        self,
        node: fx.Node,
        path: tuple[int | str, ...],
        ids: np.ndarray,
        sign: int = 1,
        pin: float | None = None,
        reads: np.ndarray | None = None,
    ) -> None:
        self.consts.append(ConstRewrite(node.name, path, np.asarray(ids), sign, pin, reads))

    def point(self, node: fx.Node, kind: str, chan: Chan) -> None:
        name = str(node.target)
        call = self.calls.get(name, 0)
        self.calls[name] = call + 1
        self.points.append(RawPoint(name, kind, call, chan))

    def specialised(self, compared: list[tuple[str, int]]) -> None:
        """Limits of modules traced with example values (concrete.py): a branch on a channel
        count, or a channel literal in their own code (which no plain trace can rewrite;
        their submodules that trace plainly can be), freezes."""
        nodes = {n.name: n for n in self.gm.graph.nodes}
        for name, dim in compared:
            value = self.env.get(nodes[name]) if name in nodes else None
            if isinstance(value, Chan) and dim in value.dims:
                self.freeze(value, f"{name}: a forward branches on this channel count")
        inside = [c for c in self.consts if nodes[c.node].meta.get(VALUED)]
        for c in inside:
            self.freeze(Chan((len(c.ids),), (0,), c.ids),
                        f"{c.node}: a channel count in a module traced with example shapes")
        self.consts = [c for c in self.consts if all(c is not i for i in inside)]

    def functional_point(self, node: fx.Node, kind: str, chan: Chan) -> None:
        """A functional op's output, readable by hooks only if its module returns it."""
        self.pending.append(PendingPoint(node, kind, chan))


def _elements(value: Value) -> list[np.ndarray]:
    """Element arrays of every Chan and every parameter axis inside a value."""
    out = [c.ids for c in chans(value)]
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Param):
            out += [f for f in v.factors() if isinstance(f, np.ndarray)]
        elif isinstance(v, (tuple, list)):
            stack += list(v)
    return out


def chans(value: Value) -> list[Chan]:
    """Every Chan inside a value (containers walked)."""
    if isinstance(value, Chan):
        return [value]
    if isinstance(value, (tuple, list)):
        return [c for v in value for c in chans(v)]
    if isinstance(value, dict):
        return [c for v in value.values() for c in chans(v)]
    return []
