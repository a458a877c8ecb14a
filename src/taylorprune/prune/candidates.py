"""From the channel graph to what the scorer and the selector need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..graph import ChannelGraph, ChannelGroup
from ..importance import ChannelScores, ScorePoint
from .select import Candidate


def score_points(cg: ChannelGraph, layer_names: Sequence[str] | None = None) -> dict[int, list[ScorePoint]]:
    """Where to read activation x gradient for every group that can still lose a channel."""
    out = {}
    for g in cg.prunable:
        if g.size < 2 or not g.outputs or not _selected(g, layer_names):
            continue
        out[g.id] = [ScorePoint(p.module, p.indices, p.call, p.dim) for p in _last_producers(cg, g)]
    return out


def _last_producers(cg: ChannelGraph, group: ChannelGroup) -> list:
    """Output points whose value is not fed straight into another point of the group.

    A conv followed by its BN carries the same channel twice; masking zeroes the BN's
    output, so that is where the Taylor estimate of removing the channel is measured.
    """
    modules = {p.module for p in group.outputs}
    fed_forward = {
        node.target
        for node in cg.gm.graph.nodes
        if node.op == "call_module" and node.target in modules
        and any(u.op == "call_module" and u.target in modules and u.target != node.target for u in node.users)
    }
    return [p for p in group.outputs if p.module not in fed_forward]


def _selected(group: ChannelGroup, layer_names: Sequence[str] | None) -> bool:
    if layer_names is None:
        return True
    modules = {m.tensor.rsplit(".", 1)[0] for m in group.members}
    return bool(modules & set(layer_names))


def describe_unprunable(cg: ChannelGraph) -> str:
    """Why nothing can be pruned: groups at one channel, and frozen groups with their reasons."""
    at_minimum = [g.id for g in cg.prunable if g.size < 2]
    frozen = [f"group {g.id} ({g.size} channels): {g.reason}" for g in cg.groups if not g.prunable]
    parts = []
    if at_minimum:
        parts.append(f"{len(at_minimum)} prunable groups are down to one channel")
    if frozen:
        parts.append("frozen: " + "; ".join(frozen))
    return ". ".join(parts) or "the network has no channel groups"


def candidates_from_graph(cg: ChannelGraph, scores: Mapping[int, ChannelScores],
                          costs: Mapping[int, torch.Tensor]) -> dict[int, Candidate]:
    """Scores with what removing each channel saves (``costs``, per group: see prune.costs)."""
    return {gid: Candidate(s.score, costs[gid]) for gid, s in scores.items()}


def pruned_layers(original: nn.Module, pruned: nn.Module) -> list[str]:
    """Modules that own fewer learnables after pruning, in definition order."""
    before = _own_params(original)
    after = _own_params(pruned)
    return [name for name, n in before.items() if name in after and after[name] < n]


def _own_params(net: nn.Module) -> dict[str, int]:
    return {name: sum(p.numel() for p in m.parameters(recurse=False))
            for name, m in net.named_modules() if any(True for _ in m.parameters(recurse=False))}
