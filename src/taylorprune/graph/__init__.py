"""Channel dependency analysis and physical filter removal.

    cg = trace_channels(model, example_inputs)   # which channels are coupled
    pruned = prune(model, example_inputs, plan)  # plan: {group_id: indices to remove}
    masked = mask(model, example_inputs, plan)   # same channels zeroed, for checking

What the analysis does not understand it freezes (with a reason), so a plan can never
produce a broken network. ``graph`` imports nothing from importance/prune/train.
"""

from .groups import ChannelGraph, ChannelGroup, Member, OutputPoint, Plan
from .surgery import mask, prune
from .tracing import trace_channels

__all__ = [
    "ChannelGraph",
    "ChannelGroup",
    "Member",
    "OutputPoint",
    "Plan",
    "mask",
    "prune",
    "trace_channels",
]
