"""taylorprune analyze: MATLAB's analyzeNetworkForCompression from the command line."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .common import input_size, load_model, model_args
from .task import example_shape, load_task, task_network

SUMMARY = "report how far each layer can be pruned, memory and MACs (analyzeNetworkForCompression)"


def configure(p: argparse.ArgumentParser) -> None:
    model_args(p, task=True)
    p.add_argument("--input-size", type=input_size, metavar="C,H,W",
                   help="shape of one example input (only shapes matter; weights are not used); default "
                        "3,32,32, or with --task the shape of its first example")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")
    p.add_argument("--json", help="also write the report as JSON to this file")
    p.add_argument("--markdown", help="also write a Markdown report here, with a PNG chart beside it")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..analysis import analyze_network_for_compression
    from ..report.analysis import render_text, write_json, write_markdown

    task = load_task(args)
    net = load_model(args, args.num_classes) if task is None else task_network(args, task)
    shape = args.input_size or (_task_shape(task) if task is not None else (3, 32, 32))
    report = analyze_network_for_compression(net, torch.zeros(1, *shape))
    print(render_text(report), end="")
    for path, write in ((args.json, write_json), (args.markdown, write_markdown)):
        if path:
            print(f"saved {write(report, path)}")
    return 0


def _task_shape(task: object) -> tuple[int, ...]:
    """One example's shape from the first data function the task defines (test, validation, train)."""
    for name in ("test_data", "validation_data", "train_data"):
        if getattr(task, name) is not None:
            return example_shape(task.data(name, "analyze"))  # type: ignore[attr-defined]
    raise InputError("the task file defines no data to take an example shape from; pass --input-size C,H,W")
