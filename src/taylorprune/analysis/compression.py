"""How far a network can be pruned, and where its size and compute sit.

The analysis is structural (it reads shapes, never weight values), so it is the same for
trained and untrained weights. The maximum reduction prunes every prunable channel group
down to one channel with ``graph.prune``, so every figure is what surgery really gives.

    report = analyze_network_for_compression(net, torch.zeros(1, 3, 32, 32))
    print(render_text(report))   # taylorprune.report.analysis
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import graph
from .layers import LayerReport, Shrinkable, build_layers
from .macs import count_macs

INT8_BYTES = 1  # bytes per learnable stored as int8 (scales and zero points not counted)


@dataclass(frozen=True)
class GroupMember:
    """A parameter or buffer a channel group lives in."""

    tensor: str  # qualified name, e.g. "layer1.0.conv1.weight"
    dim: int  # the axis the group's channels occupy
    role: str  # "out" (producer), "in" (consumer), "norm" or "scale"


@dataclass(frozen=True)
class GroupReport:
    """Channels the engine prunes together, as ``graph.ChannelGroup`` without its indices."""

    id: int
    size: int  # channels
    prunable: bool
    reason: str | None  # why the group is frozen
    learnables: int  # learnables its channels own (a weight two groups share counts in both)
    members: tuple[GroupMember, ...]


@dataclass(frozen=True)
class CompressionReport(Shrinkable):
    """Size, compute and the pruning reach of one network; rendered by ``report.analysis``."""

    network: str  # class name of the analysed module
    input_shape: tuple[int, ...]  # one example, e.g. (3, 32, 32)
    learnables: int  # trainable parameter elements
    macs: int  # multiply-accumulates per example (see analysis.macs for the convention)
    min_learnables: int  # learnables left when every prunable group keeps one channel
    layers: tuple[LayerReport, ...]  # modules that own learnables, in parameter order
    groups: tuple[GroupReport, ...]
    uncounted_macs: tuple[str, ...]  # modules with learnables whose MACs are not counted

    @property
    def int8_memory_bytes(self) -> int:
        return self.learnables * INT8_BYTES

    @property
    def min_int8_memory_bytes(self) -> int:
        return self.min_learnables * INT8_BYTES

    @property
    def frozen_layers(self) -> tuple[LayerReport, ...]:
        return tuple(layer for layer in self.layers if layer.frozen_reason is not None)


def analyze_network_for_compression(net: nn.Module, example_inputs: Any) -> CompressionReport:
    """Analyse ``net`` for pruning (MATLAB's analyzeNetworkForCompression).

    ``example_inputs`` is a tensor or a tuple of positional inputs, e.g. a (1, 3, 32, 32)
    batch; only shapes matter, and MACs are reported per example whatever the batch size.
    ``net`` is not modified.
    """
    inputs = (
        tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    )
    cg = graph.trace_channels(net, inputs)
    macs = count_macs(cg.gm)
    smallest = graph.prune(net, inputs, _max_plan(cg), channel_graph=cg)
    kept = {name: p.numel() for name, p in smallest.named_parameters()}
    learnables = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return CompressionReport(
        network=type(net).__name__,
        input_shape=tuple(inputs[0].shape[1:]) if isinstance(inputs[0], torch.Tensor) else (),
        learnables=learnables,
        macs=macs.total,
        min_learnables=learnables - cg.max_prunable_params(),
        layers=build_layers(net, cg, macs, kept),
        groups=tuple(_group_report(g) for g in cg.groups),
        uncounted_macs=macs.uncounted,
    )


def _max_plan(cg: graph.ChannelGraph) -> dict[int, range]:
    """Every prunable group cut to its first channel."""
    return {g.id: range(1, g.size) for g in cg.prunable if g.size > 1}


def _group_report(g: graph.ChannelGroup) -> GroupReport:
    members = tuple(GroupMember(m.tensor, m.dim, m.role) for m in g.members)
    return GroupReport(g.id, g.size, g.prunable, g.reason, sum(g.params_per_channel), members)
