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
    lines += [*_evidence_lines(info, test_value, threshold), ""]
    final = info.final_fine_tuning
    if final:
        size = f"{final['images']:,} images" if final.get("images") else f"{final['epochs']:g} epochs"
        lines += [f"Final fine-tuning: {size}, validation {final['validation_before']:.4g} -> "
                  f"{final['validation_after']:.4g}" + ("" if final["kept"] else " (not better: not kept)") + ".", ""]
    bound = "floor" if info.higher_is_better else "ceiling"
    lines += [f"Validation threshold: {threshold:g}, a {bound} on {info.objective_metric} "
              f"({'higher' if info.higher_is_better else 'lower'} is better). "
              f"Pruning iterations run: {len(info.pruning_history) - 1}; "
              f"accepted: {len(info.plans)}. {_time_line(info)}", "",
              *_iteration_table(info)]
    if info.plot_path:
        lines += ["", f"![progress]({info.plot_path.name})"]
    return "\n".join(lines) + "\n"


def _evidence_lines(info: PruningInfo, test_value: float | None, threshold: float) -> list[str]:
    """How steps were decided, the returned network's validation figure with its interval, and its test figure."""
    value, bounds, accept = info.validation_metric, info.validation_bounds, info.acceptance
    metric, percent = info.objective_metric, unit(info.objective_metric)
    lines = []
    if accept and accept.get("confidence") and bounds is not None:
        # Runs recorded before decisions were shared out decided at the search's own level.
        level = f"{100 * accept.get('decision_confidence', accept['confidence']):.4g}%"
        shared = (f" (the search's {100 * accept['confidence']:g}% shared out over the "
                  f"{accept['max_failed_steps'] + 1} sequences of decisions its {accept['max_failed_steps']} "
                  "allowed failed steps may start)") if "max_failed_steps" in accept else ""
        lines.append(f"Decisions: a step was kept when the one-sided {level} lower bound (Wilson) of its {metric} "
                     f"on {accept['images']:,} acceptance examples met {threshold:g}{shared}; those examples were "
                     f"used for nothing else ({accept['selection_images']:,} other validation examples picked each "
                     "fine-tuning's best epoch).")
        if value is not None:
            lines.append(f"Returned network: validation {metric} {value:.4g}{percent} on the acceptance examples, "
                         f"{level} bounds {bounds[0]:.4g}-{bounds[1]:.4g}{percent}.")
    elif accept and accept.get("confidence"):
        lines.append(f"Decisions: the plain {metric} on {accept['images']:,} acceptance examples against "
                     f"{threshold:g} (no confidence bound for this metric); those examples were used for nothing else.")
        if value is not None:
            lines.append(f"Returned network: validation {metric} {value:.4g}{percent} on the acceptance examples.")
    elif value is not None:
        lines.append(f"Decisions: the plain validation figure against {threshold:g} (MATLAB's rule). "
                     f"Returned network: validation {metric} {value:.4g}{percent}.")
    if test_value is not None:
        lines.append(f"Test {metric} of the returned network: {test_value:.4g}{percent}. The test data was never "
                     "used for a decision.")
    return [" ".join(lines)] if lines else []


def _time_line(info: PruningInfo) -> str:
    """Wall time, against the budget when there was one, and where it went."""
    budget = f" of a {info.time_budget_s:.0f} s budget" if info.time_budget_s else ""
    split = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in
                      sorted(info.time_split.items(), key=lambda kv: -kv[1]) if seconds >= 0.5)
    return f"Wall time: {info.elapsed_s:.0f} s{budget} ({split})." if split else f"Wall time: {info.elapsed_s:.0f} s{budget}."


def _iteration_table(info: PruningInfo) -> list[str]:
    """One row per pruning iteration; MACs and latency columns where the run recorded them."""
    first = info.pruning_history[0]
    columns = [("iteration", lambda r: str(r.iteration)), ("learnables", lambda r: f"{r.learnables:,}"),
               ("reduction", lambda r: f"{100 * r.learnables_reduction:.1f}%")]
    if first.macs:
        columns.append(("MACs", lambda r: f"{r.macs / first.macs:.3f}×"))
    if first.latency_ms:
        columns.append(("latency", lambda r: f"{r.latency_ms:.2f} ms ({r.latency_ms / first.latency_ms:.3f}×)"))
    columns.append((f"validation {info.objective_metric}", lambda r: f"{r.validation_metric:.4g}"))
    if any(r.validation_low is not None for r in info.pruning_history):
        columns.append(("lower bound", lambda r: "" if r.validation_low is None else f"{r.validation_low:.4g}"))
    if any(r.fine_tuning_images for r in info.pruning_history):
        columns.append(("fine-tuning examples", lambda r: f"{r.fine_tuning_images:,}"))
    columns.append(("meets threshold", lambda r: "yes" if r.meets_threshold else "no"))
    return ["| " + " | ".join(name for name, _ in columns) + " |", "|" + " --- |" * len(columns),
            *["| " + " | ".join(cell(r) for _, cell in columns) + " |" for r in info.pruning_history]]


def _kib(learnables: int) -> str:
    return f"{learnables * 4 / 1024:,.1f} KiB"
