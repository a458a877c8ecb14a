"""Accuracy and loss on a data set (MATLAB testnet)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..data import to_image_data
from ..errors import InputError, first_line
from .augment import to_float
from .batches import iterate_batches, to_device
from .device import autocast, resolve_device, use_bf16


@torch.no_grad()
def evaluate(
    net: nn.Module,
    data: Any,
    *,
    mini_batch_size: int = 1000,
    device: torch.device | None = None,
    bf16: bool | None = None,
) -> dict[str, float]:
    """Mean cross-entropy loss and top-1 accuracy (percent) in eval mode; restores the mode.

    Under torchrun each rank scores a contiguous 1/W of ``data`` and the sums are combined,
    so every rank must call this, and every rank gets the same figures.
    """
    data = to_image_data(data)
    if len(data) == 0:
        raise InputError("cannot evaluate on an empty data set")
    device = device or next(net.parameters()).device
    bf16 = use_bf16(device) if bf16 is None else bf16
    images, labels = to_device(data, device)
    was_training = net.training
    net.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    order = torch.arange(len(data)).tensor_split(distributed.world_size())[distributed.rank()]
    try:
        for x, y in iterate_batches(images, labels, order, mini_batch_size):
            with autocast(device, bf16):
                logits = net(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").double()
            correct += (logits.argmax(1) == y).sum()
    finally:
        net.train(was_training)
    loss_sum = distributed.all_reduce_sum(loss_sum)
    correct = distributed.all_reduce_sum(correct)
    n = len(data)
    return {"loss": loss_sum.item() / n, "accuracy": 100.0 * correct.item() / n}


def test_net(
    net: nn.Module,
    data: Any,
    metric: str = "accuracy",
    *,
    mini_batch_size: int = 1000,
    execution_environment: str = "auto",
) -> float:
    """The metric on ``data``: accuracy in percent (like MATLAB's testnet) or mean loss."""
    if metric not in ("accuracy", "loss"):
        raise InputError(f"unknown metric {metric!r}; use 'accuracy' or 'loss'")
    device = resolve_device(execution_environment)
    net = net.to(device)
    check_network_input(net, to_image_data(data))
    return evaluate(net, data, mini_batch_size=mini_batch_size, device=device)[metric]


test_net.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def check_network_input(net: nn.Module, data: Any) -> None:
    """One forward pass on two examples, so a mismatch is one clear line, not a deep traceback."""
    device = next(net.parameters()).device
    x = to_float(data.images[:2]).to(device)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            logits = net(x)
    except (RuntimeError, ValueError, TypeError) as err:
        first = first_line(err)
        raise InputError(
            f"the network cannot take images of shape {tuple(data.images.shape[1:])} ({first}); "
            "resize the data or use a model built for that input size"
        ) from None
    finally:
        net.train(was_training)
    _check_logits(logits, data)


def _check_logits(logits: torch.Tensor, data: Any) -> None:
    if logits.ndim != 2:
        raise InputError(
            f"the network returned shape {tuple(logits.shape)}; a classifier must return (N, classes)"
        )
    top = int(data.labels.max()) if len(data.labels) else -1
    if top >= logits.shape[1]:
        raise InputError(
            f"labels go up to {top} but the network has {logits.shape[1]} outputs; "
            "build the model with num_classes matching the data"
        )
