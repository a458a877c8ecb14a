"""taylorprune benchmark: latency and throughput of a network against a baseline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import batch_sizes, example_shape, input_size, load_model, model_args, write_json

SUMMARY = "measure latency and throughput (PyTorch, onnxruntime) against a baseline, with MACs"


def configure(p: argparse.ArgumentParser) -> None:
    from ..benchmark import RUNNERS, BenchmarkOptions

    defaults = BenchmarkOptions()
    model_args(p)
    p.add_argument("--baseline", help="network to compare with (model spec or taylorprune file), "
                                      "e.g. the unpruned original")
    p.add_argument("--json", help="also write results, options, machine and load to this JSON file")
    p.add_argument("--batch-sizes", type=batch_sizes, metavar="N,N", default=",".join(map(str, defaults.batch_sizes)),
                   help="images per call, comma-separated")
    p.add_argument("--runtimes", type=lambda s: tuple(s.split(",")), default=",".join(defaults.runtimes),
                   help=f"comma-separated, from: {', '.join(RUNNERS)}")
    p.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed calls first")
    p.add_argument("--repeats", type=int, default=defaults.repeats, help="timed calls; median reported")
    p.add_argument("--threads", type=int, default=defaults.threads,
                   help="CPU threads for both runtimes (0: torch's default, the cores it sees)")
    p.add_argument("--input-size", type=input_size, metavar="C,H,W",
                   help="shape of one image (default: the artifact's, else 3,32,32)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")


def run(args: argparse.Namespace) -> int:
    from ..benchmark import BenchmarkOptions, compare_networks
    from ..report.benchmark import benchmark_lines

    options = BenchmarkOptions(batch_sizes=args.batch_sizes, runtimes=args.runtimes, warmup=args.warmup,
                               repeats=args.repeats, threads=args.threads)
    net = load_model(args, args.num_classes)
    baseline = _load_baseline(args.baseline, args.num_classes, args.trust_code) if args.baseline else None
    comparison = compare_networks(
        net, example_shape(args.model, args.input_size), options, baseline=baseline,
        names=(args.model, args.baseline or ""),
        baseline_shape=example_shape(args.baseline, args.input_size) if args.baseline else None)
    print("\n".join(benchmark_lines(comparison)))
    if args.json:
        write_json(Path(args.json), {"arguments": vars(args), **comparison.to_dict()})
        print(f"saved {args.json}")
    return 0


def _load_baseline(spec: str, num_classes: int, trust_code: bool) -> Any:
    """The network to compare with: untrained weights do, only its shape and cost matter."""
    from ..artifacts import resolve_network
    from ..models import builder_kwargs

    kwargs: dict[str, Any] = builder_kwargs(spec, num_classes)
    return resolve_network(spec, trust_code=trust_code, **kwargs)
