"""Measured inference cost: latency and throughput per runtime, MACs, ratios to a baseline.

    comparison = compare_networks(pruned, (3, 32, 32), BenchmarkOptions(), baseline=original)

Returns plain result objects; ``taylorprune.report.benchmark`` renders them.
"""

from .machine import describe_machine
from .measure import (
    BenchmarkOptions,
    BenchmarkResult,
    Comparison,
    Timing,
    benchmark_network,
    compare_networks,
    count_network_macs,
)
from .runners import RUNNERS
from .timing import Latency, measure, measure_interleaved

__all__ = [
    "RUNNERS",
    "BenchmarkOptions",
    "BenchmarkResult",
    "Comparison",
    "Latency",
    "Timing",
    "benchmark_network",
    "compare_networks",
    "count_network_macs",
    "describe_machine",
    "measure",
    "measure_interleaved",
]
