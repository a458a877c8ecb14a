"""What a pruning step removes and the goal counts: one Cost class per kind, in a table.

The loop asks a cost five things: how big a network is (read from its PruningRecord), what
removing each channel saves (for the ranking), how to size a step to a target, which stop
reason the goal gives, and how to describe a network in the log. Learnables and MACs are
counted; latency is measured (prune/latency.py). A fourth cost is one subclass added to COSTS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .. import graph
from ..analysis import count_macs
from ..graph import ChannelGraph
from .candidates import describe_unprunable
from .history import PruningRecord, StopReason
from .latency import LatencyMeter, Plan

Chooser = Callable[[float], Plan]  # the selector: the plan removing about this much of the cost


@dataclass(frozen=True)
class CostContext:
    """What a cost may need to measure networks the way the run will use them."""

    example: torch.Tensor  # (1, C, H, W) float, on the run's device
    reference: nn.Module | None  # the unpruned network on the device (given when needs_reference)
    batch: int = 128  # images per timed call (PruningOptions.latency_batch_size)
    multiple: int = 1  # channel multiple a step keeps (PruningOptions.channel_multiple)
    bf16: bool = False  # the run's precision on its device


class Cost(ABC):
    """One kind of cost; the loop holds one instance per run."""

    name: ClassVar[str]  # its PruningOptions.cost value
    goal_reason: ClassVar[StopReason] = StopReason.GOAL  # why the loop stops when the goal is met
    phase: ClassVar[str] = "surgery"  # the PruningInfo.time_split phase its work counts under
    needs_reference: ClassVar[bool] = False  # measures relative to the unpruned network
    # Counted: a plan removes at most what the selector's per-channel figures add up to, so a
    # retry held under those figures is smaller than the step it retries. Latency is measured.
    counted: ClassVar[bool] = True

    def __init__(self, context: CostContext) -> None:
        self.context = context

    @abstractmethod
    def size(self, record: PruningRecord) -> float:
        """The recorded network's size in this cost's units (steps and the goal count in them)."""

    @abstractmethod
    def per_channel(self, net: nn.Module, cg: ChannelGraph, groups: Iterable[int],
                    current: PruningRecord) -> dict[int, torch.Tensor]:
        """Per group of ``groups``, what removing each channel of ``net`` (recorded as ``current``) saves."""

    def measure(self, net: nn.Module, first: PruningRecord | None) -> dict[str, float]:
        """PruningRecord fields this cost measures on ``net`` beyond the counted learnables and MACs
        (``first`` is the unpruned network's record; None while measuring that network itself)."""
        return {}

    def step(self, net: nn.Module, cg: ChannelGraph, choose: Chooser, target: float,
             current: PruningRecord) -> tuple[nn.Module, Plan] | None:
        """The pruned network and its plan for a step of about ``target``; None if nothing can go.

        A counted cost trusts the selector's estimate: one plan, one surgery.
        """
        plan = choose(target)
        return (graph.prune(net, (self.context.example,), plan, channel_graph=cg), plan) if plan else None

    def nothing_left(self, cg: ChannelGraph) -> str:
        """Why ``step`` found nothing to remove (PruningInfo.stop_detail)."""
        return describe_unprunable(cg)

    def describe(self, record: PruningRecord, first: PruningRecord) -> str:
        """What the log line of ``record`` adds for this cost (learnables and MACs are always shown)."""
        return ""


class Learnables(Cost):
    """MATLAB's cost: learnable parameters; a channel saves its weights in every member tensor."""

    name = "learnables"

    def size(self, record: PruningRecord) -> float:
        return record.learnables

    def per_channel(self, net: nn.Module, cg: ChannelGraph, groups: Iterable[int],
                    current: PruningRecord) -> dict[int, torch.Tensor]:
        return {gid: torch.tensor(cg.group(gid).params_per_channel, dtype=torch.float64) for gid in groups}


class Macs(Cost):
    """Multiply-accumulates per example, counted on the traced graph."""

    name = "macs"
    goal_reason = StopReason.MACS_GOAL

    def size(self, record: PruningRecord) -> float:
        return record.macs

    def per_channel(self, net: nn.Module, cg: ChannelGraph, groups: Iterable[int],
                    current: PruningRecord) -> dict[int, torch.Tensor]:
        costs = macs_per_channel(cg)
        return {gid: costs[gid] for gid in groups}


class Latency(Cost):
    """Inference time on the run's device, measured (see prune/latency.py); units: ns per call."""

    name = "latency"
    goal_reason = StopReason.LATENCY_GOAL
    phase = "latency"
    needs_reference = True
    counted = False

    def __init__(self, context: CostContext) -> None:
        super().__init__(context)
        self.meter = LatencyMeter(context.example, context.batch, context.bf16, multiple=context.multiple)

    def size(self, record: PruningRecord) -> float:
        return record.latency_ms * 1e6

    def measure(self, net: nn.Module, first: PruningRecord | None) -> dict[str, float]:
        """Milliseconds per call: the unpruned network's absolute, every later one timed against it
        and scaled by its time, so load that comes and goes between iterations bends no figure."""
        if first is None:
            return {"latency_ms": self.meter.times_ns([net])[0] / 1e6}
        assert self.context.reference is not None
        return {"latency_ms": self.meter.relative(self.context.reference, [net])[0] * first.latency_ms}

    def per_channel(self, net: nn.Module, cg: ChannelGraph, groups: Iterable[int],
                    current: PruningRecord) -> dict[int, torch.Tensor]:
        return self.meter.per_channel(net, cg, groups, self.size(current))

    def step(self, net: nn.Module, cg: ChannelGraph, choose: Chooser, target: float,
             current: PruningRecord) -> tuple[nn.Module, Plan] | None:
        """Probes do not add up exactly, so the candidate itself is timed until it saves about ``target``."""
        return self.meter.sized_step(net, cg, choose, target, self.size(current))

    def nothing_left(self, cg: ChannelGraph) -> str:
        device = self.context.example.device.type
        return f"removing channels no longer saves measurable time at {self.context.batch} images per call on {device}"

    def describe(self, record: PruningRecord, first: PruningRecord) -> str:
        ratio = f" ({record.latency_ms / first.latency_ms:.3f}x)" if record.iteration else ""
        return f", {record.latency_ms:.2f} ms per {self.context.batch} images{ratio}"


COSTS: dict[str, type[Cost]] = {cost.name: cost for cost in (Learnables, Macs, Latency)}


def macs_per_channel(cg: ChannelGraph) -> dict[int, torch.Tensor]:
    """MACs per example each channel of each prunable group saves, to first order.

    A layer's MACs (conv, linear, norm) are shared out evenly over the positions of each weight
    dimension a group occupies (its output rows, its input columns); a channel saves its
    share in every such layer. Removing channels from both sides of one layer saves a little
    less than the sum, and element-wise ops outside layers with weights (a residual add)
    are left out: under 1% on the CIFAR ResNets. The loop measures the real MACs after
    each step.
    """
    macs = count_macs(cg.gm)
    shapes = {name: p.shape for name, p in cg.gm.named_parameters()}
    out = {}
    for g in cg.prunable:
        cost = torch.zeros(g.size, dtype=torch.float64)
        for m in g.members:
            module, _, kind = m.tensor.rpartition(".")
            if kind != "weight" or not macs.of(module):
                continue
            per_position = macs.of(module) / shapes[m.tensor][m.dim]
            for k, positions in enumerate(m.indices):
                cost[k] += per_position * len(positions)
        out[g.id] = cost
    return out
