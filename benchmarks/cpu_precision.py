"""Does bf16 autocast keep fine-tuning accuracy on the CPU? (the CPU default, chosen by measurement)

    python benchmarks/cpu_precision.py --data ../shared/data/cifar10-jpeg.tar.gz

The bundled cifarnet loses a seeded random 25% of every prunable group's channels, then is
fine-tuned from the same state twice, fp32 and bf16 autocast (same seed, same data: a
10,000-image subset of the training split, 2 epochs, MATLAB's fine-tuning options), and
each result is validated in fp32 on 5,000 held-out images. Writes
benchmarks/results/cpu_precision.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
from pathlib import Path

import torch
from provenance import write_result  # beside this script

from taylorprune import graph
from taylorprune.data import load_data, split_validation
from taylorprune.models import load_model
from taylorprune.prune import default_fine_tuning_options
from taylorprune.train import evaluate, train_network

RESULTS = Path(__file__).parent / "results" / "cpu_precision.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    train, _ = load_data(args.data)
    train, val = split_validation(train, 5000, seed=0)
    train = train.subset(torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: args.images])
    net = load_model("cifarnet", pretrained=True).eval()
    cg = graph.trace_channels(net, (torch.zeros(1, 3, 32, 32),))
    rng = random.Random(0)
    plan = {g.id: rng.sample(range(g.size), g.size // 4) for g in cg.prunable}
    pruned = graph.prune(net, (torch.zeros(1, 3, 32, 32),), plan)
    fp32 = dict(device=torch.device("cpu"), bf16=False)
    rows = {"before fine-tuning": {"validation_accuracy": evaluate(pruned, val, **fp32)["accuracy"]}}
    for precision in ("fp32", "bf16"):
        opts = default_fine_tuning_options(max_epochs=args.epochs, precision=precision, verbose=False,
                                           execution_environment="cpu", output_network="last-iteration")
        tuned, info = train_network(copy.deepcopy(pruned), train, "crossentropy", opts)
        rows[precision] = {"validation_accuracy": evaluate(tuned, val, **fp32)["accuracy"],
                           "training_images_per_s": info.images_per_second, "seconds": info.elapsed_s}
        print(precision, rows[precision], flush=True)
    result = {"images": args.images, "epochs": args.epochs,
              "removed_channels": "25% of every prunable group (seed 0)", "rows": rows}
    write_result(RESULTS, result, seed=0)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
