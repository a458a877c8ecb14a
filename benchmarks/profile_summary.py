"""torch.profiler over a few training steps, boiled down to where the time goes.

When a speed target is missed, the profile says why: this turns one profiled window into a small JSON-able summary (time per step, how busy the device was, the top ops and a
share per op category) and a few printable lines. On CUDA the times are those of the
kernels, copies and memsets CUPTI records; on CPU, the self CPU time of the operators.
Used by benchmarks/speed.py --profile.
"""

from __future__ import annotations

import re
import time
from types import TracebackType

import torch
from torch.autograd import DeviceType
from torch.autograd.profiler_util import FunctionEventAvg
from torch.profiler import ProfilerActivity

TOP_OPS = 12
NAME_CHARS = 120  # kernel names are long C++ templates; the start says what they are
BUSY = 0.9  # busy fraction from which the ops, not the gaps between them, set the pace
# First match wins: autograd nodes name the op they wrap, copy kernels are elementwise
# kernels too, and batch norm's cuDNN kernels say "cudnn" like the convolutions' do. On CPU
# an op counts where its own name puts it: SGD's per-parameter add_/mul_ are elementwise.
CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
        ("framework", r"^autograd::|^\w+Backward\d+$|AccumulateGrad|^detach$|^aten::(empty|new_|view|as_strided"
                      r"|resize_|detach|t$|transpose|_?reshape|flatten|expand|squeeze|unsqueeze|resolve_)"),
        ("optimizer", r"sgd|adam|multi_tensor_apply|_foreach_|^Optimizer\."),
        ("copy/memset", r"memcpy|memset|copy|fill|zero_|nchwtonhwc|nhwctonchw"),
        ("batch_norm", r"batch_?norm|bn_fw|bn_bw|welford"),
        ("conv/gemm", r"conv|fprop|dgrad|wgrad|xmma|cutlass|gemm|mkldnn|onednn|addmm|linear|\bmm\b"),
        ("indexing (augmentation)", r"gather|scatter|index|pad|flip|arange|randperm"),
        ("loss/pooling/reduction", r"softmax|nll_loss|cross_entropy|pool|reduce|mean|sum"),
        ("elementwise/activation", r"elementwise|relu|threshold|add|mul|div|sub|clamp|where|vectorized"),
    ))
OTHER = "other"


def categorise(name: str) -> str:
    """The first category whose pattern the op or kernel name matches; OTHER if none."""
    return next((category for category, pattern in CATEGORIES if pattern.search(name)), OTHER)


def sync(device: torch.device) -> None:
    """Wait for the device, so a host clock read after it covers the device's work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


class ProfileWindow:
    """A profiler running between start() and stop(), with the synchronised wall time between.

    Also a context manager. start/stop exist apart for windows bounded by callbacks (an
    epoch of train_network), which a ``with`` block cannot wrap.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        self.profiler = torch.profiler.profile(activities=activities)
        self.wall_s = 0.0
        self._tick = 0.0

    def start(self) -> None:
        self.profiler.start()
        sync(self.device)
        self._tick = time.perf_counter()

    def stop(self) -> None:
        sync(self.device)
        self.wall_s = time.perf_counter() - self._tick
        self.profiler.stop()

    def __enter__(self) -> ProfileWindow:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def summary(self, steps: int, batch: int) -> dict:
        """summarise() of the window, ``steps`` steps of ``batch`` images long."""
        return summarise(list(self.profiler.key_averages()), steps, batch, self.wall_s,
                         self.device.type == "cuda")


def _timed(events: list[FunctionEventAvg], cuda: bool) -> list[tuple[str, float, int]]:
    """(name, self µs, calls) of what the summary counts: on CUDA, kernels, copies and memsets
    (not the user annotations on the GPU track, which would count their kernels twice); on
    CPU, the operators."""
    if cuda:
        return [(e.key, e.self_device_time_total, e.count) for e in events
                if e.device_type == DeviceType.CUDA and not e.is_user_annotation]
    return [(e.key, e.self_cpu_time_total, e.count) for e in events if e.device_type == DeviceType.CPU]


