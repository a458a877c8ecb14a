"""Benchmark results as a terminal table: time ratio beside MAC ratio."""

from __future__ import annotations

from ..benchmark import BenchmarkResult, Comparison


def benchmark_lines(comparison: Comparison) -> list[str]:
    """Header lines per network, then one row per runtime and batch size."""
    c = comparison
    lines = [_describe("model", c.model)]
    if c.baseline:
        lines += [_describe("baseline", c.baseline), f"MACs: {c.mac_ratio:.3f}x the baseline's"]
    header = f"{'runtime':<12} {'batch':>5} {'latency ms':>11} {'images/s':>9}"
    if c.baseline:
        header += f" {'baseline ms':>11} {'time ratio':>10} {'MAC ratio':>9} {'speed-up':>8}"
    lines.append(header)
    for t in c.model.timings:
        row = f"{t.runtime:<12} {t.batch:>5} {t.latency_ms:>11.2f} {t.images_per_s:>9.0f}"
        base = c.baseline.timing(t.runtime, t.batch) if c.baseline else None
        ratio = c.time_ratio(t.runtime, t.batch)
        if base and ratio:
            row += f" {base.latency_ms:>11.2f} {ratio:>10.3f} {c.mac_ratio:>9.3f} {1 / ratio:>7.2f}x"
        lines.append(row)
    load = c.machine.get("load_average")
    lines.append(f"median of {c.options.repeats} after {c.options.warmup} warm-up calls, "
                 f"{c.options.threads or c.machine.get('torch_threads')} threads, {c.machine.get('cpu')}, "
                 f"load average {load[0] if load else '?'}")
    return lines


def _describe(role: str, result: BenchmarkResult) -> str:
    return (f"{role}: {result.name} ({result.macs / 1e6:.2f} M MACs/image, "
            f"{result.params / 1e6:.3f} M learnables)")
