"""First-order Taylor importance of channels (Molchanov et al. 2017; MATLAB's updateScore).

Zeroing channel c of a producer output y changes the loss by about -sum_hw y_c * dL/dy_c.
A group couples several producer outputs (e.g. every block feeding one residual stream), and
pruning zeroes the channel at all of them, so per example n the estimate is

    t_n = sum over the group's points p, positions hw of  y_p[n, c_p, hw] * dL_n/dy_p[n, c_p, hw]

The score is mean_n |t_n|: absolute per example, because examples that would gain and
examples that would lose from removing a channel must not cancel out in a mini-batch sum.
``loss_change`` keeps -mean_n t_n too, the plain first-order estimate of the change of the
mean loss (checked against finite differences in the tests). Scores are taken in eval mode
so BN uses its running statistics, exactly as the validated network does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed


@dataclass(frozen=True)
class ScorePoint:
    """One place where a group's channels are visible: a module output (graph.OutputPoint fits)."""

    module: str  # qualified module name, e.g. "layer1.0.bn2"
    indices: Sequence[int | Sequence[int]]  # per group channel: its position(s) along ``dim``
    call: int = 0  # which call of the module, when it runs more than once per forward
    dim: int = 1  # channel axis of the module's output


def _selector(point: ScorePoint, channels: int, device: torch.device) -> torch.Tensor:
    """(C, group size) 0/1 matrix: products @ it sums each group channel's output positions."""
    select = torch.zeros(channels, len(point.indices))
    for k, pos in enumerate(point.indices):
        select[list(pos) if isinstance(pos, Sequence) else [pos], k] = 1.0
    return select.to(device)


@dataclass
class ChannelScores:
    score: torch.Tensor  # (group size,) mean_n |t_n|, in loss units per example
    loss_change: torch.Tensor  # (group size,) -mean_n t_n: first-order estimate of the mean loss change
    examples: int  # how many examples were accumulated


def taylor_scores(
    net: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    points: Mapping[int, Sequence[ScorePoint]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[int, ChannelScores]:
    """Accumulate Taylor scores of every group in ``points`` over the given mini-batches.

    ``loss_fn`` must reduce by mean over the batch (cross-entropy by default); its gradient
    is rescaled to per-example derivatives. Parameter gradients are left untouched.
    """
    loss_fn = loss_fn or F.cross_entropy
    modules = dict(net.named_modules())
    wanted = {p.module for pts in points.values() for p in pts}
    missing = wanted - set(modules)
    if missing:
        raise KeyError(f"score points name modules the network lacks: {sorted(missing)}")
    captured: list[tuple[str, torch.Tensor]] = []
    hooks = [
        modules[name].register_forward_hook(lambda m, a, out, name=name: captured.append((name, out)))
        for name in wanted
    ]
    # Per group: row 0 sums |t_n|, row 1 sums -t_n over examples; kept on the device and read
    # once at the end, so scoring adds no host sync per mini-batch.
    totals: dict[int, torch.Tensor] = {}
    selectors: dict[tuple[int, int], torch.Tensor] = {}  # per (group, point)
    dims = {(p.module, p.call): p.dim for pts in points.values() for p in pts}
    examples = 0
    was_training = net.training
    net.eval()
    try:
        for x, y in batches:
            captured.clear()
            loss = loss_fn(net(x).float(), y) * len(x)  # summed over the batch: per-example gradients
            contrib = _channel_products(loss, captured, dims)
            for gid, pts in points.items():
                t = 0
                for k, p in enumerate(pts):
                    products = contrib[p.module, p.call]  # (N, C)
                    if (gid, k) not in selectors:
                        selectors[gid, k] = _selector(p, products.shape[1], products.device)
                    t = t + products @ selectors[gid, k]  # (N, group size)
                row = torch.stack([t.abs().sum(0), -t.sum(0)]).double()
                totals[gid] = totals[gid] + row if gid in totals else row
            examples += len(x)
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    # Under torchrun each rank scored its share of the mini-batches: sum the ranks' totals so
    # every rank ranks the same numbers and removes the same channels.
    ids = sorted(totals)
    flat = distributed.all_reduce_sum(torch.cat([totals[gid].flatten() for gid in ids] + [
        torch.tensor([float(examples)], dtype=torch.float64, device=totals[ids[0]].device if ids else "cpu")]))
    examples = int(flat[-1].item())
    if examples == 0:
        raise ValueError("no mini-batches were given to score")
    parts = flat[:-1].cpu().split([totals[gid].numel() for gid in ids])
    host = {gid: part.view(2, -1) for gid, part in zip(ids, parts, strict=True)}
    return {gid: ChannelScores(t[0] / examples, t[1] / examples, examples) for gid, t in host.items()}


def _channel_products(
    loss: torch.Tensor, captured: list[tuple[str, torch.Tensor]], dims: Mapping[tuple[str, int], int]
) -> dict[tuple[str, int], torch.Tensor]:
    """sum over all but the batch and channel axes of y * dloss/dy: (N, C) per (module, call).

    torch.autograd.grad leaves the parameters' .grad untouched, so scoring can run in the
    middle of training without disturbing the optimiser.
    """
    calls: dict[str, int] = {}
    keys = []
    for name, _ in captured:
        keys.append((name, calls.get(name, 0)))
        calls[name] = calls.get(name, 0) + 1
    grads = torch.autograd.grad(loss, [out for _, out in captured], allow_unused=True)
    contrib = {}
    for key, (_, out), grad in zip(keys, captured, grads, strict=True):
        if key not in dims:
            continue
        if grad is None:
            raise ValueError(f"no gradient reaches {key[0]}; score only modules the loss depends on")
        product = (out.detach().float() * grad.float()).movedim(dims[key], 1)  # (N, C, ...)
        contrib[key] = product.flatten(2).sum(2) if product.ndim > 2 else product  # (N, C)
    return contrib
