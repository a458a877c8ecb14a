"""TrainingOptions: MATLAB's trainingOptions in snake_case, as a frozen dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InputError
from .metrics import check_metrics, metric_name

Solver = Literal["sgdm", "adam"]
Schedule = Literal["none", "piecewise", "cosine"]


@dataclass(frozen=True)
class TrainingOptions:
    solver: Solver = "sgdm"  # "sgdm" (SGD with momentum) or "adam"
    initial_learn_rate: float = 0.01  # learning rate at the start (after warm-up), > 0
    momentum: float = 0.9  # sgdm momentum, in [0, 1)
    l2_regularization: float = 1e-4  # weight decay on every learnable, >= 0
    max_epochs: int = 30  # full passes over the training data, >= 1
    mini_batch_size: int = 128  # images per iteration (global across DDP ranks), >= 1
    shuffle: Literal["once", "every-epoch", "never"] = "every-epoch"
    # ImageData, (X, y), a map-style Dataset of (input, target), a DataLoader, or None
    validation_data: Any = field(default=None, repr=False)
    validation_frequency: int = 50  # iterations between validations, >= 1
    learn_rate_schedule: Schedule = "none"  # piecewise drops, or cosine decay to 0
    learn_rate_drop_factor: float = 0.1  # piecewise: multiply by this every drop period
    learn_rate_drop_period: int = 10  # piecewise: epochs between drops, >= 1
    warmup_epochs: float = 0.0  # linear warm-up from 0, in epochs (fractions allowed)
    label_smoothing: float = 0.0  # cross-entropy label smoothing, in [0, 1)
    augment: bool = True  # random crop (4-pixel zero padding) and horizontal flip
    # reported besides the loss: built-in names (train.metrics.BUILTIN), torchmetrics.Metric
    # instances, or MetricFunction(fn, higher_is_better=...)
    metrics: tuple[Any, ...] = ("accuracy",)
    objective_metric_name: str = "loss"  # what "best" means: "loss" or the name of one of the metrics
    num_workers: int = 0  # loader worker processes for a Dataset (0: load in this process), >= 0
    output_network: Literal["last-iteration", "best-validation"] = "last-iteration"
    verbose: bool = True  # progress bar and validation lines on stderr
    plots: Literal["none", "training-progress"] = "none"  # PNG progress plot when a run folder is given
    execution_environment: Literal["auto", "cpu", "cuda"] = "auto"  # "auto": CUDA if available
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU
    cuda_graphs: bool = True  # on CUDA, capture the training step once and replay it (ignored on CPU)
    seed: int = 0  # shuffling, augmentation and initialisation

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        _check(self)

    def replace(self, **changes: Any) -> TrainingOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the validation data is summarised, not stored)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data = out.pop("validation_data")
        out["validation_data"] = None if data is None else f"{len(data)} examples"
        out["metrics"] = [metric_name(m) for m in self.metrics]
        return out


CHOICES = {
    "solver": ("sgdm", "adam"),
    "shuffle": ("once", "every-epoch", "never"),
    "learn_rate_schedule": ("none", "piecewise", "cosine"),
    "output_network": ("last-iteration", "best-validation"),
    "plots": ("none", "training-progress"),
    "execution_environment": ("auto", "cpu", "cuda"),
    "precision": ("auto", "fp32", "bf16"),
}

_RANGES = {  # name: (lowest allowed, highest allowed, lowest inclusive)
    "initial_learn_rate": (0.0, float("inf"), False),
    "momentum": (0.0, 1.0 - 1e-12, True),
    "l2_regularization": (0.0, float("inf"), True),
    "max_epochs": (1, float("inf"), True),
    "mini_batch_size": (1, float("inf"), True),
    "validation_frequency": (1, float("inf"), True),
    "learn_rate_drop_factor": (0.0, float("inf"), True),
    "learn_rate_drop_period": (1, float("inf"), True),
    "warmup_epochs": (0.0, float("inf"), True),
    "label_smoothing": (0.0, 1.0 - 1e-12, True),
    "num_workers": (0, float("inf"), True),
}


def _check(opts: TrainingOptions) -> None:
    for name, allowed in CHOICES.items():
        value = getattr(opts, name)
        if value not in allowed:
            raise InputError(f"TrainingOptions.{name}={value!r} is not valid; use one of {allowed}")
    for name, (lo, hi, inclusive) in _RANGES.items():
        value = getattr(opts, name)
        ok = (value >= lo if inclusive else value > lo) and value <= hi
        if not ok:
            bound = f">= {lo}" if inclusive else f"> {lo}"
            raise InputError(f"TrainingOptions.{name}={value!r} is out of range; it must be {bound}" + (
                f" and < {round(hi)}" if hi < float("inf") else ""))
    check_metrics(opts.metrics, opts.objective_metric_name)
