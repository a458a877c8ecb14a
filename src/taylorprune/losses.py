"""Loss functions by name: the one table training, evaluation and importance scoring read.

A loss is ``loss(outputs, targets) -> scalar tensor``, the mean over the mini-batch (scoring
rescales it to per-example derivatives). A name is checked here before any work starts, so a
typo fails at once rather than after the baseline, the trace and the first scores. A named
loss reads the network's main output (outputs.main_output: a tensor, a dict's "out", a
tuple's first element); a callable is used as given and gets the outputs as the network
returns them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .errors import InputError
from .outputs import main_output

LossFn = Callable[[Any, torch.Tensor], torch.Tensor]  # (outputs, targets) -> scalar, batch mean


def _cross_entropy(label_smoothing: float) -> LossFn:
    """Class indices (N,) or masks (N, H, W) against scores (N, C) or (N, C, H, W)."""
    return lambda out, y: F.cross_entropy(main_output(out).float(), y, label_smoothing=label_smoothing)


def _regression(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[float], LossFn]:
    """(N, 1) predictions against (N,) targets compare element by element, not broadcast."""
    def build(label_smoothing: float) -> LossFn:
        def loss(out: Any, y: torch.Tensor) -> torch.Tensor:
            pred = main_output(out).float()
            return fn(pred.reshape(y.shape) if pred.numel() == y.numel() else pred, y.float())
        return loss
    return build


# name: builder(label_smoothing) -> loss; label smoothing applies to cross-entropy only.
# Aliases are MATLAB's spellings.
LOSSES: dict[str, Callable[[float], LossFn]] = {
    "crossentropy": _cross_entropy,
    "cross-entropy": _cross_entropy,
    "crossentropyex": _cross_entropy,
    "mse": _regression(F.mse_loss),  # MATLAB's "mse": mean squared error
    "l2loss": _regression(F.mse_loss),
    "l1": _regression(F.l1_loss),  # mean absolute error
    "mae": _regression(F.l1_loss),
    "huber": _regression(F.huber_loss),  # MATLAB's "huber", delta 1
}


def check_loss(loss: str | LossFn) -> None:
    """Refuse a loss name the table does not know (an InputError naming the known ones)."""
    if not callable(loss) and loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)} or pass a function "
                         "(outputs, targets) -> mean loss")


def resolve_loss(loss: str | LossFn, label_smoothing: float = 0.0) -> LossFn:
    """The loss function ``loss`` names (``label_smoothing`` applies to cross-entropy), or ``loss`` itself."""
    check_loss(loss)
    return loss if callable(loss) else LOSSES[loss](label_smoothing)
