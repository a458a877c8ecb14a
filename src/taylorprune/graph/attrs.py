"""Which module attribute counts a parameter axis, so a literal read from it is updated
through the attribute instead of rewritten in the graph.

timm's layers pass their own attributes to functionals (``F.conv2d(..., self.groups)``,
``self.weight.reshape(1, self.out_channels, -1)``); fx records them as literals. When a
literal sits in the forward of the module that owns the weight and equals the attribute
that counts that axis, the pruned module keeps its class and the attribute is set to the
kept count; any other literal is rewritten in a re-traced graph (see regraph).
"""

from __future__ import annotations

import numpy as np
import torch.fx as fx
from torch import nn

from .context import Context, Value, read_literal
from .values import Param

# Module attribute that counts each axis of a weight the module owns: (class, tensor, dim).
_COUNT_ATTRS: tuple[tuple[type[nn.Module], str, int, str], ...] = (
    (nn.modules.conv._ConvTransposeNd, "weight", 0, "in_channels"),  # before its base class
    (nn.modules.conv._ConvNd, "weight", 0, "out_channels"),
    (nn.Linear, "weight", 0, "out_features"),
    (nn.Linear, "weight", 1, "in_features"),
    (nn.modules.batchnorm._NormBase, "", 0, "num_features"),
    (nn.GroupNorm, "", 0, "num_channels"),
)


def axis(ctx: Context, p: Value, dim: int) -> np.ndarray | None:
    """Elements of a Param's dim (fresh ones for a dim of size 1); None if not followed."""
    if not isinstance(p, Param) or dim >= len(p.shape):
        return None
    ids = p.ids(dim)
    if ids is None and p.shape[dim] == 1:
        return ctx.uf.fresh(1)
    return ids


def owner(ctx: Context, ids: np.ndarray) -> tuple[str, str, int] | None:
    """(module, tensor attribute, dim) of the parameter axis these elements came from."""
    key = ctx.origin.get(int(ids[0])) if len(ids) else None
    if key is None:
        return None
    module, _, attr = key[0].rpartition(".")
    return module, attr, key[1]


def count_attr(module: nn.Module, tensor: str, dim: int) -> str | None:
    """The attribute of ``module`` that counts axis ``dim`` of its tensor ``tensor``."""
    for cls, t, d, name in _COUNT_ATTRS:
        if isinstance(module, cls) and t in ("", tensor) and d == dim and hasattr(module, name):
            return name
    return None


def count_owner(ctx: Context, ids: np.ndarray, channels: np.ndarray) -> None:
    """Update the attribute that counts this axis in the module owning the parameter."""
    found = owner(ctx, ids)
    name = count_attr(ctx.submodule(found[0]), found[1], found[2]) if found else None
    if found is not None and name is not None:
        ctx.count(found[0], name, channels)


def literal(
    ctx: Context,
    node: fx.Node,
    path: tuple[int | str, ...],
    ids: np.ndarray,
    weight_axis: np.ndarray,
    attr: str | None = None,
) -> None:
    """The literal at ``path`` counts ``ids``: update the attribute it was read from (``attr``,
    or the one that counts ``weight_axis`` in its owner), else rewrite it in the graph."""
    value = read_literal(node, path)
    found = owner(ctx, weight_axis)
    if found is not None and found[0] == ctx.scope(node):
        m = ctx.submodule(found[0])
        name = attr or count_attr(m, found[1], found[2])
        if name is not None and getattr(m, name, None) == value:
            ctx.count(found[0], name, ids)
            return
    ctx.const(node, path, ids)


