"""Which channels to remove in one pruning step: least importance per learnable, globally."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Candidate:
    """A prunable group as the selector sees it."""

    scores: torch.Tensor  # (size,) importance of each channel, loss units per example
    costs: torch.Tensor  # (size,) what removing each channel saves: learnables (all members), MACs or ns
    min_keep: int = 1  # channels that must remain (never empty a group)


def select_channels(candidates: Mapping[int, Candidate], target: float, multiple: int = 1,
                    below: float = math.inf) -> tuple[dict[int, list[int]], float]:
    """Greedy global choice by score / cost until about ``target`` of the cost is removed.

    Returns the plan {group id: channel indices} and the cost it removes counted by
    ``costs`` (an estimate: when two coupled groups lose channels, a weight shared by both is
    counted twice; the caller counts the real figure on the pruned network). A channel
    whose removal saves nothing (cost 0) is never chosen.

    With ``multiple`` > 1 the choice is made in blocks (see blocks) so every group keeps a
    multiple of that many channels: on the CPU such widths fine-tune 1.5-2x faster (docs/speed.md).
    A block that would overshoot ``target`` by more than the step still falls short, or bring the
    step to ``below`` (a retry's limit: what the step that failed removed), is passed over with
    the rest of its group (whose blocks come in order), and the next best per cost is tried: a
    step lands near its target rather than a block short, and a retry is smaller than the step
    it retries. Blocks are coarse (8 channels of cifarnet's last residual stream are 8.6% of its
    learnables); a step that fits none takes the first block nearest its target that is under
    ``below``, and with none under it, nothing.
    """
    if multiple == 1:
        return _by_channel(candidates, target)  # a channel is small: half the target is a smaller step
    queues = {gid: q for gid, c in candidates.items() if (q := blocks(c, multiple))}
    if not queues or target <= 0:
        return {}, 0.0
    heap = [(q[0][0], gid, 0) for gid, q in queues.items()]
    heapq.heapify(heap)
    plan: dict[int, list[int]] = {}
    removed = 0.0
    while heap and removed < target:
        _, gid, k = heapq.heappop(heap)
        _, channels, cost = queues[gid][k]
        if removed + cost >= below or removed + cost - target > target - removed:
            continue
        plan.setdefault(gid, []).extend(channels)
        removed += cost
        if k + 1 < len(queues[gid]):
            heapq.heappush(heap, (queues[gid][k + 1][0], gid, k + 1))
    fits = [] if plan else [gid for gid, q in queues.items() if q[0][2] < below]
    if fits:
        gid = min(fits, key=lambda g: (abs(queues[g][0][2] - target), queues[g][0][0]))
        _, channels, removed = queues[gid][0]
        plan[gid] = channels
    return {gid: sorted(ix) for gid, ix in plan.items()}, removed


def blocks(c: Candidate, multiple: int) -> list[tuple[float, list[int], float]]:
    """A group's channels as (score / cost, channels, cost) blocks, least important first.

    The first block brings the kept count down to a multiple of ``multiple``; every later one
    removes ``multiple`` more. The last block leaves at least ``multiple`` channels (and
    ``min_keep``). A group narrower than ``multiple`` is chosen channel by channel, and a
    group whose channels save nothing is not chosen.
    """
    if float(c.costs.sum()) <= 0:
        return []
    size = len(c.scores)
    order = _ratio(c).argsort().tolist()  # least important per learnable first
    if size < multiple:
        keep, first, unit = max(c.min_keep, 1), 1, 1
    else:
        keep = -(-max(c.min_keep, multiple) // multiple) * multiple
        first, unit = size % multiple or multiple, multiple
    out, start = [], 0
    for end in range(first, size - keep + 1, unit):
        chosen = order[start:end]
        cost = float(c.costs[chosen].sum())
        score = float(c.scores[chosen].double().sum())
        out.append((score / max(cost, 1.0), chosen, cost))
        start = end
    return out


def _by_channel(candidates: Mapping[int, Candidate], target: float) -> tuple[dict[int, list[int]], float]:
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
    return {gid: sorted(ix) for gid, ix in plan.items() if ix}, removed


def _ratio(c: Candidate) -> torch.Tensor:
    return c.scores.double() / c.costs.double().clamp(min=1)
