"""Channel-graph coverage per network: how much of each network taylorprune can prune.

For every network: groups, prunable groups, the fraction of learnables in prunable
channels (maximum possible pruning, keeping one channel per group), frozen groups with
their reasons, trace and prune time on CPU, and whether a random 30% plan gives a network
that runs and matches the masked original (max relative difference, float64, eval mode).

    .venv/bin/python benchmarks/graph_coverage.py            # all networks
    .venv/bin/python benchmarks/graph_coverage.py resnet20   # some

Prints one JSON line per network and writes benchmarks/results/graph_coverage.json.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from provenance import write_result  # beside this script

from taylorprune import graph
from taylorprune.models import load_model

# spec: input size (square)
NETWORKS = {
    "resnet20": 32,
    "resnet20_projection": 32,
    "resnet56": 32,
    "resnet56_projection": 32,
    "torchvision:resnet18": 32,
    "torchvision:resnet50": 32,
    "torchvision:mobilenet_v2": 32,
    "torchvision:mobilenet_v3_small": 32,
    "torchvision:efficientnet_b0": 32,
    "torchvision:densenet121": 32,
    "torchvision:vgg11_bn": 32,
    "torchvision:regnet_y_400mf": 32,
    "torchvision:googlenet": 32,
    "torchvision:squeezenet1_1": 64,
    "torchvision:shufflenet_v2_x0_5": 32,
    "torchvision:convnext_tiny": 32,
}
RESULTS = Path(__file__).parent / "results" / "graph_coverage.json"
SEED = 0
FRACTION = 0.3  # share of every prunable group's channels the random plan removes


def build(spec: str) -> torch.nn.Module:
    kw: dict = {"num_classes": 10} if spec.startswith("torchvision:") else {}
    if spec == "torchvision:googlenet":
        kw.update(aux_logits=False, init_weights=True)
    torch.manual_seed(SEED)
    return load_model(spec, **kw).eval()


def measure(spec: str, size: int) -> dict:
    model = build(spec)
    x = torch.rand(1, 3, size, size)
    start = time.perf_counter()
    cg = graph.trace_channels(model, x)
    trace_s = time.perf_counter() - start
    rng = random.Random(SEED)
    plan = {
        g.id: sorted(rng.sample(range(g.size), min(round(FRACTION * g.size), g.size - 1)))
        for g in cg.prunable
    }
    start = time.perf_counter()
    pruned = graph.prune(model, x, plan, channel_graph=cg)
    prune_s = time.perf_counter() - start
    with torch.no_grad():
        out_shape = list(pruned(x).shape)  # runs at all?
    total = sum(p.numel() for p in model.parameters())
    frozen = Counter(g.reason.split(": ", 1)[-1] for g in cg.groups if not g.prunable)
    return {
        "network": spec,
        "input": [1, 3, size, size],
        "groups": len(cg.groups),
        "prunable_groups": len(cg.prunable),
        "not_exact_groups": sum(not g.exact for g in cg.prunable),
        "params": total,
        "prunable_fraction": round(cg.max_prunable_params() / total, 6),
        "frozen": dict(frozen),
        "trace_s": round(trace_s, 3),
        "prune_s": round(prune_s, 3),
        "random30_output_shape": out_shape,
        "random30_params_removed": cg.params_removed(plan),
        "random30_max_rel_diff_vs_mask": masked_rel_diff(model, x, plan, cg),
    }


def masked_rel_diff(model, x, plan, cg) -> float:
    """max |pruned(x) - masked(x)| / max |masked(x)| in float64, over the output-exact groups."""
    exact = {k: v for k, v in plan.items() if cg.group(k).exact}
    model64, x64 = model.double(), x.double()  # converts model in place; it is not reused
    with torch.no_grad():
        want = graph.mask(model64, x64, exact, channel_graph=cg)(x64)
        got = graph.prune(model64, x64, exact, channel_graph=cg)(x64)
    return float((got - want).abs().max() / want.abs().max())


def main(names: list[str]) -> None:
    specs = {s: n for s, n in NETWORKS.items() if not names or s.split(":")[-1] in names}
    rows = []
    for spec, size in specs.items():
        row = measure(spec, size)
        print(json.dumps(row), flush=True)
        rows.append(row)
    write_result(RESULTS, {"networks": rows}, seed=SEED)


if __name__ == "__main__":
    main(sys.argv[1:])
