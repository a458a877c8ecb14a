"""Measured latency as the pruning cost: what each channel's removal saves in time on this device.

MACs predict time poorly where a layer is launch-bound or a kernel prefers some widths,
so the latency cost measures instead of counting. Every step probes each prunable group:
the network with a quarter of that group's channels removed is timed against the
current network, in alternation (see benchmark.measure_interleaved), and the saving per
removed channel becomes that group's per-channel cost. A group whose probe saved no
time gets cost 0, which the selector never removes. One probe per group is noisy and
savings do not add up exactly, so the probes only rank: the step's size is then set by
timing the pruned candidate itself (sized_step). Only the unpruned network's time is
taken as absolute; every later figure is a ratio timed in alternation with a reference
and scaled by it, so load that comes and goes on a shared machine shifts no decision.
Timings are averaged over ranks under torchrun, so every rank selects the same channels.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from .. import distributed, graph
from ..benchmark.timing import measure_interleaved
from ..train.device import autocast

PROBE_FRACTION = 0.25  # of a group's channels removed by its probe (at least one, never all)
STEP_TRIES = 4  # candidate steps timed at most to size one step
STEP_TOLERANCE = (0.8, 1.25)  # a candidate saving within these multiples of the target is taken at once
STEP_RANGE = (1 / 16, 4.0)  # bounds of the estimated saving asked for, as multiples of the target
Plan = dict[int, list[int]]


@dataclass(frozen=True)
class LatencyMeter:
    """Times inference of networks on one fixed batch, the way the run would deploy them."""

    example: torch.Tensor  # (1, C, H, W), float, on the run's device
    batch: int = 128  # images per timed call
    bf16: bool = False  # bf16 autocast (the run's training precision on its device)
    warmup: int = 2  # untimed calls per network before timing
    repeats: int = 7  # timed calls per network; the fastest counts
    multiple: int = 1  # probes remove a multiple of this many channels where a group allows (channel_multiple)

    def times_ns(self, nets: Iterable[nn.Module]) -> list[float]:
        """Nanoseconds per call of each network, timed in alternation, equal on every rank.

        The fastest call counts, not the median: other processes only ever add time, and a
        decision compares networks, so the least disturbed call of each compares best.
        """
        calls = [self._call(net) for net in nets]
        fastest = [t.min_s * 1e9 for t in measure_interleaved(calls, warmup=self.warmup, repeats=self.repeats)]
        mean = distributed.all_reduce_sum(torch.tensor(fastest, dtype=torch.float64, device=self.example.device))
        return (mean / distributed.world_size()).tolist()

    def relative(self, reference: nn.Module, nets: Iterable[nn.Module]) -> list[float]:
        """Time of each network divided by the reference's, all timed in alternation."""
        base, *times = self.times_ns([reference, *nets])
        return [t / base for t in times]

    def per_channel(self, net: nn.Module, cg: graph.ChannelGraph, groups: Iterable[int],
                    net_ns: float) -> dict[int, torch.Tensor]:
        """Nanoseconds per call (of ``net_ns``, net's time) that removing one channel of each group saves, >= 0."""
        ids = [gid for gid in groups if cg.group(gid).size >= 2]
        removed = {gid: _probe_size(cg.group(gid).size, self.multiple) for gid in ids}
        probes = [graph.prune(net, (self.example,), {gid: list(range(k))}, channel_graph=cg)
                  for gid, k in removed.items()]
        ratios = self.relative(net, probes)
        return {gid: torch.full((cg.group(gid).size,), max(1 - r, 0.0) * net_ns / removed[gid], dtype=torch.float64)
                for gid, r in zip(ids, ratios, strict=True)}

    def sized_step(self, net: nn.Module, cg: graph.ChannelGraph, choose: Callable[[float], Plan],
                   target_ns: float, net_ns: float) -> tuple[nn.Module, Plan] | None:
        """The pruned network whose measured saving comes closest to ``target_ns``; None if none saves time.

        ``choose(amount)`` is the selector: the plan it returns for an estimated saving of
        ``amount``. Each try times the candidate against ``net`` (whose time is ``net_ns``)
        and rescales the amount asked by how far the measured saving missed, within
        STEP_RANGE; of the candidates that saved time, the nearest to the target by ratio
        wins (the smaller on a tie: it costs less accuracy).
        """
        amount, tried, best = target_ns, set(), None
        low, high = STEP_TOLERANCE
        for _ in range(STEP_TRIES):
            plan = choose(amount)
            key = tuple(sorted((g, len(ix)) for g, ix in plan.items()))
            if not plan or key in tried:
                break
            tried.add(key)
            pruned = graph.prune(net, (self.example,), plan, channel_graph=cg)
            saved = (1 - self.relative(net, [pruned])[0]) * net_ns
            miss = abs(math.log(saved / target_ns)) if saved > 0 else math.inf
            if miss < math.inf and (best is None or miss < best[0]):
                best = (miss, pruned, plan)
            if low * target_ns <= saved <= high * target_ns:
                break
            amount *= min(max(target_ns / max(saved, 1.0), 0.25), 4.0)
            amount = min(max(amount, STEP_RANGE[0] * target_ns), STEP_RANGE[1] * target_ns)
        return None if best is None else (best[1], best[2])

    def _call(self, net: nn.Module) -> Callable[[], object]:
        timed = copy.deepcopy(net).eval()
        x = self.example.expand(self.batch, *self.example.shape[1:]).contiguous(memory_format=torch.channels_last)
        device = x.device

        def call() -> object:
            with torch.inference_mode(), autocast(device, self.bf16):
                out = timed(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out

        return call


def _probe_size(size: int, multiple: int) -> int:
    """About PROBE_FRACTION of ``size``, a multiple of ``multiple`` if that leaves a channel.

    Kernels are fastest at some widths (CPU blocked layouts, GPU tiles): a probe that
    removes the step's multiple sees the saving the step will get.
    """
    k = max(round(size * PROBE_FRACTION / multiple), 1) * multiple
    return k if k < size else min(max(round(size * PROBE_FRACTION), 1), size - 1)
