"""What a pruning run records, in MATLAB's terms (PruningHistory, ValidationHistory, ...)."""

from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class StopReason(str, Enum):
    """Why the pruning loop ended (MATLAB's wording where MATLAB has one)."""

    THRESHOLD = "Validation metric threshold reached."
    GOAL = "Learnables reduction goal reached."
    MACS_GOAL = "MACs reduction goal reached."
    LATENCY_GOAL = "Latency reduction goal reached."
    NOTHING_LEFT = "Nothing left to prune."
    BUDGET = "Fine-tuning budget spent."
    TIME = "Time budget spent."
    USER = "Stopped by the user."
    DIVERGED = "Training diverged."
    UNMET = "The unpruned network does not meet the validation threshold."


@dataclass
class PruningRecord:
    iteration: int  # 0 is the unpruned network
    learnables: int  # learnable parameters after this iteration's pruning
    learnables_reduction: float  # fraction of the original learnables removed, 0..1
    validation_metric: float  # best validation value of the objective metric after fine-tuning
    meets_threshold: bool
    macs: int = 0  # multiply-accumulates per example (0 in runs saved before this was recorded)
    latency_ms: float = 0.0  # per call of latency_batch_size images on the run's device (0: not measured)
    # The bounds of validation_metric at the run's confidence, measured on the acceptance split
    # (prune.acceptance); None when the plain figure decided (confidence 0, or not accuracy).
    validation_low: float | None = None
    validation_high: float | None = None
    fine_tuning_images: int = 0  # training images the step's fine-tuning ran on (0 for the unpruned network)


@dataclass
class PrunedValidationRecord:
    pruning_iteration: int
    iteration: int  # training iteration within this pruning iteration's fine-tuning
    loss: float
    accuracy: float  # percent; NaN when accuracy is not among the metrics
    is_best: bool
    metric: float = float("nan")  # the objective metric's value


@dataclass
class PrunedTrainingRecord:
    pruning_iteration: int
    iteration: int
    loss: float
    accuracy: float
    learn_rate: float


TABLES = {"pruning_history": PruningRecord, "validation_history": PrunedValidationRecord,
          "training_history": PrunedTrainingRecord}


