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

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

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


def taylor_scores(
    net: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    points: Mapping[int, Sequence[ScorePoint]],
    loss_fn: LossFn | None = None,
) -> dict[int, ChannelScores]:
    """Accumulate Taylor scores of every group in ``points`` over the given mini-batches.

    ``loss_fn`` must reduce by mean over the batch (cross-entropy by default); its gradient
    is rescaled to per-example derivatives. Parameter gradients are left untouched.
    """
    point_modules(net, points)
    dims = {(p.module, p.call): p.dim for pts in points.values() for p in pts}
    # Per group: row 0 sums |t_n|, row 1 sums -t_n over examples; kept on the device and read
    # once at the end, so scoring adds no host sync per mini-batch.
    totals: dict[int, torch.Tensor] = {}
    selectors: dict[tuple[int, int], torch.Tensor] = {}
    examples = 0
    with scoring(net, dims, loss_fn) as forward:
        for x, y in batches:
            loss, outputs = forward(x, y)
            grads = gradients(loss, outputs)
            products = {key: channel_products(out, grads[key], dims[key]) for key, out in outputs.items()}
            for gid, t in group_sums(products, points, selectors).items():  # t: (N, group size)
                row = torch.stack([t.abs().sum(0), -t.sum(0)]).double()
                totals[gid] = totals[gid] + row if gid in totals else row
            examples += len(x)
    ids = sorted(totals)
    parts, count = sum_over_ranks([totals[gid] for gid in ids], [examples])
    examples = int(count[0])
    if examples == 0:
        raise ValueError("no mini-batches were given to score")
    return {gid: ChannelScores(t[0] / examples, t[1] / examples, examples)
            for gid, t in zip(ids, parts, strict=True)}
