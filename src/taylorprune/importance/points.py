"""Score points, and the steps every importance scorer takes at them.

A scorer runs mini-batches through the network in eval mode, differentiates the loss with
respect to the points' module outputs (or parameters) with torch.autograd.grad, adds each
group's channel terms over its points, and sums its totals across torchrun ranks once at
the end. The per-mini-batch work stays on the device: no host sync until that final copy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed

Key = tuple[str, int]  # (qualified module name, call)
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]  # (network outputs, targets) -> batch mean
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class ScorePoint:
    """One place where a group's channels are visible: a module output (graph.OutputPoint fits)."""

    module: str  # qualified module name, e.g. "layer1.0.bn2"
    indices: Sequence[int | Sequence[int]]  # per group channel: its position(s) along ``dim``
    call: int = 0  # which call of the module, when it runs more than once per forward
    dim: int = 1  # channel axis of the module's output


@dataclass
class ChannelScores:
    score: torch.Tensor  # (group size,) importance, higher keeps the channel; units set by the scorer
    loss_change: torch.Tensor  # (group size,) first-order estimate of the mean loss change per example
    examples: int  # how many examples were accumulated


def point_modules(net: nn.Module, points: Mapping[int, Sequence[ScorePoint]]) -> dict[str, nn.Module]:
    """The modules the points name; a KeyError lists any the network lacks."""
    modules = dict(net.named_modules())
    wanted = {p.module for pts in points.values() for p in pts}
    missing = wanted - set(modules)
    if missing:
        raise KeyError(f"score points name modules the network lacks: {sorted(missing)}")
    return {name: modules[name] for name in wanted}


@contextmanager
def scoring(
    net: nn.Module, dims: Mapping[Key, int], loss_fn: LossFn | None
) -> Iterator[Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[Key, torch.Tensor]]]]:
    """Eval mode and forward hooks while scoring, both undone on exit.

    Yields ``forward(x, y) -> (loss, outputs)``: the mini-batch loss summed over examples (so
    gradients are per-example derivatives; ``loss_fn`` must reduce by mean, cross-entropy by
    default) and the outputs at the keys of ``dims``. Eval mode, so BN uses its running
    statistics, exactly as the validated network does.
    """
    loss_fn = loss_fn or F.cross_entropy
    modules = dict(net.named_modules())
    captured: list[tuple[str, torch.Tensor]] = []
    hooks = [
        modules[name].register_forward_hook(lambda m, a, out, name=name: captured.append((name, out)))
        for name in {name for name, _ in dims}
    ]

    def forward(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[Key, torch.Tensor]]:
        captured.clear()
        out = net(x)  # a tensor, or a dict or tuple the loss knows how to read
        loss = loss_fn(out.float() if isinstance(out, torch.Tensor) else out, y) * len(x)
        calls: dict[str, int] = {}
        outputs = {}
        for name, out in captured:
            key = (name, calls.get(name, 0))
            calls[name] = key[1] + 1
            if key in dims:
                outputs[key] = out
        return loss, outputs

    was_training = net.training
    net.eval()
    try:
        yield forward
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)


def gradients(loss: torch.Tensor, tensors: Mapping[K, torch.Tensor]) -> dict[K, torch.Tensor]:
    """dloss/dtensor for each tensor, in one backward pass.

    torch.autograd.grad leaves the parameters' .grad untouched, so scoring can run in the
    middle of training without disturbing the optimiser.
    """
    if not tensors:
        return {}
    grads = torch.autograd.grad(loss, list(tensors.values()), allow_unused=True)
    for key, grad in zip(tensors, grads, strict=True):
        if grad is None:
            raise ValueError(f"no gradient reaches {key}; score only modules the loss depends on")
    return dict(zip(tensors, grads, strict=True))


def channel_products(out: torch.Tensor, grad: torch.Tensor, dim: int) -> torch.Tensor:
    """y * dloss/dy summed over all but the batch and channel axes: (N, C)."""
    product = (out.detach().float() * grad.float()).movedim(dim, 1)  # (N, C, ...)
    return product.flatten(2).sum(2) if product.ndim > 2 else product


def group_sums(
    terms: Mapping[Key, torch.Tensor],
    points: Mapping[int, Sequence[ScorePoint]],
    selectors: dict[tuple[int, int], torch.Tensor],
) -> dict[int, torch.Tensor]:
    """Per group, its points' per-channel terms (..., C) added up as (..., group size).

    ``selectors`` caches the 0/1 matrices per (group, point) across mini-batches.
    """
    sums: dict[int, torch.Tensor] = {}
    for gid, pts in points.items():
        total: Any = 0  # becomes the (..., group size) sum
        for k, p in enumerate(pts):
            term = terms[p.module, p.call]
            if (gid, k) not in selectors:
                selectors[gid, k] = _selector(p, term.shape[-1], term.device)
            total = total + term @ selectors[gid, k]
        sums[gid] = total
    return sums


def _selector(point: ScorePoint, channels: int, device: torch.device) -> torch.Tensor:
    """(C, group size) 0/1 matrix: terms @ it sums each group channel's positions."""
    select = torch.zeros(channels, len(point.indices))
    for k, pos in enumerate(point.indices):
        select[list(pos) if isinstance(pos, Sequence) else [pos], k] = 1.0
    return select.to(device)


def sum_over_ranks(
    parts: Sequence[torch.Tensor], counts: Sequence[int]
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``parts`` and ``counts`` summed across torchrun ranks, then copied to the host, as float64.

    One collective and one host copy for everything: under torchrun each rank scored its
    share of the mini-batches, and summing makes every rank rank the same numbers and remove
    the same channels. Every rank must pass the same shapes.
    """
    device = parts[0].device if parts else torch.device("cpu")
    flat = torch.cat([p.double().flatten() for p in parts]
                     + [torch.tensor(counts, dtype=torch.float64, device=device)])
    pieces = distributed.all_reduce_sum(flat).cpu().split([p.numel() for p in parts] + [len(counts)])
    return [piece.view(p.shape) for piece, p in zip(pieces[:-1], parts, strict=True)], pieces[-1]
