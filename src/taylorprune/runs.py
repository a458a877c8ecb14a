"""A pruning run with a folder: the network, histories, plot and report, kept current.

This sits above prune/ and report/: the loop computes, this module writes. After every
accepted pruning iteration the folder holds a loadable network (``model.safetensors``) and
a checkpoint (``checkpoint.safetensors``: the same network plus the whole history, written
atomically), so a run that dies loses at most one iteration and ``--resume`` continues it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed, fingerprints, graph
from .analysis import count_macs
from .artifacts import atomic_write, load_network, read_manifest, save_network
from .benchmark import BenchmarkOptions, benchmark_network, compare_networks
from .errors import InputError
from .losses import LossFn
from .prune import (
    FineTuneCheckpoint,
    PruningCheckpoint,
    PruningInfo,
    PruningOptions,
    StopReason,
    compress_network_using_taylor_pruning,
    count_learnables,
)
from .prune.history import HistoryFiles
from .report import plot_pruning, summary_lines
from .report.markdown import pruning_report
from .tasks import Task
from .train import TrainingOptions, TrainingState, resolve_device, test_net
from .train.metrics import metric_name, with_loss
from .train.sources import as_source

CHECKPOINT = "checkpoint.safetensors"
_LATENCY = BenchmarkOptions(batch_sizes=(1, 128), runtimes=("pytorch",), warmup=3, repeats=10)  # the report's
FINE_TUNE = "fine-tune-state.pt"  # tensors and plain containers only: loads with weights_only=True


@dataclass(frozen=True)
class RunSpec:
    """What rebuilds the unpruned network, for the artifacts of a run."""

    model: str  # model spec of the base architecture
    kwargs: dict[str, Any]  # its builder's keyword arguments (e.g. num_classes)
    input_shape: tuple[int, ...]  # (C, H, W) of one example
    classes: tuple[str, ...]
    plans: tuple = ()  # channel plans already applied to the base before this run


def report_images(test: Any) -> int:
    """Examples of the test data evaluated after a run, which a time budget keeps time for. A
    DataLoader counts its examples, not its batches."""
    return len(as_source(test, torch.device("cpu"))) if test is not None else 0


def latency_seconds(net: nn.Module, input_shape: tuple[int, ...], environment: str) -> float:
    """What the report's latency table will take, which a time budget keeps time for: its calls
    (two networks, warm-up and timed), each as long as one call of the unpruned network, the
    slower of the two, timed here once per batch size after one warm-up call.

    Estimating it as evaluated images instead left it 4x short on a CPU: the table times the
    network on (N, C, H, W) inputs one batch at a time, evaluation runs batches of 1,000.
    """
    probe = dataclasses.replace(_LATENCY, runtimes=(_runtime(environment),), warmup=1, repeats=1)
    timed = benchmark_network(copy.deepcopy(net), input_shape, probe).timings
    return 2 * (_LATENCY.warmup + _LATENCY.repeats) * sum(t.latency_ms for t in timed) / 1e3


def prune_into_folder(
    net: nn.Module,
    spec: RunSpec,
    train: Any,
    out: Path,
    options: TrainingOptions,
    pruning: PruningOptions,
    *,
    loss: str | LossFn = "crossentropy",
    task: Task | None = None,
    test: Any = None,
    resume: bool = False,
    checkpoint_minutes: float = 5.0,
    budget_start: float | None = None,
) -> tuple[nn.Module, PruningInfo]:
    """compress_network_using_taylor_pruning, writing ``out`` after every iteration and at the end.

    ``train`` and ``test`` are ImageData, Datasets or DataLoaders. With a ``task`` (a loaded
    task file) the run folder records its path and sha256, and a resumed run rebuilds the
    checkpoint's architecture with the task's network(): nothing the folder names is
    imported. Within a fine-tuning, the training state is saved after an epoch once
    ``checkpoint_minutes`` have passed since the last save (0: after every epoch). A run
    stopped by the user ends with what it has: no test and no latency benchmark. A time budget
    (``pruning.time_budget_s``) counts from ``budget_start`` (a ``time.perf_counter()`` value,
    e.g. when the command started; default: now) and keeps time for the test and latency table.
    """
    described = task.describe() if task is not None else {}
    settings = json.loads(json.dumps({"model": spec.model, **described, **options.to_dict(), **pruning.to_dict()},
                                     default=str))
    start = fingerprints.fingerprint_run(net, train, options.validation_data)
    build = task.build_network if task is not None else None
    resume_from = _resume(out, settings, spec, start, build) if resume else None
    main = distributed.is_main()  # under torchrun only rank 0 writes; every rank computes
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "options.json").write_text(json.dumps(settings, indent=2) + "\n")
        fingerprints.record(out, start)
    threshold = pruning.validation_threshold
    history = HistoryFiles(out)

    last_save = [time.monotonic()]

    def save(iteration: int, best: nn.Module, info: PruningInfo) -> None:
        if not main:
            return
        _write(out, best, info, spec, threshold, options.objective_metric_name, history)
        save_network(best, out / CHECKPOINT, spec.model, kwargs=spec.kwargs, plans=[*spec.plans, *info.plans],
                     input_shape=spec.input_shape, extra={"run": {"settings": settings, "info": info.to_dict()}})
        (out / FINE_TUNE).unlink(missing_ok=True)  # that fine-tuning is finished
        last_save[0] = time.monotonic()

    def save_fine_tune(point: FineTuneCheckpoint) -> None:
        if main and time.monotonic() - last_save[0] >= 60 * checkpoint_minutes:
            payload = {"iteration": point.iteration, "plan": {str(g): ix for g, ix in point.plan.items()},
                       "state": point.state.to_dict()}
            atomic_write(out / FINE_TUNE, lambda tmp: torch.save(payload, tmp))
            last_save[0] = time.monotonic()

    pruned, info = compress_network_using_taylor_pruning(
        net, train, loss, options, pruning, on_iteration=save, on_fine_tune_epoch=save_fine_tune,
        resume_from=resume_from, budget_start=budget_start, report_images=report_images(test),
        report_seconds=latency_seconds(net, spec.input_shape, options.execution_environment)
        if pruning.time_budget_s is not None else 0.0)
    # An unpruned network that fails the threshold is not a result; a stopped run measures nothing more.
    measure = info.stop_reason not in (StopReason.UNMET, StopReason.USER)
    test_value = _test(pruned, test, options, loss) if measure and test is not None else None
    if main:
        if info.stop_reason != StopReason.UNMET and info.pruning_history:
            _write(out, pruned, info, spec, threshold, options.objective_metric_name, history)
        else:
            history.write(info)
        macs = _macs(info, net, pruned, spec.input_shape)
        latency = _latency(net, pruned, spec.input_shape, options.execution_environment) if measure else []
        (out / "report.md").write_text(pruning_report(info, count_learnables(net), test_value, threshold, macs,
                                                      latency))
        per_epoch = max(len(train) // min(options.mini_batch_size, len(train)), 1)
        _write_result(out, info, test_value, macs, len(info.training_history) / per_epoch, latency)
    return pruned, info


def _test(net: nn.Module, test: Any, options: TrainingOptions, loss: str | LossFn) -> float:
    """The objective metric of the returned network on the test data."""
    objective = next(m for m in with_loss(options.metrics) if metric_name(m) == options.objective_metric_name)
    return test_net(net, test, objective, loss=loss, execution_environment=options.execution_environment,
                    workers=options.num_workers)


def _macs(info: PruningInfo, net: nn.Module, pruned: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """MACs per example before and after, as the loop counted them; traced again only where the
    history lacks them (runs resumed from checkpoints written before it recorded MACs)."""
    before = info.original_macs or _count_macs(net, input_shape)
    if not info.plans:  # nothing accepted: the returned network is the unpruned one
        return before, before
    after = [r.macs for r in info.pruning_history if r.meets_threshold][-1]
    return before, after or _count_macs(pruned, input_shape)


def _count_macs(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    device = next(net.parameters()).device
    cg = graph.trace_channels(net, (torch.zeros(1, *input_shape, device=device),))
    return count_macs(cg.gm).total


def _latency(before: nn.Module, after: nn.Module, input_shape: tuple[int, ...],
             environment: str) -> list[dict[str, Any]]:
    """Median latency of the original and the returned network, batch 1 and 128, on the run's device.

    The third cost beside learnables and MACs: how much of the cut a user will see as time.
    """
    options = dataclasses.replace(_LATENCY, runtimes=(_runtime(environment),))
    result = compare_networks(copy.deepcopy(after), input_shape, options, baseline=copy.deepcopy(before))
    rows = []
    for t in result.model.timings:
        base = result.baseline.timing(t.runtime, t.batch) if result.baseline else None
        assert base is not None  # the baseline is timed at every runtime and batch the model is
        rows.append({"runtime": t.runtime, "batch": t.batch, "before_ms": base.latency_ms, "after_ms": t.latency_ms,
                     "ratio": result.time_ratio(t.runtime, t.batch)})
    return rows


def _runtime(environment: str) -> str:
    return "pytorch-cuda-bf16" if resolve_device(environment).type == "cuda" else "pytorch"


def _write_result(out: Path, info: PruningInfo, test_value: float | None, macs: tuple[int, int],
                  fine_tuning_epochs: float, latency: list[dict[str, Any]]) -> None:
    """result.json: the run's outcome in one small machine-readable file (benchmarks read it)."""
    result = {
        "learnables": [info.original_learnables, info.learnables], "learnables_reduction": info.learnables_reduction,
        "macs": list(macs), "macs_reduction": 1 - macs[1] / macs[0] if macs[0] else 0.0, "latency": latency,
        "validation_metric": [info.pruning_history[0].validation_metric if info.pruning_history else None,
                              info.validation_metric],
        "validation_bounds": info.validation_bounds, "acceptance": info.acceptance, "time_budget_s": info.time_budget_s,
        "fine_tuning_images": sum(r.fine_tuning_images for r in info.pruning_history)
        + ((info.final_fine_tuning or {}).get("images") or 0),
        "final_fine_tuning": info.final_fine_tuning,
        "objective_metric": info.objective_metric, "higher_is_better": info.higher_is_better,
        "test_metric": test_value,
        "test_accuracy": test_value if info.objective_metric == "accuracy" else None,
        "stop_reason": info.stop_reason.value if info.stop_reason else None,
        "iterations": max(len(info.pruning_history) - 1, 0), "accepted": len(info.plans),
        "fine_tuning_epochs": fine_tuning_epochs, "elapsed_s": info.elapsed_s, "time_split_s": info.time_split,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")


def _resume(out: Path, settings: dict[str, Any], spec: RunSpec, start: fingerprints.RunFingerprint,
            build: Callable[[], nn.Module] | None = None) -> PruningCheckpoint | None:
    """The checkpoint to continue from, after checking this is the same run; ``build`` makes the
    unpruned architecture for a task run (its network(), the user's --task given again)."""
    path = out / CHECKPOINT
    if not path.is_file():
        if out.exists() and any(out.iterdir()):
            raise InputError(f"{out} has no {CHECKPOINT} to resume from (the run stopped before its "
                             "first pruning iteration ended); start again with --force")
        return None
    manifest = read_manifest(path)
    run = manifest["run"]
    changed = sorted(k for k in set(settings) | set(run["settings"])
                     if settings.get(k) != run["settings"].get(k))
    if "task_file" in run["settings"] and "task_file" not in settings:
        raise InputError(f"the run in {out} was made with task file {run['settings']['task_file']}; pass "
                         "--task with it again (a run folder never makes taylorprune import code)")
    if "task_sha256" in changed:
        raise InputError(f"the task file differs from the one the run in {out} started with (sha256 "
                         f"{run['settings'].get('task_sha256', '')[:12]}...); resume with the same file, "
                         "or start again with --force")
    if changed:
        raise InputError(f"--resume needs the options of the original run, but {', '.join(changed)} "
                         f"differ (see {out / 'options.json'}); pass the same flags or start again with --force")
    fingerprints.check_resume(out, start)
    # The checkpoint is rebuilt only as the architecture this run already built from the user's
    # --model: a manifest naming anything else is refused, so the folder can name no code to run.
    base = (manifest["spec"], manifest["kwargs"])
    if base != (spec.model, json.loads(json.dumps(spec.kwargs))):
        raise InputError(f"{path} rebuilds {base[0]!r} {base[1]}, not this run's {spec.model!r} {spec.kwargs}; "
                         "resume with the --model of the first run, or start again with --force")
    info = PruningInfo.from_dict(run["info"])
    return PruningCheckpoint(load_network(path, trust_code=True, base=build), info,
                             _fine_tune_checkpoint(out, len(info.pruning_history)))


def _fine_tune_checkpoint(out: Path, iteration: int) -> FineTuneCheckpoint | None:
    """The part-done fine-tuning of ``iteration``, if one was saved (older ones are stale)."""
    path = out / FINE_TUNE
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["iteration"] != iteration:
            return None
        plan = {int(g): list(ix) for g, ix in saved["plan"].items()}
        return FineTuneCheckpoint(saved["iteration"], plan, TrainingState(**saved["state"]))
    except Exception:  # noqa: BLE001  a damaged or malformed file only costs the part-done fine-tuning
        return None


def _write(out: Path, net: nn.Module, info: PruningInfo, spec: RunSpec, threshold: float, metric: str,
           history: HistoryFiles) -> None:
    save_network(net, out / "model.safetensors", spec.model, kwargs=spec.kwargs, plans=[*spec.plans, *info.plans],
                 input_shape=spec.input_shape,
                 extra={"classes": list(spec.classes), "summary": summary_lines(info)[0]})
    if info.training_history:
        info.plot_path = plot_pruning(info, out / "progress.png", threshold, metric)
    history.write(info)
