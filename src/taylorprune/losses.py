"""Loss functions by name: the one table training and importance scoring both read.

A loss is ``loss(outputs, targets) -> scalar tensor``, the mean over the mini-batch. A name is
checked here before any work starts, so a typo fails at once rather than after the baseline,
the trace and the first scores; a callable is used as given.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from .errors import InputError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# name: builder(label_smoothing) -> loss. Aliases are MATLAB's spellings.
LOSSES: dict[str, Callable[[float], LossFn]] = {
    "crossentropy": lambda smoothing: partial(F.cross_entropy, label_smoothing=smoothing),
    "cross-entropy": lambda smoothing: partial(F.cross_entropy, label_smoothing=smoothing),
    "crossentropyex": lambda smoothing: partial(F.cross_entropy, label_smoothing=smoothing),
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
