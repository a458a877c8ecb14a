"""Latency, throughput and MACs of a network, and how they compare with a baseline's."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import graph
from ..analysis import count_macs
from ..errors import InputError
from .machine import describe_machine
from .runners import CUDA_RUNTIMES, RUNNERS
from .timing import Latency, measure_interleaved


@dataclass(frozen=True)
class BenchmarkOptions:
    """How to time; by default batch 1 (latency) and 128 (throughput), in both runtimes."""

    batch_sizes: tuple[int, ...] = (1, 128)  # images per call
    runtimes: tuple[str, ...] = ("pytorch", "onnxruntime")  # keys of runners.RUNNERS
    warmup: int = 3  # untimed calls before each measurement, >= 0
    repeats: int = 15  # timed calls per measurement, >= 1; the median is reported
    threads: int = 0  # CPU threads for both runtimes; 0: torch's default (the cores it sees)
    seed: int = 0  # seed of the random input batch

    def __post_init__(self) -> None:
        unknown = sorted(set(self.runtimes) - set(RUNNERS))
        if unknown or not self.runtimes:
            raise InputError(f"unknown runtime {', '.join(unknown) or '(none)'}; "
                             f"choose from {', '.join(RUNNERS)}")
        if set(self.runtimes) & set(CUDA_RUNTIMES) and not torch.cuda.is_available():
            raise InputError("the runtimes pytorch-cuda and pytorch-cuda-bf16 need a CUDA GPU, and none is "
                             "visible; use pytorch or onnxruntime")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise InputError(f"batch sizes must be >= 1, got {self.batch_sizes}")
        if self.repeats < 1 or self.warmup < 0 or self.threads < 0:
            raise InputError("need --repeats >= 1, --warmup >= 0 and --threads >= 0")


@dataclass(frozen=True)
class Timing:
    """One runtime at one batch size."""

    runtime: str
    batch: int  # images per call
    latency: Latency

    @property
    def latency_ms(self) -> float:
        return self.latency.median_s * 1e3

    @property
    def images_per_s(self) -> float:
        return self.batch / self.latency.median_s


@dataclass(frozen=True)
class BenchmarkResult:
    """What one network costs: MACs and parameters, and measured time per runtime and batch."""

    name: str  # what was measured: a model spec or file
    input_shape: tuple[int, ...]  # (C, H, W) of one image
    macs: int  # multiply-accumulates per image (taylorprune.analysis.count_macs)
    params: int  # learnable parameters
    timings: tuple[Timing, ...]

    def timing(self, runtime: str, batch: int) -> Timing | None:
        return next((t for t in self.timings if (t.runtime, t.batch) == (runtime, batch)), None)

    def to_dict(self) -> dict[str, Any]:
        timings = [{"runtime": t.runtime, "batch": t.batch, "latency_ms": t.latency_ms,
                    "images_per_s": t.images_per_s, **asdict(t.latency)} for t in self.timings]
        return {"name": self.name, "input_shape": list(self.input_shape), "macs": self.macs,
                "params": self.params, "timings": timings}


@dataclass(frozen=True)
class Comparison:
    """A network against an optional baseline: how much of the MAC cut became time."""

    model: BenchmarkResult
    baseline: BenchmarkResult | None
    options: BenchmarkOptions
    machine: dict[str, Any] = field(default_factory=dict)  # describe_machine() before and after

    @property
    def mac_ratio(self) -> float | None:
        """Model MACs / baseline MACs (0.3: the model does 30% of the baseline's work)."""
        return self.model.macs / self.baseline.macs if self.baseline else None

    def time_ratio(self, runtime: str, batch: int) -> float | None:
        """Model / baseline median latency; equal to mac_ratio when all the MAC cut became time."""
        mine = self.model.timing(runtime, batch)
        theirs = self.baseline.timing(runtime, batch) if self.baseline else None
        return mine.latency.median_s / theirs.latency.median_s if mine and theirs else None

    def to_dict(self) -> dict[str, Any]:
        ratios = [{"runtime": t.runtime, "batch": t.batch, "time_ratio": self.time_ratio(t.runtime, t.batch),
                   "mac_ratio": self.mac_ratio} for t in self.model.timings] if self.baseline else []
        return {"model": self.model.to_dict(),
                "baseline": self.baseline.to_dict() if self.baseline else None,
                "ratios": ratios, "options": asdict(self.options), "machine": self.machine}


def benchmark_network(net: nn.Module, input_shape: Sequence[int], options: BenchmarkOptions,
                      *, name: str = "model") -> BenchmarkResult:
    """Time ``net`` (in eval mode, on CPU) for every runtime and batch size of ``options``."""
    return _benchmark_together([(name, net, tuple(input_shape))], options)[0]


def _benchmark_together(nets: Sequence[tuple[str, nn.Module, tuple[int, ...]]],
                        options: BenchmarkOptions) -> list[BenchmarkResult]:
    """Each (runtime, batch) timed for all ``nets`` in alternation (see measure_interleaved)."""
    generator = torch.Generator().manual_seed(options.seed)
    threads = options.threads or torch.get_num_threads()
    timings: list[list[Timing]] = [[] for _ in nets]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="taylorprune-bench-") as tmp:
            scratch = [Path(tmp, str(i)) for i in range(len(nets))]  # one exported file per net
            for folder in scratch:
                folder.mkdir()
            for runtime, batch in itertools.product(options.runtimes, options.batch_sizes):
                calls = [RUNNERS[runtime](net.eval().cpu(), torch.rand(batch, *shape, generator=generator),
                                          folder, threads)  # input (N, C, H, W) in [0, 1)
                         for (_, net, shape), folder in zip(nets, scratch, strict=True)]
                latencies = measure_interleaved(calls, warmup=options.warmup, repeats=options.repeats)
                for mine, latency in zip(timings, latencies, strict=True):
                    mine.append(Timing(runtime, batch, latency))
    finally:
        torch.set_num_threads(previous)
    return [BenchmarkResult(name, shape, count_network_macs(net, shape),
                            sum(p.numel() for p in net.parameters() if p.requires_grad), tuple(mine))
            for (name, net, shape), mine in zip(nets, timings, strict=True)]


def count_network_macs(net: nn.Module, input_shape: Sequence[int]) -> int:
    """MACs per image, with taylorprune.analysis's counter on the traced graph."""
    cg = graph.trace_channels(net, (torch.zeros(1, *input_shape),))
    return count_macs(cg.gm).total


def compare_networks(model: nn.Module, input_shape: Sequence[int], options: BenchmarkOptions, *,
                     baseline: nn.Module | None = None, names: tuple[str, str] = ("model", "baseline"),
                     baseline_shape: Sequence[int] | None = None) -> Comparison:
    """``model`` and, when given, ``baseline`` timed in alternation under the same options."""
    nets = [(names[0], model, tuple(input_shape))]
    if baseline is not None:
        nets.append((names[1], baseline, tuple(baseline_shape or input_shape)))
    before = describe_machine()
    results = _benchmark_together(nets, options)
    after = describe_machine()["load_average"]
    return Comparison(results[0], results[1] if baseline is not None else None, options,
                      {**before, "load_average_after": after})
