"""A pruning run with a folder: the network, histories, plot and report, kept current.

This sits above prune/ and report/: the loop computes, this module writes. After every
accepted pruning iteration the folder already holds a loadable network, so a long run
that dies keeps its work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .artifacts import save_network
from .data import ImageData
from .prune import PruningInfo, compress_network_using_taylor_pruning, count_learnables
from .report import plot_pruning, summary_lines
from .report.markdown import pruning_report
from .train import TrainingOptions, test_net


@dataclass(frozen=True)
class RunSpec:
    """What rebuilds the unpruned network, for the artifacts of a run."""

    model: str  # model spec of the base architecture
    kwargs: dict[str, Any]  # its builder's keyword arguments (e.g. num_classes)
    input_shape: tuple[int, ...]  # (C, H, W) of one example
    classes: tuple[str, ...]


def prune_into_folder(
    net: nn.Module,
    spec: RunSpec,
    train: ImageData,
    out: Path,
    options: TrainingOptions,
    *,
    test: ImageData | None = None,
    **pruning: Any,
) -> tuple[nn.Module, PruningInfo]:
    """compress_network_using_taylor_pruning, writing ``out`` after every iteration and at the end."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "options.json").write_text(json.dumps(
        {"model": spec.model, **options.to_dict(), **pruning}, indent=2, default=str) + "\n")
    threshold = pruning["validation_threshold"]

    def save(iteration: int, best: nn.Module, info: PruningInfo) -> None:
        _write(out, best, info, spec, threshold, options.objective_metric_name)

    pruned, info = compress_network_using_taylor_pruning(
        net, train, "crossentropy", options, on_iteration=save, **pruning)
    test_accuracy = test_net(pruned, test, execution_environment=options.execution_environment) \
        if test is not None else None
    _write(out, pruned, info, spec, threshold, options.objective_metric_name)
    (out / "report.md").write_text(pruning_report(info, count_learnables(net), test_accuracy, threshold))
    return pruned, info


def _write(out: Path, net: nn.Module, info: PruningInfo, spec: RunSpec, threshold: float, metric: str) -> None:
    save_network(net, out / "model.safetensors", spec.model, kwargs=spec.kwargs, plans=info.plans,
                 input_shape=spec.input_shape,
                 extra={"classes": list(spec.classes), "summary": summary_lines(info)[0]})
    if info.training_history:
        info.plot_path = plot_pruning(info, out / "progress.png", threshold, metric)
    info.write(out)
