"""What each CPU lever costs in time: training precision, distillation, channel widths, scoring, evaluation batch.

    python benchmarks/cpu_levers.py [--rounds 5] [--json benchmarks/results/cpu_levers.json]

The budget planner needs seconds per training image, per scoring mini-batch and per evaluated
image on the run's CPU; this measures them for the bundled cifarnet and two 60%-smaller
versions (the selector's plan on seeded random scores, with channel multiples 1 and 8), in
fp32 and bf16 autocast, with and without distillation from the unpruned network, and evaluated
in batches of 128 (a CPU's default, train.device.inference_batch) and 1000 (a GPU's).

The machine is shared, so every figure is taken in rounds: each round times every
configuration once, in a fresh random order, and the JSON keeps, besides the medians, each
configuration's time relative to the reference (unpruned, fp32, no distillation) of the same
round, whose median is robust to load that comes and goes between rounds. Synthetic uint8
images: speed does not depend on what the pixels show.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import statistics
import time
from pathlib import Path

import torch
from provenance import write_result  # beside this script
from torch import nn

from taylorprune import graph
from taylorprune.benchmark.machine import describe_machine
from taylorprune.data import ImageData
from taylorprune.importance import IMPORTANCE, ChannelScores
from taylorprune.models import load_model
from taylorprune.prune.candidates import candidates_from_graph, score_points
from taylorprune.prune.select import select_channels
from taylorprune.train import Distillation, TrainingOptions, evaluate, train_network
from taylorprune.train.batches import iterate_batches
from taylorprune.train.device import native_bf16, prepare_model

RESULTS = Path(__file__).parent / "results" / "cpu_levers.json"
X = torch.zeros(1, 3, 32, 32)
BATCH = 128
TRAIN_IMAGES = 768  # 6 mini-batches per timed training call
SCORE_BATCHES = 2  # mini-batches per timed scoring call
EVAL_IMAGES = 1000
EVAL_BATCHES = (128, 1000)  # a CPU's default evaluation batch, and a GPU's


def smaller(base: nn.Module, multiple: int, share: float = 0.6) -> nn.Module:
    """``base`` without ``share`` of its learnables, as the selector removes them from random scores."""
    cg = graph.trace_channels(base, (X,))
    g = torch.Generator().manual_seed(1)
    scores = {grp.id: ChannelScores(torch.rand(grp.size, generator=g), torch.zeros(grp.size), 1) for grp in cg.prunable}
    learnables = {grp.id: torch.tensor(grp.params_per_channel, dtype=torch.float64) for grp in cg.prunable}
    candidates = candidates_from_graph(cg, scores, learnables)
    total = sum(p.numel() for p in base.parameters())
    plan, _ = select_channels(candidates, int(share * total), multiple)
    return graph.prune(base, (X,), plan)


def train_seconds_per_image(net: nn.Module, data: ImageData, bf16: bool, teacher: nn.Module | None) -> float:
    opts = TrainingOptions(max_epochs=1, mini_batch_size=BATCH, verbose=False, execution_environment="cpu",
                           precision="bf16" if bf16 else "fp32")
    distillation = Distillation(teacher) if teacher is not None else None
    info = train_network(net, data, "crossentropy", opts, distillation=distillation)[1]
    return info.training_seconds / (len(data) // BATCH * BATCH)


def score_seconds_per_batch(net: nn.Module, data: ImageData) -> float:
    net.eval()
    cg = graph.trace_channels(net, (X,))
    points = score_points(cg, None)
    batches = iterate_batches(data.images, data.labels, torch.arange(BATCH * SCORE_BATCHES), BATCH)
    start = time.perf_counter()
    IMPORTANCE["taylor"](net, batches, points, None)
    return (time.perf_counter() - start) / SCORE_BATCHES


def eval_seconds_per_image(net: nn.Module, data: ImageData, bf16: bool, batch: int) -> float:
    start = time.perf_counter()
    evaluate(net, data.subset(torch.arange(EVAL_IMAGES)), mini_batch_size=batch, device=torch.device("cpu"), bf16=bf16)
    return (time.perf_counter() - start) / EVAL_IMAGES


def configurations(nets: dict[str, nn.Module], teacher: nn.Module) -> dict[str, tuple]:
    """name -> (what it times, network, arguments); "train unpruned fp32" is the reference."""
    out: dict[str, tuple] = {}
    for (name, net), bf16, distil in itertools.product(nets.items(), (False, True), (False, True)):
        label = f"train {name} {'bf16' if bf16 else 'fp32'}{' distill' if distil else ''}"
        out[label] = ("train", net, bf16, teacher if distil else None)
    for name, net in nets.items():
        out[f"score {name}"] = ("score", net)
        for bf16, batch in itertools.product((False, True), EVAL_BATCHES):
            out[f"eval {name} {'bf16' if bf16 else 'fp32'} batch {batch}"] = ("eval", net, bf16, batch)
    return out


def measure(kind: str, net: nn.Module, data: ImageData, *args) -> float:
    if kind == "train":
        return train_seconds_per_image(net, data, *args)
    if kind == "score":
        return score_seconds_per_batch(net, data)
    return eval_seconds_per_image(net, data, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=str(RESULTS))
    parser.add_argument("--only", default="", help="time only the configurations matching this regular expression "
                        "(the reference is always timed), e.g. 'distill' for the training rows with distillation")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (max(TRAIN_IMAGES, EVAL_IMAGES), 3, 32, 32), dtype=torch.uint8,
                                   generator=g), torch.randint(0, 10, (max(TRAIN_IMAGES, EVAL_IMAGES),), generator=g),
                     tuple(map(str, range(10))))
    train_data = data.subset(torch.arange(TRAIN_IMAGES))
    base = load_model("cifarnet", pretrained=True).eval()
    nets = {"unpruned": base, "60% multiple 1": smaller(base, 1), "60% multiple 8": smaller(base, 8)}
    nets = {k: prepare_model(v, torch.device("cpu")) for k, v in nets.items()}
    teacher = prepare_model(load_model("cifarnet", pretrained=True), torch.device("cpu")).eval()
    reference = "train unpruned fp32"
    configs = {k: v for k, v in configurations(nets, teacher).items() if k == reference or re.search(args.only, k)}
    times: dict[str, list[float]] = {k: [] for k in configs}
    ratios: dict[str, list[float]] = {k: [] for k in configs}
    loads = []
    rng = random.Random(0)
    for r in range(args.rounds):
        order = list(configs)
        rng.shuffle(order)
        this_round = {}
        for name in order:
            kind, net, *rest = configs[name]
            data_for = train_data if kind == "train" else data
            this_round[name] = measure(kind, net, data_for, *rest)
            times[name].append(this_round[name])
        for name, t in this_round.items():
            ratios[name].append(t / this_round[reference])
        loads.append(describe_machine()["load_average"])
        print(f"round {r + 1}/{args.rounds}: reference {1e3 * this_round[reference]:.3f} ms/image, "
              f"load {loads[-1]}", flush=True)
    rows = [{"configuration": name, "median_s": statistics.median(times[name]),
             "median_ratio_to_reference": statistics.median(ratios[name]), "times_s": times[name]}
            for name in configs]
    for row in rows:
        print(f"{row['configuration']:40s} {1e3 * row['median_s']:8.3f} ms  x{row['median_ratio_to_reference']:.3f}")
    widths = {name: sorted({grp.size for grp in graph.trace_channels(net, (X,)).prunable}) for name, net in nets.items()}
    learnables = {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}
    result = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16(),
              "load_average_per_round": loads, "reference": reference, "batch": BATCH,
              "units": "train: s per training image; score: s per mini-batch of 128; eval: s per image",
              "networks": {name: {"learnables": learnables[name], "widths": widths[name]} for name in nets},
              "rows": rows}
    print(f"wrote {write_result(Path(args.json), result, seed=0)}")


if __name__ == "__main__":
    main()
