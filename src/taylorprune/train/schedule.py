"""Learning rate as a pure function of training progress (so resuming needs no state)."""

from __future__ import annotations

import math

from .options import TrainingOptions


def learn_rate_at(opts: TrainingOptions, epoch: float) -> float:
    """Learning rate at fractional ``epoch`` (0 = start, max_epochs = end)."""
    base = opts.initial_learn_rate
    if opts.warmup_epochs > 0 and epoch < opts.warmup_epochs:
        return base * (epoch + 1e-3) / opts.warmup_epochs
    if opts.learn_rate_schedule == "piecewise":
        return base * opts.learn_rate_drop_factor ** int(epoch // opts.learn_rate_drop_period)
    if opts.learn_rate_schedule == "cosine":
        span = max(opts.max_epochs - opts.warmup_epochs, 1e-9)
        progress = min(max((epoch - opts.warmup_epochs) / span, 0.0), 1.0)
        return base * 0.5 * (1 + math.cos(math.pi * progress))
    return base
