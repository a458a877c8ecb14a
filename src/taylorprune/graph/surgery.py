"""Build the pruned network, or the masked reference it must match.

``prune`` removes channels physically from a deep copy; ``mask`` zeroes the same
positions in a deep copy. For every output-exact group, ``prune(...)(x) == mask(...)(x)``
in eval mode: mask zeroes producer rows and biases, BN/LN/GN affine parameters and
running means (so a masked channel's normalised output is exactly 0) and consumer
columns (so whatever a masked channel still carries reaches nothing).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn

from .context import AttrCount
from .groups import ChannelGraph, Plan
from .regraph import rewrite_constants
from .tracing import trace_channels

# Buffers whose masked value must stay as it is (a zero variance would divide by ~0).
_KEEP_WHEN_MASKING = ("running_var",)


def prune(
    model: nn.Module, example_inputs: Any, plan: Plan, *, channel_graph: ChannelGraph | None = None
) -> nn.Module:
    """A new, smaller module without the plan's channels; ``model`` is not modified.

    ``plan`` maps group ids to channel indices (0..size-1) to remove. Module names are
    kept, so state-dict keys stay readable. Pass ``channel_graph`` (from trace_channels on
    this same model) to skip re-tracing.
    """
    cg = channel_graph or trace_channels(model, example_inputs)
    removed = cg.removed(plan)
    out = copy.deepcopy(model)
    if removed.size == 0:
        return out
    for name, keeps in _keeps(cg, removed).items():
        tensor = _get(out, name)
        for dim, keep in keeps.items():
            tensor = tensor.index_select(
                dim, torch.from_numpy(np.flatnonzero(keep)).to(tensor.device)
            )
        _set(out, name, tensor)
    for count in cg.counts:
        _set_count(out, count, int(cg.kept(count.ids, removed).sum()))
    return rewrite_constants(out, cg, removed)


def mask(
    model: nn.Module, example_inputs: Any, plan: Plan, *, channel_graph: ChannelGraph | None = None
) -> nn.Module:
    """A copy of ``model`` with the plan's channels zeroed wherever prune would cut them."""
    cg = channel_graph or trace_channels(model, example_inputs)
    removed = cg.removed(plan)
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name, keeps in _keeps(cg, removed).items():
            if name.rsplit(".", 1)[-1] in _KEEP_WHEN_MASKING:
                continue
            tensor = _get(out, name)
            for dim, keep in keeps.items():
                drop = torch.from_numpy(np.flatnonzero(~keep)).to(tensor.device)
                tensor.index_fill_(dim, drop, 0)
    return out


def _keeps(cg: ChannelGraph, removed: np.ndarray) -> dict[str, dict[int, np.ndarray]]:
    """Per tensor, per dim: which positions survive (only tensors that lose some)."""
    out: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for m in cg.members:
        keep = cg.kept(m.ids, removed)
        if not keep.all():
            out[m.tensor][m.dim] = keep
    return out


def _split(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, attr = name.rpartition(".")
    return (model.get_submodule(path) if path else model), attr


def _get(model: nn.Module, name: str) -> torch.Tensor:
    module, attr = _split(model, name)
    return getattr(module, attr)


def _set(model: nn.Module, name: str, value: torch.Tensor) -> None:
    module, attr = _split(model, name)
    old = getattr(module, attr)
    if isinstance(old, nn.Parameter):
        module._parameters[attr] = nn.Parameter(value.detach().clone(), old.requires_grad)
    else:
        module._buffers[attr] = value.clone()


def _set_count(model: nn.Module, count: AttrCount, kept: int) -> None:
    module = model.get_submodule(count.module) if count.module else model
    if count.index is None:
        setattr(module, count.attr, kept)
    else:
        items = list(getattr(module, count.attr))
        items[count.index] = kept
        setattr(module, count.attr, tuple(items))
