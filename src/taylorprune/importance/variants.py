"""Importance variants to measure against taylor_scores, and the table that names them.

bn_gate_scores is the criterion Molchanov et al. 2019 ("Importance Estimation for Neural
Network Pruning") found best: treat BN's scale gamma as a gate and score the squared
first-order change of the mini-batch loss when the gate closes,

    I_c = mean over mini-batches b of ( sum over the group's points p of  gamma_p,c * dL_b/dgamma_p,c )^2

with L_b the mean loss of mini-batch b. A group's points are added before squaring, as the
paper does for a group of parameters: pruning removes the channel at all of them at once.
A point that is not an affine BatchNorm contributes sum_{n,hw} y * dL_b/dy at its output
instead (the paper's gate placed right after that module), so every group gets a score.
Squaring per mini-batch, not per example, lets examples cancel within a batch; that is the
paper's choice and what this measures against taylor_scores' per-example absolute value.

The gate ignores beta: a channel with gamma = 0 and beta != 0 scores zero although removing
it shifts the next layer by a constant, which the activation criterion does see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

import torch
from torch import nn

from ..errors import InputError
from .points import (
    ChannelScores,
    LossFn,
    ScorePoint,
    channel_products,
    gradients,
    group_sums,
    point_modules,
    scoring,
    sum_over_ranks,
)
from .taylor import taylor_scores


def bn_gate_scores(
    net: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    points: Mapping[int, Sequence[ScorePoint]],
    loss_fn: LossFn | None = None,
) -> dict[int, ChannelScores]:
    """BN-gate Taylor scores (squared loss units) of every group in ``points``.

    ``loss_change`` is -mean_n sum_p gamma_p * dL_n/dgamma_p: the first-order estimate of the
    mean loss change per example when the gates close. Under torchrun every rank must score
    its share of the same global mini-batches (the pruning loop's sharded batches do): the
    per-batch sums are added across ranks before squaring, so the result equals one process.
    """
    modules = point_modules(net, points)
    gammas: dict[str, torch.Tensor] = {name: m.weight for name, m in modules.items() if _is_gate(m)}  # type: ignore[misc]
    points = {gid: _once_per_gate(pts, gammas) for gid, pts in points.items()}
    dims = {(p.module, p.call): p.dim for pts in points.values() for p in pts if p.module not in gammas}
    gated = {(p.module, p.call) for pts in points.values() for p in pts if p.module in gammas}
    # Per group and mini-batch: sum_n of the signed term, on the device until the end.
    sums: dict[int, list[torch.Tensor]] = {gid: [] for gid in points}
    sizes: list[int] = []
    selectors: dict[tuple[int, int], torch.Tensor] = {}
    with scoring(net, dims, loss_fn) as forward:
        for x, y in batches:
            loss, outputs = forward(x, y)
            grads = gradients(loss, {**outputs, **gammas})
            terms = {key: channel_products(out, grads[key], dims[key]).sum(0)
                     for key, out in outputs.items()}  # (C,)
            terms |= {key: (gammas[key[0]].detach() * grads[key[0]]).float() for key in gated}  # (C,)
            for gid, s in group_sums(terms, points, selectors).items():
                sums[gid].append(s)
            sizes.append(len(x))
    if not sizes:
        raise ValueError("no mini-batches were given to score")
    ids = sorted(sums)
    parts, n = sum_over_ranks([torch.stack(sums[gid]) for gid in ids], sizes)  # (batches, group size)
    return {gid: ChannelScores(((s / n[:, None]) ** 2).mean(0), -s.sum(0) / n.sum(), int(n.sum()))
            for gid, s in zip(ids, parts, strict=True)}


def _is_gate(module: nn.Module) -> bool:
    """An affine BN whose gamma autograd can differentiate; a frozen one is scored at its output.

    dL/dgamma is read from gamma itself, not rebuilt as (y - beta) * dL/dy at the output,
    because an in-place ReLU after the BN (torchvision's blocks) overwrites that output.
    """
    return (isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine
            and module.weight.requires_grad)


def _once_per_gate(points: Sequence[ScorePoint], gammas: Mapping[str, torch.Tensor]) -> list[ScorePoint]:
    """A BN called several times has one gamma whose gradient already adds up every call."""
    seen: set[str] = set()
    kept = []
    for p in points:
        if p.module in gammas:
            if p.module in seen:
                continue
            seen.add(p.module)
        kept.append(p)
    return kept


# Per-group scale for normalize_per_layer; a zero scale leaves the scores as they are.
_SCALES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda s: torch.ones((), dtype=s.dtype),
    "l2": torch.linalg.vector_norm,
    "max": lambda s: s.abs().amax(),
}
NORMALIZATIONS = tuple(_SCALES)


def normalize_per_layer(scores: Mapping[int, ChannelScores], how: str) -> dict[int, ChannelScores]:
    """Each group's ``score`` divided by its L2 norm ("l2", Molchanov 2017) or maximum ("max").

    Raw magnitudes grow or shrink with depth, so one global ranking can favour whole layers;
    normalising puts every group on one scale. ``loss_change`` keeps its loss units.
    """
    if how not in _SCALES:
        raise InputError(f"unknown normalisation {how!r}; choose one of {', '.join(NORMALIZATIONS)}")
    out = {}
    for gid, s in scores.items():
        scale = _SCALES[how](s.score)
        out[gid] = replace(s, score=s.score / scale if scale > 0 else s.score)
    return out


Scorer = Callable[
    [nn.Module, Iterable[tuple[torch.Tensor, torch.Tensor]], Mapping[int, Sequence[ScorePoint]], LossFn | None],
    dict[int, ChannelScores],
]
IMPORTANCE: dict[str, Scorer] = {"taylor": taylor_scores, "bn-gate": bn_gate_scores}
