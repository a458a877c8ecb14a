"""The pruning search: score, remove, fine-tune, repeat while the accuracy floor holds."""

from .costs import COSTS, Cost, CostContext
from .history import PruningInfo, PruningRecord, StopReason
from .loop import compress_network_using_taylor_pruning
from .options import (
    FINE_TUNING,
    PruningOptions,
    check_pruning_request,
    default_fine_tuning_options,
    pruning_options,
)
from .session import FineTuneCheckpoint, PruningCheckpoint, count_learnables

__all__ = [
    "COSTS",
    "FINE_TUNING",
    "Cost",
    "CostContext",
    "FineTuneCheckpoint",
    "PruningCheckpoint",
    "PruningInfo",
    "PruningOptions",
    "PruningRecord",
    "StopReason",
    "check_pruning_request",
    "compress_network_using_taylor_pruning",
    "count_learnables",
    "default_fine_tuning_options",
    "pruning_options",
]
