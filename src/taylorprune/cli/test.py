"""taylorprune test: MATLAB's testnet from the command line."""

from __future__ import annotations

import argparse

from .common import data_args, load_data, load_model, model_args

SUMMARY = "print the accuracy of a network on a data set (MATLAB testnet)"


def configure(p: argparse.ArgumentParser) -> None:
    model_args(p)
    data_args(p)
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split to score")
    p.add_argument("--execution-environment", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=int, default=1000, help="images per inference batch")


def run(args: argparse.Namespace) -> int:
    from ..train import test_net

    train, test = load_data(args)
    data = test if args.split == "test" else train
    net = load_model(args, len(data.classes))
    accuracy = test_net(net, data, mini_batch_size=args.batch_size, execution_environment=args.execution_environment)
    print(f"accuracy: {accuracy:.2f}")
    return 0
