"""Structural analysis of a network before pruning: size, MACs and how far pruning reaches.

    report = analyze_network_for_compression(net, torch.zeros(1, 3, 32, 32))

Returns plain result objects; ``taylorprune.report.analysis`` renders them. ``analysis``
builds on ``graph`` and imports nothing from importance/prune/train/report.
"""

from .compression import (
    CompressionReport,
    GroupMember,
    GroupReport,
    analyze_network_for_compression,
)
from .layers import LayerReport
from .macs import MacCount, count_macs

__all__ = [
    "CompressionReport",
    "GroupMember",
    "GroupReport",
    "LayerReport",
    "MacCount",
    "analyze_network_for_compression",
    "count_macs",
]
