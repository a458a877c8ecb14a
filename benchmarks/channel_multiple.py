"""Do channel counts that are multiples of 8 train faster? (the --channel-multiple default)

    python benchmarks/channel_multiple.py          # on this machine's CPU, or the GPU when visible

Two comparisons of train_network's images/s on cifarnet (2,048 synthetic uint8 images,
batch 128, one epoch, fp32 and bf16):
1. same size, different widths: every prunable group halved (16/32/64 -> 8/16/32) against
   halved minus one channel (7/15/31);
2. a 70%-of-learnables plan from the selector with random scores, with and without
   multiple=8 (the rounding changes what is removed, so MACs are reported too).
Writes benchmarks/results/channel_multiple-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

import torch
from provenance import write_result  # beside this script
from torch import nn

from taylorprune import graph
from taylorprune.analysis import count_macs
from taylorprune.data import ImageData
from taylorprune.models import load_model
from taylorprune.prune.select import Candidate, select_channels
from taylorprune.train import TrainingOptions, resolve_device, train_network

X = torch.zeros(1, 3, 32, 32)
RESULTS = Path(__file__).parent / "results"


def rate(net: nn.Module, data: ImageData, precision: str) -> float:
    opts = TrainingOptions(max_epochs=1, mini_batch_size=128, verbose=False, precision=precision)
    return train_network(net, data, "crossentropy", opts)[1].images_per_second


def describe(net: nn.Module, base: nn.Module) -> dict:
    cg = graph.trace_channels(net, (X,))
    count = sum(p.numel() for p in net.parameters())
    return {"learnables_removed": 1 - count / sum(p.numel() for p in base.parameters()),
            "mac_ratio": count_macs(cg.gm).total / count_macs(graph.trace_channels(base, (X,)).gm).total,
            "widths": sorted({g.size for g in cg.prunable})}


def uniform(base: nn.Module, keep: Callable[[int], int]) -> nn.Module:
    cg = graph.trace_channels(base, (X,))
    rng = random.Random(0)
    plan = {g.id: rng.sample(range(g.size), g.size - keep(g.size)) for g in cg.prunable}
    return graph.prune(base, (X,), plan)


def selected(base: nn.Module, multiple: int) -> nn.Module:
    cg = graph.trace_channels(base, (X,))
    g = torch.Generator().manual_seed(1)
    candidates = {grp.id: Candidate(torch.rand(grp.size, generator=g),
                                    torch.tensor(grp.params_per_channel, dtype=torch.float64)) for grp in cg.prunable}
    total = sum(p.numel() for p in base.parameters())
    plan, _ = select_channels(candidates, int(0.7 * total), multiple)
    return graph.prune(base, (X,), plan)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (2048, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (2048,), generator=g), tuple(map(str, range(10))))
    base = load_model("cifarnet").eval()
    networks = {
        "unpruned": base,
        "halved (multiples of 8)": uniform(base, lambda s: s // 2),
        "halved minus one (odd)": uniform(base, lambda s: s // 2 - 1),
        "70% plan, multiple 1": selected(base, 1),
        "70% plan, multiple 8": selected(base, 8),
    }
    rows = []
    for name, net in networks.items():
        row = {"network": name, **describe(net, base)}
        for precision in ("fp32", "bf16"):
            row[f"{precision}_images_per_s"] = rate(net, data, precision)
        rows.append(row)
        print(json.dumps(row), flush=True)
    device = resolve_device().type
    path = write_result(RESULTS / f"channel_multiple-{device}.json", {"device": device, "rows": rows}, seed=0)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