def _shares(timed: list[tuple[str, float, int]], steps: int) -> dict:
    """Busy time per step, the top ops and the share of each category, from ``_timed`` rows."""
    total = sum(t for _, t, _ in timed)
    by_category: dict[str, float] = {}
    for name, t, _ in timed:
        category = categorise(name)
        by_category[category] = by_category.get(category, 0.0) + t
    top = sorted(timed, key=lambda row: row[1], reverse=True)[:TOP_OPS]
    return {
        "device_busy_s_per_step": total / 1e6 / steps,
        "top_ops": [{"name": name[:NAME_CHARS], "category": categorise(name), "self_ms_per_step": t / 1e3 / steps,
                     "calls_per_step": calls / steps, "share": t / total} for name, t, calls in top],
        "by_category": {k: v / total for k, v in sorted(by_category.items(), key=lambda kv: -kv[1])},
    }


def summarise(events: list[FunctionEventAvg], steps: int, batch: int, wall_s: float, cuda: bool) -> dict:
    """Per-step times, busy fraction, top ops and category shares of one profiled window.

    On CUDA, when no kernel time was recorded, or graph replays were but no convolution
    kernel (the profiler did not break the graphs down), the device figures are None with a
    note, never guessed.
    """
    host = [e for e in events if e.device_type == DeviceType.CPU]
    timed = _timed(events, cuda)
    graph_launches = sum(e.count for e in host if "GraphLaunch" in e.key)
    per_step = wall_s / steps
    out: dict = {
        "steps": steps, "wall_s_per_step": per_step, "images_per_s_under_profiler": batch / per_step,
        "time_source": "CUDA kernels, copies and memsets (CUPTI)" if cuda else "CPU ops (self CPU time)",
        "host_ops_s_per_step": sum(e.self_cpu_time_total for e in host) / 1e6 / steps,
        "kernels_per_step": sum(calls for _, _, calls in timed) / steps if cuda else None,
        "graph_launches_per_step": graph_launches / steps if cuda else None,
        "device_busy_s_per_step": None, "busy_fraction": None, "limited_by": None,
        "top_ops": None, "by_category": None,
        "note": "wall time measured under the profiler, its overhead included",
    }
    convs = any(t > 0 and categorise(name) == "conv/gemm" for name, t, _ in timed)
    if cuda and (not any(t > 0 for _, t, _ in timed) or (graph_launches and not convs)):
        out["note"] += ("; no kernel time visible" + (" inside the CUDA graph replays" if graph_launches else "")
                        + ": device figures left empty")
        return out
    out.update(_shares(timed, steps))
    busy = out["device_busy_s_per_step"] / per_step
    out["busy_fraction"] = busy
    out["limited_by"] = ("ops (busy back to back: the top ops set the pace)" if busy >= BUSY
                         else "gaps between ops (Python, launches, syncs)")
    return out


def format_summary(label: str, s: dict, top: int = 5) -> str:
    """A few lines for the terminal: the figures of ``s`` and its ``top`` ops."""
    if "error" in s:
        return f"profile {label} failed: {s['error']}"
    head = f"profile {label}: {s['wall_s_per_step'] * 1e3:.2f} ms/step wall"
    if s["device_busy_s_per_step"] is None:
        return f"{head}; {s['note']}"
    lines = [f"{head}, {s['device_busy_s_per_step'] * 1e3:.2f} ms busy ({s['busy_fraction']:.0%}) "
             f"in {s['time_source']}" + (f", {s['kernels_per_step']:.0f} kernels and "
                                         f"{s['graph_launches_per_step']:.0f} graph launches per step"
                                         if s["kernels_per_step"] is not None else ""),
             f"  limited by {s['limited_by']}",
             "  " + ", ".join(f"{k} {v:.0%}" for k, v in s["by_category"].items())]
    lines += [f"  {op['share']:6.1%} {op['self_ms_per_step']:8.3f} ms x{op['calls_per_step']:<5.0f} {op['name'][:80]}"
              for op in s["top_ops"][:top]]
    return "\n".join(lines)
