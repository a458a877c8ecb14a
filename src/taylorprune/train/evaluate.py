"""Metrics on a data set (MATLAB testnet): any DataSource, any output, any metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .. import distributed
from ..errors import InputError, first_line
from ..losses import LossFn, resolve_loss
from ..outputs import main_output, to_float32
from .allocator import keep_freed_memory
from .device import autocast, inference_batch, resolve_device, use_bf16
from .metrics import Context, MetricLike, bind, check_metrics, metric_name, with_loss
from .sources import DataSource, InMemory, as_source


@torch.no_grad()
def evaluate(
    net: nn.Module,
    data: Any,
    *,
    metrics: Sequence[MetricLike] = ("accuracy",),
    loss: str | LossFn = "crossentropy",
    mini_batch_size: int | None = None,
    device: torch.device | None = None,
    bf16: bool | None = None,
    workers: int = 0,
) -> dict[str, float]:
    """The loss and every metric in ``metrics`` on ``data``, in eval mode; restores the mode.

    ``mini_batch_size`` defaults to the device's (train.device.inference_batch).
    Under torchrun each rank scores a contiguous 1/W of ``data`` (a DataLoader: whatever its
    sampler gives the rank) and the metrics' states are gathered, so every rank must call
    this, and every rank gets the same figures.
    """
    device = device or next(net.parameters()).device
    if device.type == "cpu":
        keep_freed_memory()
    bf16 = use_bf16(device) if bf16 is None else bf16
    source = as_source(data, device, workers=workers)
    if len(source) == 0:
        raise InputError("cannot evaluate on an empty data set")
    loss_fn = resolve_loss(loss)
    was_training = net.training
    net.eval()
    bound = None
    order = torch.arange(len(source)).tensor_split(distributed.world_size())[distributed.rank()]
    try:
        for x, y in source.batches(order, mini_batch_size or inference_batch(device)):
            with autocast(device, bf16):
                out = to_float32(net(x))
            if bound is None:
                bound = bind(with_loss(metrics), Context(loss_fn, _num_outputs(out)), device)
            for b in bound:
                b.feed(b.metric, out, y)
        if bound is None:  # this rank had no examples: it still joins the ranks' gathering
            bound = bind(with_loss(metrics), _context(net, source, loss_fn, device, bf16), device)
    finally:
        net.train(was_training)
    return {b.name: b.compute() for b in bound}


def test_net(
    net: nn.Module,
    data: Any,
    metric: MetricLike = "accuracy",
    *,
    loss: str | LossFn = "crossentropy",
    mini_batch_size: int | None = None,
    execution_environment: str = "auto",
    workers: int = 0,
) -> float:
    """The metric on ``data``: accuracy in percent by default (like MATLAB's testnet), or any metric."""
    check_metrics([metric], metric_name(metric))
    device = resolve_device(execution_environment)
    net = net.to(device)
    source = as_source(data, device, workers=workers)
    check_network_input(net, source, loss)
    figures = evaluate(net, source, metrics=[metric], loss=loss, mini_batch_size=mini_batch_size,
                       device=device)
    return figures[metric_name(metric)]


test_net.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def check_network_input(net: nn.Module, data: Any, loss: str | LossFn = "crossentropy") -> Any:
    """One forward pass and loss on two examples, so a mismatch is one clear line, not a deep traceback.

    Returns the network's outputs for them (a tensor, dict or tuple)."""
    device = next(net.parameters()).device
    source = as_source(data, device)
    # The loop puts in-memory data on the GPU before it moves the network there.
    x, y = (t.to(device) for t in source.example(2))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(x)
    except (RuntimeError, ValueError, TypeError) as err:
        what = "images" if isinstance(source, InMemory) else "inputs"
        raise InputError(f"the network cannot take {what} of shape {tuple(x.shape[1:])} ({first_line(err)}); "
                         "resize the data or use a model built for that input size") from None
    finally:
        net.train(was_training)
    if isinstance(source, InMemory):
        _check_logits(main_output(out), source.data)
    try:
        resolve_loss(loss)(to_float32(out), y)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise InputError(f"the loss cannot take the network's output {_shapes(out)} and targets of shape "
                         f"{tuple(y.shape)} ({first_line(err)}); choose a loss that fits the task") from None
    return out


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


def _context(net: nn.Module, source: DataSource, loss_fn: LossFn, device: torch.device,
             bf16: bool) -> Context:
    x, _ = source.example(1)
    with autocast(device, bf16):
        return Context(loss_fn, _num_outputs(net(x)))


def _num_outputs(out: Any) -> int:
    main = main_output(out)
    return main.shape[1] if main.ndim >= 2 else 0


def _shapes(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"of shape {tuple(out.shape)}"
    return f"{type(out).__name__} with main output of shape {tuple(main_output(out).shape)}"
