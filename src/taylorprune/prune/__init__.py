"""The pruning search: score, remove, fine-tune, repeat while the accuracy floor holds."""

from .history import PruningInfo, PruningRecord, StopReason
from .loop import (
    FINE_TUNING,
    FineTuneCheckpoint,
    PruningCheckpoint,
    PruningOptions,
    check_pruning_request,
    compress_network_using_taylor_pruning,
    count_learnables,
    default_fine_tuning_options,
)

__all__ = [
    "FINE_TUNING",
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
]
