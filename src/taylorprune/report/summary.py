"""The printed result of a pruning run, in MATLAB's wording."""

from __future__ import annotations

from ..prune.history import PruningInfo


def summary_lines(info: PruningInfo) -> list[str]:
    """'Compressed network has 21.5% fewer learnable parameters.' and the pruned layers."""
    lines = [f"Compressed network has {100 * info.learnables_reduction:.1f}% fewer learnable parameters."]
    if info.pruned_layers:
        lines.append(f"Pruning compressed {len(info.pruned_layers)} layers: {', '.join(info.pruned_layers)}")
    else:
        lines.append("Pruning compressed no layers.")
    if info.stop_reason is not None:
        lines.append(f"Stop reason: {info.stop_reason.value}")
    return lines
