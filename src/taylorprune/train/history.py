"""What a training run records: plain dataclasses that report/ renders and JSON keeps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# Less measured training time than this gives a rate that is mostly timer and scheduling noise.
MIN_TIMED_SECONDS = 0.05


def images_per_second(images: int, seconds: float) -> float | None:
    """Throughput over wall time of finished work (``seconds`` measured after the device caught up).

    None while too little time was measured to tell: no rate is better than a wild one.
    """
    return images / seconds if images > 0 and seconds >= MIN_TIMED_SECONDS else None


@dataclass
class TrainingRecord:
    iteration: int  # 1-based, counted over the whole run
    epoch: float  # fractional epoch at the end of this iteration
    loss: float  # mini-batch training loss
    accuracy: float  # mini-batch training accuracy, percent (on augmented images); NaN unless classifying
    learn_rate: float


@dataclass
class ValidationRecord:
    iteration: int
    epoch: float
    loss: float  # mean loss on the validation data
    accuracy: float  # percent; NaN when "accuracy" is not among the metrics
    metrics: dict[str, float] = field(default_factory=dict)  # every metric by name, the loss included
    is_best: bool = False  # best so far by the objective metric


class TrainingStopReason(str, Enum):
    """Why train_network ended (MATLAB's wording)."""

    MAX_EPOCHS = "Max epochs completed."
    DIVERGED = "Training diverged (non-finite loss)."


@dataclass
class TrainingInfo:
    """MATLAB trainnet's info: histories, which iteration the output network is from, why it stopped."""

    training_history: list[TrainingRecord] = field(default_factory=list)
    validation_history: list[ValidationRecord] = field(default_factory=list)
    output_network_iteration: int = 0
    stop_reason: TrainingStopReason = TrainingStopReason.MAX_EPOCHS
    elapsed_s: float = 0.0  # wall time of the whole call, seconds
    images_per_second: float = 0.0  # training images processed per second of training steps
    training_seconds: float = 0.0  # wall time in training steps; the rest of elapsed_s is validation

    @property
    def final_validation(self) -> ValidationRecord | None:
        return self.validation_history[-1] if self.validation_history else None

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (the stop reason as its text), so it saves with weights_only loading."""
        return {**dataclasses.asdict(self), "stop_reason": self.stop_reason.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingInfo:
        return cls(
            [TrainingRecord(**r) for r in d["training_history"]],
            [ValidationRecord(**r) for r in d["validation_history"]],
            d["output_network_iteration"], TrainingStopReason(d["stop_reason"]), d["elapsed_s"], d["images_per_second"],
            d.get("training_seconds", 0.0))
