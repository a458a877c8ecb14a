"""taylorprune export: ONNX and torch.export files, each checked against PyTorch."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from .common import example_shape, input_size, load_model, model_args

SUMMARY = "export a network to ONNX and/or a torch.export .pt2 and check each file against PyTorch"


def configure(p: argparse.ArgumentParser) -> None:
    model_args(p)
    p.add_argument("--onnx", help="ONNX file to write (opset 18, dynamic batch axis)")
    p.add_argument("--pt2", help="torch.export program to write (.pt2, dynamic batch axis; "
                                 "runs with torch.export.load)")
    p.add_argument("--verify-data", help="data set (any format --data takes) whose first 100 test "
                                         "images are checked too; random inputs always are")
    p.add_argument("--input-size", type=input_size, metavar="C,H,W",
                   help="shape of one image (default: the artifact's, else 3,32,32)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")


def run(args: argparse.Namespace) -> int:
    from ..data import load_data
    from ..export import export_network

    targets = {fmt: path for fmt, path in (("onnx", args.onnx), ("pt2", args.pt2)) if path}
    if not targets:
        raise InputError("nothing to export: give --onnx FILE, --pt2 FILE, or both")
    net = load_model(args, args.num_classes)
    data = load_data(args.verify_data)[1] if args.verify_data else None
    shape = example_shape(args.model, args.input_size)
    passed = True
    for fmt, path in targets.items():
        report = export_network(net, path, shape, fmt=fmt, data=data)
        print("\n".join(report.lines()))
        if not report.passed:
            print(f"error: {report.path} does not reproduce PyTorch within the limits above", file=sys.stderr)
        passed = passed and report.passed
    return 0 if passed else 1
