"""Where a functional op's output can be read: the output of the module that ran it.

Importance scorers read a channel's activation and gradient with forward hooks, which see
module outputs only. A conv or norm that a module's forward calls as a function (timm's
ScaledStdConv2d, a BatchNormAct2d traced op by op) is readable there when the module
returns a tensor with the same channels on one dim (its output, or an activation of it).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch.fx as fx

from .context import Context, RawPoint
from .values import Chan


def resolve_points(ctx: Context) -> None:
    """Turn pending functional outputs into output points of their modules."""
    exits: dict[str, list[fx.Node]] = defaultdict(list)  # module -> nodes leaving it
    for node in ctx.gm.graph.nodes:
        for scope, _ in (node.meta.get("nn_module_stack") or {}).values():
            if any(not _within(ctx.scope(u), scope) for u in node.users):
                exits[scope].append(node)
    seen = set()
    for p in ctx.pending:
        module = ctx.scope(p.node)
        if not module or len(exits[module]) != 1:  # a shared module: calls not told apart
            continue
        value = ctx.env.get(exits[module][0])
        if isinstance(value, Chan) and value.dim is not None and _same(value, p.chan):
            if module not in seen:
                ctx.points.append(RawPoint(module, p.kind, 0, value))
                seen.add(module)


def _same(a: Chan, b: Chan) -> bool:
    return a.ids is b.ids or (a.ids.shape == b.ids.shape and np.array_equal(a.ids, b.ids))


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + ".")
