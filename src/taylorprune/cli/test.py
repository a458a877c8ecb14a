"""taylorprune test: MATLAB's testnet from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from .common import data_args, load_data, load_model, model_args
from .task import load_task

SUMMARY = "print the accuracy of a network on a data set (MATLAB testnet)"


def configure(p: argparse.ArgumentParser) -> None:
    model_args(p, task=True)
    data_args(p)
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split to score")
    p.add_argument("--execution-environment", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per inference batch (default: 1000 on a GPU, 128 on a CPU)")


def run(args: argparse.Namespace) -> int:
    from ..train import test_net

    task = load_task(args)
    if task is not None:
        return _run_task(args, task)
    train, test = load_data(args)
    data = test if args.split == "test" else train
    net = load_model(args, len(data.classes))
    accuracy = test_net(net, data, mini_batch_size=args.batch_size, execution_environment=args.execution_environment)
    print(f"accuracy: {accuracy:.2f}")
    return 0


def _run_task(args: argparse.Namespace, task: Any) -> int:
    """test --task FILE.py: every metric of the task on its test_data (--split train: train_data)."""
    from ..train import evaluate, resolve_device
    from ..train.evaluate import check_network_input
    from .task import task_network

    name = "train_data" if args.split == "train" else "test_data"
    data = task.data(name, "test")
    net = task_network(args, task).to(resolve_device(args.execution_environment))
    check_network_input(net, data, task.loss)
    for metric, value in evaluate(net, data, metrics=task.metrics, loss=task.loss,
                                  mini_batch_size=args.batch_size).items():
        print(f"{metric}: {value:.4g}")
    return 0
