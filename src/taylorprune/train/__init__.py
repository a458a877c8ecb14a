"""Training and testing: TrainingOptions, train_network (trainnet), test_net (testnet)."""

from .device import resolve_device
from .distill import Distillation, distillation_loss
from .evaluate import evaluate, test_net
from .history import TrainingInfo, TrainingRecord, TrainingStopReason, ValidationRecord
from .loop import TrainingState, train_network
from .metrics import MetricFunction
from .options import TrainingOptions

__all__ = [
    "Distillation",
    "MetricFunction",
    "TrainingInfo",
    "TrainingOptions",
    "TrainingRecord",
    "TrainingState",
    "TrainingStopReason",
    "ValidationRecord",
    "distillation_loss",
    "evaluate",
    "resolve_device",
    "test_net",
    "train_network",
]
