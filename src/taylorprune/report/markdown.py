"""report.md of a pruning run: before/after, accuracy, stop reason, time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..prune.history import PruningInfo
from ..train.metrics import unit
from .summary import summary_lines


def pruning_report(info: PruningInfo, original: int, test_value: float | None, threshold: float,
                   macs: tuple[int, int] | None = None, latency: Sequence[Mapping[str, Any]] = ()) -> str:
    """report.md of a run; ``test_value`` is the objective metric on the test data, ``macs`` is
    (before, after) per example, ``latency`` rows as in result.json."""
    if not info.pruning_history:  # stopped before the unpruned network was evaluated
        return "\n".join(["# Pruning report", "", *summary_lines(info), "", "Nothing was measured.", ""])
    first = info.pruning_history[0]
    rows = [
        ("learnables", f"{original:,}", f"{info.learnables:,}"),
        ("parameter memory (fp32)", _kib(original), _kib(info.learnables)),
        (f"validation {info.objective_metric}", f"{first.validation_metric:.4g}",
         f"{info.validation_metric or first.validation_metric:.4g}"),
    ]
    if macs is not None:
        rows.insert(2, ("MACs per example", f"{macs[0]:,}", f"{macs[1]:,} ({macs[1] / macs[0]:.3f}×)"))
    rows += [(f"latency, batch {t['batch']} ({t['runtime']})", f"{t['before_ms']:.3f} ms",
              f"{t['after_ms']:.3f} ms ({t['ratio']:.3f}×)") for t in latency]
    lines = ["# Pruning report", "", *summary_lines(info), "",
             "| | before | after |", "| --- | --- | --- |",
             *[f"| {a} | {b} | {c} |" for a, b, c in rows], ""]
    if test_value is not None:
        lines += [f"Test {info.objective_metric} of the returned network: {test_value:.4g}{unit(info.objective_metric)} "
                  "(test data was not used for any decision).", ""]
    final = info.final_fine_tuning
    if final:
        lines += [f"Final fine-tuning: {final['epochs']} epochs, validation {final['validation_before']:.2f} -> "
                  f"{final['validation_after']:.2f}" + ("" if final["kept"] else " (not better: not kept)") + ".", ""]
    bound = "floor" if info.higher_is_better else "ceiling"
    lines += [f"Validation threshold: {threshold:g}, a {bound} on {info.objective_metric} "
              f"({'higher' if info.higher_is_better else 'lower'} is better). "
              f"Pruning iterations run: {len(info.pruning_history) - 1}; "
              f"accepted: {len(info.plans)}. Wall time: {info.elapsed_s:.0f} s.", "",
              *_iteration_table(info)]
    if info.plot_path:
        lines += ["", f"![progress]({info.plot_path.name})"]
    return "\n".join(lines) + "\n"


def _iteration_table(info: PruningInfo) -> list[str]:
    """One row per pruning iteration; MACs and latency columns where the run recorded them."""
    first = info.pruning_history[0]
    columns = [("iteration", lambda r: str(r.iteration)), ("learnables", lambda r: f"{r.learnables:,}"),
               ("reduction", lambda r: f"{100 * r.learnables_reduction:.1f}%")]
    if first.macs:
        columns.append(("MACs", lambda r: f"{r.macs / first.macs:.3f}×"))
    if first.latency_ms:
        columns.append(("latency", lambda r: f"{r.latency_ms:.2f} ms ({r.latency_ms / first.latency_ms:.3f}×)"))
    columns += [(f"validation {info.objective_metric}", lambda r: f"{r.validation_metric:.4g}"),
                ("meets threshold", lambda r: "yes" if r.meets_threshold else "no")]
    return ["| " + " | ".join(name for name, _ in columns) + " |", "|" + " --- |" * len(columns),
            *["| " + " | ".join(cell(r) for _, cell in columns) + " |" for r in info.pruning_history]]


def _kib(learnables: int) -> str:
    return f"{learnables * 4 / 1024:,.1f} KiB"
