"""taylorprune prune: compressNetworkUsingTaylorPruning from the command line, into a run folder."""

from __future__ import annotations

import argparse
import time

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
from .train import training_flags, training_options

SUMMARY = "Taylor-prune a network to an accuracy floor (compressNetworkUsingTaylorPruning)"
# PruningOptions fields whose command-line default or help differs from the library's.
OVERRIDES = {
    "validation_threshold": Override(85.0, "validation accuracy floor in percent (MATLAB's validation threshold)"),
}


def configure(p: argparse.ArgumentParser) -> None:
    from ..prune import FINE_TUNING, PruningOptions

    model_args(p, default="cifarnet")
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
    options = training_options(args)  # bad options fail before any data is read
    pruning = options_from_args(PruningOptions, args)
    check_pruning_request(pruning, options, "crossentropy")
    out = out_dir(args.out, args.force, args.resume)
    train, test = load_data(args)
    seed = args.seed if pruning.validation_seed is None else pruning.validation_seed
    train, val = carve_validation(train, pruning.validation_split, seed)
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
