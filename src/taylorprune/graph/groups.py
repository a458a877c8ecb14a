"""Channel groups: the result of the channel pass, and what a pruning plan removes.

A *channel* is one union-find class of elements (every place one logical channel lives).
A *group* is the set of channels that appear in exactly the same tensors with the same
frozen status; e.g. the 16 output channels of a conv and its BN, or the residual stream
of a ResNet stage. Channels of a group are interchangeable for the pruning loop: it
picks indices 0..size-1 of a group in a plan ``{group_id: [indices to remove]}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch.fx as fx
from torch import nn

from ..errors import InputError
from .context import AttrCount, ConstRewrite, Context, RawMember, chans

Plan = Mapping[int, Sequence[int]]


@dataclass(frozen=True)
class Member:
    """Where a group's channels live in one parameter or buffer.

    ``indices[k]`` are the positions along ``dim`` of ``tensor`` (a qualified name such as
    "layer1.0.conv1.weight") that channel k of the group occupies; they are removed when
    channel k is pruned. ``role`` is "out" (producer rows), "in" (consumer columns),
    "norm" (BN/LN/GN affine and statistics) or "scale" (per-channel parameters such as
    ConvNeXt's layer_scale).
    """

    tensor: str
    dim: int
    role: str
    indices: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class OutputPoint:
    """A module output that carries the group's channels: where an importance scorer reads
    activation x gradient. ``indices[k]`` are channel k's positions along ``dim`` of the
    output of the ``call``-th call of ``module``; ``kind`` is "conv", "linear" or "norm"
    (a BN after a conv is the usual Taylor-criterion point)."""

    module: str
    kind: str
    call: int
    dim: int
    indices: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ChannelGroup:
    """Channels that are pruned as interchangeable units.

    ``params_per_channel[k]`` is the number of learnable parameters channel k owns, i.e.
    what removing it alone saves (weights shared with other removed channels, such as a
    conv kernel whose input and output channels are both removed, are counted by each;
    use ``ChannelGraph.params_removed`` for the exact total of a plan).
    """

    id: int
    size: int  # number of channels
    prunable: bool
    reason: str | None  # why the group is frozen (None when prunable)
    exact: bool  # pruned(x) == masked(x) exactly; False after LayerNorm over channels etc.
    exact_reason: str | None  # why removal is not output-exact
    members: tuple[Member, ...]
    outputs: tuple[OutputPoint, ...]
    params_per_channel: tuple[int, ...]


@dataclass
class ChannelGraph:
    """Groups of one traced model plus the records surgery needs (not for direct use)."""

    groups: list[ChannelGroup]
    gm: fx.GraphModule  # traced graph, used to find and rewrite graph constants
    opaque: frozenset[str]  # submodules fx could not trace (kept whole, channels frozen)
    roots: np.ndarray  # element -> channel (union-find root)
    channels: dict[int, np.ndarray]  # group id -> its channels' roots, in index order
    members: list[RawMember]
    counts: list[AttrCount]
    consts: list[ConstRewrite]
    shapes: dict[str, tuple[int, ...]]  # every parameter/buffer shape
    learnable: frozenset[str]  # names of parameters that require grad
    valued: frozenset[str] = frozenset()  # submodules traced with example values (concrete.py)
    _index: dict[int, ChannelGroup] = field(default_factory=dict, repr=False)

    def group(self, group_id: int) -> ChannelGroup:
        if not self._index:
            self._index.update((g.id, g) for g in self.groups)
        return self._index[group_id]

    @property
    def prunable(self) -> list[ChannelGroup]:
        return [g for g in self.groups if g.prunable]

    def removed(self, plan: Plan) -> np.ndarray:
        """Roots of the channels a plan removes; InputError for an invalid plan."""
        out = []
        for gid, indices in plan.items():
            if not isinstance(gid, (int, np.integer)) or not 0 <= gid < len(self.groups):
                raise InputError(
                    f"plan names group {gid!r}, but groups are 0..{len(self.groups) - 1}"
                )
            g, idx = self.group(int(gid)), sorted({int(i) for i in indices})
            if not idx:
                continue
            if not g.prunable:
                raise InputError(f"plan touches frozen group {gid} ({g.reason}); leave it out")
            if idx[0] < 0 or idx[-1] >= g.size:
                raise InputError(
                    f"plan removes index {idx[-1]} of group {gid}, which has {g.size} channels"
                )
            if len(idx) >= g.size:
                raise InputError(
                    f"plan removes all {g.size} channels of group {gid}; keep at least one"
                )
            out.append(self.channels[g.id][idx])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def kept(self, ids: np.ndarray, removed: np.ndarray) -> np.ndarray:
        """Boolean mask: which of these elements survive."""
        return ~np.isin(self.roots[ids], removed)

    def params_removed(self, plan: Plan) -> int:
        """Exact number of learnable parameters the plan removes."""
        removed = self.removed(plan)
        kept_sizes: dict[str, dict[int, int]] = defaultdict(dict)
        for m in self.members:
            kept_sizes[m.tensor][m.dim] = int(self.kept(m.ids, removed).sum())
        total = 0
        for tensor, dims in kept_sizes.items():
            if tensor in self.learnable:
                shape = self.shapes[tensor]
                new = [dims.get(d, s) for d, s in enumerate(shape)]
                total += int(np.prod(shape)) - int(np.prod(new))
        return total

    def max_prunable_params(self) -> int:
        """Learnables removed by pruning every prunable group down to one channel."""
        return self.params_removed({g.id: range(1, g.size) for g in self.prunable})


def build_graph(
    ctx: Context, model: nn.Module, opaque: frozenset[str], valued: frozenset[str] = frozenset()
) -> ChannelGraph:
    """Turn the pass's union-find into groups with members, output points and costs."""
    roots = ctx.uf.roots()
    nodes = list(ctx.gm.graph.nodes)
    places: dict[int, set[int]] = defaultdict(set)
    first: dict[int, tuple[int, int]] = {}
    for order, node in enumerate(nodes):
        for chan in chans(ctx.env.get(node)):
            uniq, pos = np.unique(roots[chan.flat()], return_index=True)
            for r, p in zip(uniq.tolist(), pos.tolist(), strict=True):
                places[r].add(order)
                first.setdefault(r, (order, p))
    frozen = _by_root(ctx.frozen, roots)
    inexact = _by_root(ctx.inexact, roots)
    by_signature: dict[tuple, list[int]] = defaultdict(list)
    for r in sorted(first, key=first.__getitem__):
        by_signature[(frozenset(places[r]), frozen.get(r))].append(r)
    channels = dict(enumerate(np.array(rs, dtype=np.int64) for rs in by_signature.values()))
    where = {r: (gid, k) for gid, rs in channels.items() for k, r in enumerate(rs.tolist())}
    shapes = {n: tuple(t.shape) for n, t in [*model.named_parameters(), *model.named_buffers()]}
    learnable = frozenset(n for n, p in model.named_parameters() if p.requires_grad)
    # Parameter axes that never met a channel (kernel dims, unused weights) are no members.
    members = [m for m in ctx.members.values() if any(r in where for r in roots[m.ids].tolist())]
    sizes = {gid: len(rs) for gid, rs in channels.items()}
    group_members = _spread(members, roots, where, sizes, lambda m: (m.tensor, m.dim, m.role))
    points = _spread(
        ctx.points, roots, where, sizes, lambda p: (p.module, p.kind, p.call, p.chan.dims[0])
    )
    costs = _costs(members, roots, where, sizes, shapes, learnable)
    groups = []
    for gid, rs in channels.items():
        reason = frozen.get(int(rs[0]))
        why_inexact = next((inexact[r] for r in rs.tolist() if r in inexact), None)
        groups.append(
            ChannelGroup(
                id=gid,
                size=len(rs),
                prunable=reason is None,
                reason=reason,
                exact=why_inexact is None,
                exact_reason=why_inexact,
                members=tuple(Member(*key, idx) for key, idx in group_members[gid].items()),
                outputs=tuple(OutputPoint(*key, idx) for key, idx in points[gid].items()),
                params_per_channel=tuple(costs[gid]),
            )
        )
    return ChannelGraph(
        groups,
        ctx.gm,
        opaque,
        roots,
        channels,
        members,
        list(ctx.counts.values()),
        ctx.consts,
        shapes,
        learnable,
        valued,
    )


def _by_root(reasons: dict[int, str], roots: np.ndarray) -> dict[int, str]:
    out: dict[int, str] = {}
    for e in sorted(reasons):
        out.setdefault(int(roots[e]), reasons[e])
    return out


def _spread(records, roots, where, sizes, key) -> dict[int, dict[tuple, tuple]]:
    """Per group, per record key: each channel's positions in the record's 1-D ids."""
    group_of, index_of = _lookup(roots, where)
    out: dict[int, dict[tuple, tuple]] = {gid: {} for gid in sizes}
    for rec in records:
        ids = rec.ids if hasattr(rec, "ids") else rec.chan.ids
        if ids.ndim != 1:
            continue
        gids, ks = group_of[roots[ids]], index_of[roots[ids]]
        for gid in np.unique(gids[gids >= 0]).tolist():
            pos = np.flatnonzero(gids == gid)
            order = np.argsort(ks[pos], kind="stable")
            ends = np.cumsum(np.bincount(ks[pos], minlength=sizes[gid])).tolist()
            flat = pos[order].tolist()
            out[gid][key(rec)] = tuple(
                tuple(flat[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)
            )
    return out


def _lookup(roots: np.ndarray, where: dict[int, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(group id, index in group) per root as arrays; -1 for roots in no group."""
    group_of = np.full(len(roots), -1, dtype=np.int64)
    index_of = np.full(len(roots), -1, dtype=np.int64)
    if where:
        rs = np.fromiter(where, dtype=np.int64, count=len(where))
        gk = np.array(list(where.values()), dtype=np.int64)
        group_of[rs], index_of[rs] = gk[:, 0], gk[:, 1]
    return group_of, index_of


def _costs(members, roots, where, sizes, shapes, learnable) -> dict[int, list[int]]:
    """Learnable parameters each channel owns across all members."""
    costs = {g: [0] * n for g, n in sizes.items()}
    for m in members:
        if m.tensor not in learnable:
            continue
        shape = shapes[m.tensor]
        per_position = int(np.prod(shape)) // shape[m.dim]
        for r in roots[m.ids].tolist():
            if r not in where:
                continue
            g, k = where[r]
            costs[g][k] += per_position
    return costs
