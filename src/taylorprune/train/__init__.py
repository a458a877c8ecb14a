"""Training and testing: TrainingOptions, train_network (trainnet), test_net (testnet)."""

from .device import resolve_device
from .evaluate import evaluate, test_net
from .history import TrainingInfo, TrainingRecord, ValidationRecord
from .loop import TrainingState, train_network
from .options import TrainingOptions

__all__ = [
    "TrainingInfo",
    "TrainingOptions",
    "TrainingRecord",
    "TrainingState",
    "ValidationRecord",
    "evaluate",
    "resolve_device",
    "test_net",
    "train_network",
]
