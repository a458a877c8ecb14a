"""taylorprune prune: compressNetworkUsingTaylorPruning from the command line, into a run folder."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import InputError
from .common import (
    architecture,
    carve_validation,
    data_args,
    load_data,
    load_model,
    model_args,
    out_dir,
    process_age_s,
    run_folder_args,
    validation_frequency,
)
from .flags import Override, add_option_flags, options_from_args
from .task import (
    example_shape,
    load_task,
    refuse_task_run,
    task_architecture,
    task_network,
    task_options,
)
from .train import training_flags, training_options

SUMMARY = "Taylor-prune a network to an accuracy floor (compressNetworkUsingTaylorPruning)"
DEFAULT_MODEL = "cifarnet"
DEFAULT_FLOOR = 85.0  # percent: the validation accuracy floor of a built-in model's run
# PruningOptions fields whose command-line default or help differs from the library's.
OVERRIDES = {
    "validation_threshold": Override(
        None, f"validation threshold (MATLAB's): for --model, the accuracy floor in percent (default "
              f"{DEFAULT_FLOOR:g}); with --task required, on the task's objective metric: a floor when "
              "higher is better, a ceiling when lower is (RMSE, loss)"),
}


def configure(p: argparse.ArgumentParser) -> None:
    from ..prune import FINE_TUNING, PruningOptions

    model_args(p, default=DEFAULT_MODEL, task=True)
    data_args(p)
    run_folder_args(p, "runs/prune", "network, histories, plot, report")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (same flags as the first run)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="within a fine-tuning, save its state after an epoch once this long has passed")
    add_option_flags(p, PruningOptions, "pruning options (PruningOptions fields)", overrides=OVERRIDES)
    training_flags(p, base=FINE_TUNING)


def run(args: argparse.Namespace) -> int:
    from ..prune import PruningOptions, check_pruning_request
    from ..report import summary_lines
    from ..runs import RunSpec, prune_into_folder

    started = time.perf_counter() - process_age_s()  # a time budget counts the interpreter's start-up too
    if not args.task:
        args.model = args.model or DEFAULT_MODEL
    task = load_task(args)
    if task is not None:
        return _run_task(args, task, started)
    options = training_options(args)  # bad options fail before any data is read
    pruning = options_from_args(PruningOptions, args, validation_threshold=_threshold(args, DEFAULT_FLOOR))
    check_pruning_request(pruning, options, "crossentropy")
    out = out_dir(args.out, args.force, args.resume)
    if args.resume:
        refuse_task_run(out)
    train, test = load_data(args)
    train, val = carve_validation(train, pruning.validation_split, pruning.validation_seed, args)
    net = load_model(args, len(train.classes))
    options = options.replace(validation_data=val, validation_frequency=validation_frequency(args, train))
    base, kwargs, plans = architecture(args.model, len(train.classes))
    spec = RunSpec(base, kwargs, tuple(train.images.shape[1:]), train.classes, tuple(plans))
    _, info = prune_into_folder(net, spec, train, out, options, pruning, test=test, resume=args.resume,
                                checkpoint_minutes=args.checkpoint_minutes, budget_start=started)
    print("\n".join(summary_lines(info)))
    model = out / "model.safetensors"
    print(f"saved {model}, report {out / 'report.md'}" if model.exists() else f"report {out / 'report.md'}")
    return 0


def _run_task(args: argparse.Namespace, task: Any, started: float) -> int:
    """prune --task FILE.py: the task's network, data, loss and metrics, in a run folder like any other."""
    from ..prune import PruningOptions, check_pruning_request
    from ..report import summary_lines
    from ..runs import RunSpec, prune_into_folder

    options = task_options(args, task, training_options(args))
    pruning = options_from_args(PruningOptions, args, validation_threshold=_threshold(args, None, task))
    check_pruning_request(pruning, options, task.loss)
    out = out_dir(args.out, args.force, args.resume)
    train = task.data("train_data", "prune")
    val = task.data("validation_data", "prune") if task.validation_data else None
    test = task.data("test_data", "prune") if task.test_data else None
    net = task_network(args, task)
    options = options.replace(validation_data=val, validation_frequency=validation_frequency(args, train))
    base, kwargs, plans = task_architecture(args, task)
    spec = RunSpec(base, kwargs, example_shape(train), (), tuple(plans))
    _, info = prune_into_folder(net, spec, train, out, options, pruning, loss=task.loss, task=task, test=test,
                                resume=args.resume, checkpoint_minutes=args.checkpoint_minutes, budget_start=started)
    print("\n".join(summary_lines(info)))
    model = out / "model.safetensors"
    print(f"saved {model}, report {out / 'report.md'}" if model.exists() else f"report {out / 'report.md'}")
    return 0


def _threshold(args: argparse.Namespace, default: float | None, task: object = None) -> float:
    """--validation-threshold (--min-accuracy), else ``default``; a task run must give it."""
    if args.validation_threshold is not None:
        return args.validation_threshold
    if default is None:
        objective = getattr(task, "objective", "")
        bound = "floor" if getattr(task, "higher_is_better", True) else "ceiling"
        raise InputError(f"--task needs --validation-threshold: the {bound} on the task's objective {objective}")
    return default
