"""Which channels to remove in one pruning step: least importance per learnable, globally."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Candidate:
    """A prunable group as the selector sees it."""

    scores: torch.Tensor  # (size,) importance of each channel, loss units per example
    costs: torch.Tensor  # (size,) what removing each channel saves: learnables (all members), MACs or ns
    min_keep: int = 1  # channels that must remain (never empty a group)


def select_channels(candidates: Mapping[int, Candidate], target: float,
                    multiple: int = 1) -> tuple[dict[int, list[int]], float]:
    """Greedy global choice by score / cost until about ``target`` of the cost is removed.

    Returns the plan {group id: channel indices} and the cost it removes counted by
    ``costs`` (an estimate: when two coupled groups lose channels, a weight shared by both is
    counted twice; the caller counts the real figure on the pruned network). A channel
    whose removal saves nothing (cost 0) is never chosen. With
    ``multiple`` > 1 every group the step touches keeps a multiple of that many channels
    (GPU kernels prefer such widths): see round_kept.
    """
    ranked: list[tuple[float, int, int, float]] = []  # (score per cost, group, channel, cost)
    for gid, c in candidates.items():
        ranked.extend((r, gid, index, cost) for index, (r, cost) in enumerate(zip(_ratio(c).tolist(),
                                                                                   c.costs.tolist(), strict=True))
                      if cost > 0)
    ranked.sort()
    removable = {gid: len(c.scores) - c.min_keep for gid, c in candidates.items()}
    plan: dict[int, list[int]] = {}
    removed = 0.0
    for _, gid, index, cost in ranked:
        if removed >= target:
            break
        if removable[gid] <= 0:
            continue
        removable[gid] -= 1
        plan.setdefault(gid, []).append(index)
        removed += cost
    if multiple > 1:
        plan = {gid: round_kept(candidates[gid], ix, multiple) for gid, ix in plan.items()}
        removed = sum(float(candidates[gid].costs[ix].sum()) for gid, ix in plan.items())
    return {gid: sorted(ix) for gid, ix in plan.items() if ix}, removed


def round_kept(c: Candidate, chosen: list[int], multiple: int) -> list[int]:
    """``chosen`` adjusted so the channels kept are a multiple of ``multiple``.

    Rounds the kept count down (removing the group's next least important channels), or up
    (sparing the most important of the chosen) where down would fall below ``multiple`` or
    ``min_keep``. A group narrower than ``multiple`` keeps the greedy choice.
    """
    size = len(c.scores)
    keep = size - len(chosen)
    down, up = keep // multiple * multiple, -(-keep // multiple) * multiple
    order = _ratio(c).argsort().tolist()  # least important per learnable first
    if down >= max(multiple, c.min_keep):
        return order[: size - down]
    if up <= size:
        return order[: size - up]
    return chosen


def _ratio(c: Candidate) -> torch.Tensor:
    return c.scores.double() / c.costs.double().clamp(min=1)
