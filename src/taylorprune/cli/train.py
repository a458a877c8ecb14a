"""taylorprune train: MATLAB's trainnet from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from .common import (
    architecture,
    carve_validation,
    data_args,
    load_data,
    load_model,
    model_args,
    out_dir,
    run_folder_args,
    validation_frequency,
    write_json,
)
from .flags import Override, add_option_flags, options_from_args
from .task import load_task

SUMMARY = "train a network on CIFAR-10 or an image folder (MATLAB trainnet)"
# TrainingOptions fields with no flag: the data is --data/--validation, verbosity is --quiet.
NOT_FLAGS = frozenset({"validation_data", "metrics", "verbose"})
OVERRIDES = {"validation_frequency": Override(None, "iterations between validations (default: once per epoch)")}


def training_flags(p: argparse.ArgumentParser, base: object = None) -> None:
    """TrainingOptions flags (defaults from ``base`` when given) and --quiet."""
    from ..train import TrainingOptions

    add_option_flags(p, TrainingOptions, "training options (TrainingOptions fields)", base=base, skip=NOT_FLAGS,
                     overrides=OVERRIDES)
    p.add_argument("--quiet", action="store_true", help="no progress bar or validation lines")


def training_options(args: argparse.Namespace):  # noqa: ANN201  (TrainingOptions, imported late)
    """TrainingOptions from the flags; the validation frequency is set once the data is known."""
    from ..train import TrainingOptions

    return options_from_args(TrainingOptions, args, validation_frequency=args.validation_frequency or 1,
                             verbose=not args.quiet)


def configure(p: argparse.ArgumentParser) -> None:
    model_args(p, task=True)
    data_args(p)
    p.add_argument("--validation", type=float, metavar="X",
                   help="validation carved from the training data: a fraction < 1, a count, or 0 for none "
                        "(default: 10%% capped at 5,000, at least 200 or a quarter of the data)")
    run_folder_args(p, None, "the model, options, history and plot")
    training_flags(p)


def run(args: argparse.Namespace) -> int:
    from .. import distributed
    from ..artifacts import save_network
    from ..data import VALIDATION_SEED
    from ..report import plot_training
    from ..train import test_net, train_network

    task = load_task(args)
    if task is not None:
        return _run_task(args, task)
    options = training_options(args)  # bad options fail before any data is read
    out = out_dir(args.out, args.force)
    train, test = load_data(args)
    train, val = carve_validation(train, args.validation, VALIDATION_SEED, args)
    net = load_model(args, len(train.classes))
    options = options.replace(validation_data=val, validation_frequency=validation_frequency(args, train))
    main = distributed.is_main()  # under torchrun only rank 0 writes
    if main:
        write_json(out / "options.json", {"model": args.model, "data": args.data, **options.to_dict()})
    net, info = train_network(net, train, "crossentropy", options)
    accuracy = test_net(net, test, execution_environment=args.execution_environment)
    if main:
        spec, kwargs, plans = architecture(args.model, len(train.classes))
        save_network(net, out / "model.safetensors", spec, kwargs=kwargs, plans=plans,
                     input_shape=tuple(train.images.shape[1:]), extra={"classes": list(train.classes)})
        write_json(out / "history.json", {**info.to_dict(), "test_accuracy": accuracy})
        if options.plots == "training-progress":
            plot_training(info, out / "training-progress.png")
    best = max((r.accuracy for r in info.validation_history), default=float("nan"))
    print(f"trained {len(info.training_history)} iterations in {info.elapsed_s:.1f} s "
          f"({info.images_per_second:.0f} images/s); best validation accuracy: {best:.2f}, "
          f"kept the network of iteration {info.output_network_iteration}")
    print(f"accuracy: {accuracy:.2f}")
    print(f"saved {out / 'model.safetensors'}")
    return 0


def _run_task(args: argparse.Namespace, task: Any) -> int:
    """train --task FILE.py: the task's network on its train_data, validated and tested on its own sets."""
    from .. import distributed
    from ..artifacts import save_network
    from ..report import plot_training
    from ..train import evaluate, train_network
    from .task import example_shape, task_architecture, task_network, task_options

    options = task_options(args, task, training_options(args))
    out = out_dir(args.out, args.force)
    train = task.data("train_data", "train")
    val = task.data("validation_data", "train") if task.validation_data else None
    net = task_network(args, task)
    options = options.replace(validation_data=val, validation_frequency=validation_frequency(args, train))
    main = distributed.is_main()  # under torchrun only rank 0 writes
    if main:
        write_json(out / "options.json", {"model": args.model, **task.describe(), **options.to_dict()})
    net, info = train_network(net, train, task.loss, options)
    test = evaluate(net, task.data("test_data", "train"), metrics=task.metrics, loss=task.loss,
                    workers=options.num_workers) if task.test_data else {}
    if main:
        spec, kwargs, plans = task_architecture(args, task)
        save_network(net, out / "model.safetensors", spec, kwargs=kwargs, plans=plans,
                     input_shape=example_shape(train), extra={"task": task.describe()})
        write_json(out / "history.json", {**info.to_dict(), "test": test})
        if options.plots == "training-progress":
            plot_training(info, out / "training-progress.png")
    print(f"trained {len(info.training_history)} iterations in {info.elapsed_s:.1f} s "
          f"({info.images_per_second:.0f} examples/s), kept the network of iteration {info.output_network_iteration}")
    for name, value in test.items():
        print(f"test {name}: {value:.4g}")
    print(f"saved {out / 'model.safetensors'}")
    return 0