@dataclass
class PruningInfo:
    pruning_history: list[PruningRecord] = field(default_factory=list)
    validation_history: list[PrunedValidationRecord] = field(default_factory=list)
    training_history: list[PrunedTrainingRecord] = field(default_factory=list)
    pruned_layers: list[str] = field(default_factory=list)  # modules whose learnables shrank
    plans: list[dict[int, list[int]]] = field(default_factory=list)  # graph.prune plans, in order, that built the result
    stop_reason: StopReason | None = None
    stop_detail: str = ""  # e.g. the validation figure behind UNMET, or why nothing is prunable
    original_learnables: int = 0
    original_macs: int = 0  # per example
    learnables: int = 0  # of the returned network
    plot_path: Path | None = None
    elapsed_s: float = 0.0
    # The final recovery fine-tuning, when asked for: {"epochs", "images", "validation_before",
    # "validation_after", "validation_low", "validation_high", "kept", "initial_learn_rate"} (kept
    # when validation did not get worse).
    final_fine_tuning: dict[str, Any] | None = None
    # Wall seconds per phase, where a run's time goes: validation (the baseline, and each
    # fine-tuning's evaluations of the selection split), acceptance, scoring, surgery (tracing and
    # physical pruning), fine_tuning (training steps), fine_tuning_set_up (each fine-tuning's,
    # outside its training loop), latency (timing networks when the cost is latency), callbacks
    # (on_iteration: writing the run folder), other (the rest).
    time_split: dict[str, float] = field(default_factory=dict)
    # How steps were decided: {"images", "confidence" (the search's), "decision_confidence" (each
    # decision's), "max_failed_steps", "selection_images"} of the acceptance split, or None when the
    # validation data decided as a whole (confidence 0, MATLAB's rule).
    acceptance: dict[str, Any] | None = None
    time_budget_s: float | None = None  # the wall-clock budget of the whole run, if one was given
    # The budget's fixed shares and the last measured seconds per training image
    # ({"total_s", "final_s", "step_s", "steps", "train_image_s"}), so a resumed run keeps its plan.
    budget_plan: dict[str, Any] | None = None
    objective_metric: str = "accuracy"  # the metric validation_threshold applies to
    higher_is_better: bool = True  # True: the threshold is a floor; False: a ceiling

    @property
    def validation_metric(self) -> float | None:
        """Validation figure of the returned network (after the final fine-tuning if kept)."""
        final = self.final_fine_tuning
        if final and final["kept"]:
            return final["validation_after"]
        accepted = [r for r in self.pruning_history if r.meets_threshold]
        return accepted[-1].validation_metric if accepted else None

    @property
    def validation_bounds(self) -> tuple[float, float] | None:
        """Confidence bounds of validation_metric on the acceptance split; None when the plain figure decided."""
        final = self.final_fine_tuning
        if final and final["kept"]:
            low, high = final.get("validation_low"), final.get("validation_high")
        else:
            accepted = [r for r in self.pruning_history if r.meets_threshold]
            low, high = (accepted[-1].validation_low, accepted[-1].validation_high) if accepted else (None, None)
        return None if low is None or high is None or not (self.acceptance or {}).get("confidence") else (low, high)

    @property
    def learnables_reduction(self) -> float:
        """Fraction of the original learnables the returned network no longer has."""
        return 1 - self.learnables / self.original_learnables if self.original_learnables else 0.0

    def to_dict(self) -> dict[str, Any]:
        # Records hold scalars only: a shallow copy per record is all asdict's deep walk would
        # give, 15x faster on the ~25,000 training records of a long run (written every iteration).
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in TABLES:
            out[name] = [dict(vars(r)) for r in out[name]]
        out["plans"] = [{g: list(ix) for g, ix in plan.items()} for plan in self.plans]
        out["time_split"] = dict(self.time_split)
        out["final_fine_tuning"] = dict(self.final_fine_tuning) if self.final_fine_tuning else None
        out["pruned_layers"] = list(self.pruned_layers)
        out["stop_reason"] = self.stop_reason.value if self.stop_reason else None
        out["plot_path"] = str(self.plot_path) if self.plot_path else None
        out["learnables_reduction"] = self.learnables_reduction
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PruningInfo:
        """Inverse of to_dict (for resuming a run from its checkpoint)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {k: v for k, v in d.items() if k in fields and k not in TABLES}
        kw["plans"] = [{int(g): list(ix) for g, ix in plan.items()} for plan in d.get("plans", [])]
        kw["stop_reason"] = StopReason(d["stop_reason"]) if d.get("stop_reason") else None
        kw["plot_path"] = Path(d["plot_path"]) if d.get("plot_path") else None
        kw.update({name: [rec(**r) for r in d.get(name, [])] for name, rec in TABLES.items()})
        return cls(**kw)

    def write(self, folder: str | Path) -> None:
        """history.json plus one CSV per table (pruning, validation, training)."""
        HistoryFiles(Path(folder)).write(self)

    def to_dataframe(self, table: str = "pruning_history"):
        """One history table as a pandas DataFrame (pandas is optional)."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in getattr(self, table)])


@dataclass
class HistoryFiles:
    """history.json and one CSV per table in a run folder, kept current as a run grows.

    The tables only ever grow during a run, so after the first write each CSV gets just the
    rows added since (the training table of a long run has tens of thousands); history.json
    is rewritten whole, compact, as the one file holding everything.
    """

    folder: Path
    rows: dict[str, int] = field(default_factory=dict)  # rows this object has put in each CSV

    def write(self, info: PruningInfo) -> None:
        (self.folder / "history.json").write_text(json.dumps(info.to_dict()) + "\n")
        for name in TABLES:
            table, done = getattr(info, name), self.rows.get(name)
            path = self.folder / f"{name}.csv"
            append = done is not None and done <= len(table) and path.is_file()
            with open(path, "a" if append else "w", newline="") as f:
                new = table[done:] if append else table
                if new:
                    writer = csv.DictWriter(f, fieldnames=[x.name for x in dataclasses.fields(new[0])])
                    if not append or not done:
                        writer.writeheader()
                    writer.writerows(vars(r) for r in new)
            self.rows[name] = len(table)
