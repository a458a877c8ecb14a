"""PNG plots of training and pruning progress (matplotlib, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..prune.history import PruningInfo  # noqa: E402
from ..train.history import TrainingInfo  # noqa: E402

MAX_POINTS = 2000  # per training curve of the pruning plot, redrawn after every iteration


def plot_training(info: TrainingInfo, path: str | Path, title: str = "Training progress") -> Path:
    """Loss and accuracy per iteration (training, smoothed) with validation points."""
    fig, (ax_acc, ax_loss) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    its = [r.iteration for r in info.training_history]
    ax_acc.plot(its, _smooth([r.accuracy for r in info.training_history]), lw=1, label="training (smoothed)")
    ax_loss.plot(its, _smooth([r.loss for r in info.training_history]), lw=1, label="training (smoothed)")
    if info.validation_history:
        v_its = [r.iteration for r in info.validation_history]
        ax_acc.plot(v_its, [r.accuracy for r in info.validation_history], "o--", ms=3, label="validation")
        ax_loss.plot(v_its, [r.loss for r in info.validation_history], "o--", ms=3, label="validation")
    ax_acc.set_ylabel("accuracy (%)")
    ax_loss.set_ylabel("loss")
    ax_loss.set_xlabel("iteration")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    ax_acc.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pruning(info: PruningInfo, path: str | Path, threshold: float, metric: str = "accuracy") -> Path:
    """Loss, accuracy (with the threshold) and learnables left, on one run-wide iteration axis.

    Each fine-tuning restarts its iteration count, so iterations are laid end to end and a
    vertical line marks each pruning step.
    """
    lengths: dict[int, int] = {}
    for r in info.training_history:
        lengths[r.pruning_iteration] = max(lengths.get(r.pruning_iteration, 0), r.iteration)
    offsets, total = {}, 0
    for p in sorted(lengths):
        offsets[p], total = total, total + lengths[p]
    fig, (ax_loss, ax_acc, ax_size) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    x = [offsets[r.pruning_iteration] + r.iteration for r in info.training_history]
    step = max(len(x) // MAX_POINTS, 1)  # smoothed curves lose nothing visible at this density
    ax_loss.plot(x[::step], _smooth([r.loss for r in info.training_history])[::step], lw=1,
                 label="training (smoothed)")
    if any(math.isfinite(r.accuracy) for r in info.training_history):  # NaN unless classifying
        ax_acc.plot(x[::step], _smooth([r.accuracy for r in info.training_history])[::step], lw=1,
                    label="training accuracy (smoothed)")
    vx = [offsets.get(r.pruning_iteration, 0) + r.iteration for r in info.validation_history]
    ax_loss.plot(vx, [r.loss for r in info.validation_history], "o--", ms=3, label="validation")
    # The middle panel shows the objective metric, or accuracy when the objective is the loss.
    shown = "accuracy" if metric in ("accuracy", "loss") else metric
    values = [r.accuracy if shown == "accuracy" else r.metric for r in info.validation_history]
    ax_acc.plot(vx, values, "o--", ms=3, label=f"validation {shown}")
    target = ax_loss if metric == "loss" else ax_acc
    bound = "floor" if info.higher_is_better else "ceiling"
    target.axhline(threshold, color="red", lw=1, ls=":", label=f"{metric} {bound} {threshold:g}")
    steps = [(offsets.get(r.iteration, total), r.learnables) for r in info.pruning_history]
    ax_size.step([0] + [s for s, _ in steps[1:]], [n for _, n in steps], where="post", color="black")
    for start, _ in steps[1:]:
        for ax in (ax_loss, ax_acc, ax_size):
            ax.axvline(start, color="gray", lw=0.6, alpha=0.6)
    ax_loss.set_ylabel("loss")
    ax_acc.set_ylabel("accuracy (%)" if shown == "accuracy" else shown)
    ax_size.set_ylabel("learnables")
    ax_size.set_xlabel("training iteration (all fine-tunings end to end)")
    for ax in (ax_loss, ax_acc):
        ax.legend(loc="best", fontsize=8)
    for ax in (ax_loss, ax_acc, ax_size):
        ax.grid(alpha=0.3)
    ax_loss.set_title("Pruning progress")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _smooth(values: list[float], window: int = 20) -> list[float]:
    """Trailing moving average, so noisy mini-batch figures stay readable."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
