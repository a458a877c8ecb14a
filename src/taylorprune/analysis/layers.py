"""Per-layer rows of the compression report: size, compute and how far pruning reaches.

A *layer* is every module that directly owns learnables (trainable parameters). Its
*filters* are the positions along its weight's output dimension (conv out_channels,
linear out_features, norm num_features).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from ..graph import ChannelGraph, ChannelGroup
from .macs import MacCount

FP32_BYTES = 4  # bytes per learnable stored as float32
_FILTER_ROLES = ("out", "norm", "scale")  # member roles that sit on a layer's output dim


class Shrinkable:
    """Sizes derived from ``learnables`` and ``min_learnables`` (shared by layer and network rows)."""

    learnables: int
    min_learnables: int

    @property
    def memory_bytes(self) -> int:
        return self.learnables * FP32_BYTES

    @property
    def min_memory_bytes(self) -> int:
        return self.min_learnables * FP32_BYTES

    @property
    def max_reduction(self) -> float:
        """Largest fraction (0..1) of the learnables that pruning can remove."""
        return 1 - self.min_learnables / self.learnables if self.learnables else 0.0


@dataclass(frozen=True)
class LayerReport(Shrinkable):
    """One module that owns learnables."""

    name: str  # qualified module name; "" for parameters of the network module itself
    type: str  # class name, e.g. "Conv2d"
    learnables: int  # trainable parameter elements owned directly (not by submodules)
    macs: int  # multiply-accumulates per example of the ops this module runs
    filters: int  # positions along the weight's output dim (out channels)
    prunable_filters: int  # filters in prunable channel groups
    min_learnables: int  # learnables left when every prunable group keeps one channel
    frozen_reason: str | None  # why some filters cannot be pruned, in the engine's words



def build_layers(
    net: nn.Module, cg: ChannelGraph, macs: MacCount, kept: Mapping[str, int]
) -> tuple[LayerReport, ...]:
    """Rows in parameter order; ``kept`` maps each learnable's name to its element count
    in the network pruned as far as possible."""
    owned: dict[str, list[str]] = defaultdict(list)  # module -> its learnables' names
    sizes: dict[str, int] = {}
    for name, p in net.named_parameters():  # shared parameters are listed once
        if p.requires_grad:
            owned[name.rpartition(".")[0]].append(name)
            sizes[name] = p.numel()
    on_tensor = _groups_by_tensor(cg)
    rows = []
    for module_name, tensors in owned.items():
        module = net.get_submodule(module_name)
        primary = next((t for t in tensors if t.endswith(".weight") or t == "weight"), tensors[0])
        filters, prunable, reason = _filters(cg, primary, module_name, on_tensor[primary])
        rows.append(
            LayerReport(
                name=module_name,
                type=type(module).__name__,
                learnables=sum(sizes[t] for t in tensors),
                macs=macs.of(module_name),
                filters=filters,
                prunable_filters=prunable,
                min_learnables=sum(kept[t] for t in tensors),
                frozen_reason=reason,
            )
        )
    return tuple(rows)


def _groups_by_tensor(cg: ChannelGraph) -> dict[str, list[tuple[ChannelGroup, int, int]]]:
    """tensor -> (group, dim, positions it covers) for each member on an output dim."""
    out: dict[str, list[tuple[ChannelGroup, int, int]]] = defaultdict(list)
    for g in cg.groups:
        for m in g.members:
            if m.role in _FILTER_ROLES:
                out[m.tensor].append((g, m.dim, sum(len(ix) for ix in m.indices)))
    return out


def _filters(
    cg: ChannelGraph, tensor: str, module: str, members: list[tuple[ChannelGroup, int, int]]
) -> tuple[int, int, str | None]:
    """(filters, prunable filters, frozen reason) of one layer's primary tensor."""
    shape = cg.shapes[tensor]
    dim = members[0][1] if members else 0
    filters = shape[dim] if shape else 1
    on_dim = [(g, n) for g, d, n in members if d == dim]
    prunable = sum(n for g, n in on_dim if g.prunable)
    reason = next((g.reason for g, _ in on_dim if not g.prunable), None)
    if reason is None and sum(n for _, n in on_dim) < filters:
        reason = _untraced_reason(cg, module)
    return filters, prunable, reason


def _untraced_reason(cg: ChannelGraph, module: str) -> str:
    leaf = next((o for o in sorted(cg.opaque) if module == o or module.startswith(o + ".")), None)
    if leaf is not None:
        return f"inside {leaf}, which torch.fx cannot trace (kept whole)"
    return "its filters are not in any channel group (not reached by the trace)"
