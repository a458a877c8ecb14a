"""Wall-clock latency of a call: warm-up first, then the median of repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Latency:
    """Seconds per call over ``repeats`` timed calls (the median resists a busy machine)."""

    median_s: float
    min_s: float
    max_s: float
    repeats: int


def measure(call: Callable[[], object], *, warmup: int, repeats: int,
            clock: Callable[[], float] = time.perf_counter) -> Latency:
    """Time ``call`` after ``warmup`` untimed calls (allocator, caches, lazy initialisation)."""
    return measure_interleaved([call], warmup=warmup, repeats=repeats, clock=clock)[0]


def measure_interleaved(calls: Sequence[Callable[[], object]], *, warmup: int, repeats: int,
                        clock: Callable[[], float] = time.perf_counter) -> list[Latency]:
    """Time several calls in alternation, so a change in machine load hits them all alike.

    Comparing a network with its baseline on a shared machine: timing one after the
    other lets the load drift between them; alternating call by call does not.
    """
    for call in calls:
        for _ in range(warmup):
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for call, spent in zip(calls, times, strict=True):
            start = clock()
            call()
            spent.append(clock() - start)
    return [Latency(statistics.median(t), min(t), max(t), repeats) for t in times]
