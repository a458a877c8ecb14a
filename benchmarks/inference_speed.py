"""Inference speed of cifarnet and a ~70%-pruned cifarnet: PyTorch eager and onnxruntime, CPU.

The pruned network removes the same fraction of channels from every prunable group (seeded
random channels: timing does not depend on which), the fraction chosen so that
``cg.params_removed(plan)`` is closest to 70% of the learnables. It goes through a saved
artifact (save_network, load_network) as a user's would. Weights are untrained: time and
MACs depend only on shapes.

    .venv/bin/python benchmarks/inference_speed.py              # threads: torch default, then 1
    .venv/bin/python benchmarks/inference_speed.py --repeats 5  # quicker

Prints the tables and writes benchmarks/results/inference_speed.json (command, git commit,
versions, CPU, load average before and after every run).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import torch
from provenance import write_result  # beside this script

from taylorprune import graph
from taylorprune.artifacts import load_network, save_network
from taylorprune.benchmark import BenchmarkOptions, compare_networks
from taylorprune.models import load_model
from taylorprune.report.benchmark import benchmark_lines

RESULTS = Path(__file__).parent / "results" / "inference_speed.json"
TARGET = 0.70  # share of learnables the plan removes
SEED = 0
SHAPE = (3, 32, 32)


def uniform_plan(net: torch.nn.Module, target: float) -> tuple[dict[int, list[int]], float]:
    """The same channel fraction from every prunable group, closest to ``target`` of learnables."""
    x = torch.zeros(1, *SHAPE)
    cg = graph.trace_channels(net, (x,))
    total = sum(p.numel() for p in net.parameters() if p.requires_grad)
    rng = random.Random(SEED)
    best: tuple[float, dict[int, list[int]], float] | None = None
    for percent in range(20, 96):
        plan = {g.id: rng.sample(range(g.size), min(round(g.size * percent / 100), g.size - 1))
                for g in cg.prunable}
        share = cg.params_removed(plan) / total
        if best is None or abs(share - target) < best[0]:
            best = (abs(share - target), plan, share)
    assert best is not None
    return best[1], best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    base = load_model("cifarnet").eval()
    plan, share = uniform_plan(base, TARGET)
    pruned_net = graph.prune(base, (torch.zeros(1, *SHAPE),), plan)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_network(pruned_net, Path(tmp) / "pruned.safetensors", "cifarnet", plans=[plan])
        pruned = load_network(path)
    runs = []
    for threads in (torch.get_num_threads(), 1):
        options = BenchmarkOptions(warmup=args.warmup, repeats=args.repeats, threads=threads, seed=SEED)
        comparison = compare_networks(pruned, SHAPE, options, baseline=base,
                                      names=(f"cifarnet pruned {share:.1%} of learnables", "cifarnet"))
        print("\n".join(benchmark_lines(comparison)), "\n", flush=True)
        runs.append(comparison.to_dict())
    write_result(RESULTS, {"learnables_removed": share, "note": "see machine.load_average per run", "runs": runs},
                 seed=SEED)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
