"""--task FILE.py: what train, test, prune and analyze share when a task file names the work.

Loading a task file runs it (tasks.py): the flag is the user's explicit opt-in, and nothing
else (a run folder, a manifest) ever makes the command line load one.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError


def task_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", metavar="FILE.py",
                   help="a Python file defining network(), train_data(), validation_data(), test_data(), "
                        "LOSS, METRICS and OBJECTIVE (docs/custom-tasks.md) in place of --model and --data; "
                        "loading it RUNS it, as `python FILE.py` would: only files you trust")


def load_task(args: argparse.Namespace) -> Any:
    """The task --task names (tasks.Task), or None; with --model neither, one line says what to give."""
    if not args.task:
        if not args.model:
            raise InputError("give --model NAME (a built-in, torchvision: or .safetensors model) or --task FILE.py")
        return None
    if getattr(args, "data", None):
        raise InputError("--task FILE.py names its own data; drop --data")
    from ..tasks import load_task as load

    return load(args.task)


def task_network(args: argparse.Namespace, task: Any) -> Any:
    """--model when it is a file a --task run wrote (rebuilt with the task's network()), else network()."""
    from ..artifacts import is_network_file, load_network

    if not args.model:
        return task.build_network()
    if not is_network_file(args.model):
        raise InputError(f"with --task, --model must be a .safetensors file a --task run wrote, not {args.model!r}; "
                         "or leave --model out to use the task's network()")
    return load_network(args.model, base=task.build_network)


def task_architecture(args: argparse.Namespace, task: Any) -> tuple[str, dict, list]:
    """Spec, kwargs and earlier plans for the files a task run writes: "task:FILE.py" rebuilt by its network()."""
    from ..artifacts import TASK_SPEC, read_manifest

    if args.model:
        manifest = read_manifest(args.model)
        return manifest["spec"], manifest["kwargs"], manifest["plans"]
    return f"{TASK_SPEC}{task.path.name}", {}, []


def example_shape(data: Any) -> tuple[int, ...]:
    """The shape of one input example of ``data`` (ImageData, a Dataset or a DataLoader)."""
    import torch

    from ..train.sources import as_source

    return tuple(as_source(data, torch.device("cpu")).example(1)[0].shape[1:])


def task_options(args: argparse.Namespace, task: Any, options: Any) -> Any:
    """The flags' TrainingOptions with the task's metrics and objective."""
    return options.replace(metrics=task.metrics, objective_metric_name=task.objective)


def refuse_task_run(out: Any) -> None:
    """Resuming a --task run folder without --task: one line, before any data is read.

    The folder's options.json names the task file, but a run folder never makes taylorprune
    import code: the user passes --task again.
    """
    import json

    options = out / "options.json"
    named = json.loads(options.read_text()).get("task_file") if options.is_file() else None
    if named:
        raise InputError(f"the run in {out} was made with task file {named}; pass --task with it again "
                         "(a run folder never makes taylorprune import code)")
