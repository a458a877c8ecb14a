"""Which channels to remove in one pruning step: least importance per learnable, globally."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Candidate:
    """A prunable group as the selector sees it."""

    scores: torch.Tensor  # (size,) importance of each channel, loss units per example
    costs: torch.Tensor  # (size,) learnables removing each channel saves (all members together)
    min_keep: int = 1  # channels that must remain (never empty a group)


def select_channels(candidates: Mapping[int, Candidate], target: int) -> tuple[dict[int, list[int]], int]:
    """Greedy global choice by score / cost until about ``target`` learnables are removed.

    Returns the plan {group id: channel indices} and the learnables it removes counted by
    ``costs`` (an estimate: when two coupled groups lose channels, a weight shared by both is
    counted twice; the caller counts the real figure on the pruned network).
    """
    ranked = []
    for gid, c in candidates.items():
        ratio = c.scores.double() / c.costs.double().clamp(min=1)
        ranked.extend((r, gid, index) for index, r in enumerate(ratio.tolist()))
    ranked.sort()
    removable = {gid: len(c.scores) - c.min_keep for gid, c in candidates.items()}
    plan: dict[int, list[int]] = {}
    removed = 0
    for _, gid, index in ranked:
        if removed >= target:
            break
        if removable[gid] <= 0:
            continue
        removable[gid] -= 1
        plan.setdefault(gid, []).append(index)
        removed += int(candidates[gid].costs[index])
    return {gid: sorted(ix) for gid, ix in plan.items()}, removed
