"""taylorprune analyze: MATLAB's analyzeNetworkForCompression from the command line."""

from __future__ import annotations

import argparse

from .common import input_size, load_model, model_args

SUMMARY = "report how far each layer can be pruned, memory and MACs (analyzeNetworkForCompression)"


def configure(p: argparse.ArgumentParser) -> None:
    model_args(p)
    p.add_argument("--input-size", type=input_size, default="3,32,32", metavar="C,H,W",
                   help="shape of one example input (only shapes matter; weights are not used)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")
    p.add_argument("--json", help="also write the report as JSON to this file")
    p.add_argument("--markdown", help="also write a Markdown report here, with a PNG chart beside it")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..analysis import analyze_network_for_compression
    from ..report.analysis import render_text, write_json, write_markdown

    net = load_model(args, args.num_classes)
    report = analyze_network_for_compression(net, torch.zeros(1, *args.input_size))
    print(render_text(report), end="")
    for path, write in ((args.json, write_json), (args.markdown, write_markdown)):
        if path:
            print(f"saved {write(report, path)}")
    return 0
