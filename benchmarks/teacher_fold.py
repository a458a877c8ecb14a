"""What folding the teacher's batch norms saves: fine-tuning with distillation, folded against unfolded.

    python benchmarks/teacher_fold.py [--rounds 8] [--json benchmarks/results/teacher_fold.json]

Distillation runs the unpruned network forward on every fine-tuning mini-batch. It never
trains, so train.distill.folded folds each batch norm into the convolution before it (torch.fx)
wherever fx can trace the teacher. This times train_network's seconds per fine-tuning image with
distillation, in bf16 autocast where the CPU has native bf16 (else fp32), for the bundled cifarnet
and a 60%-smaller version of it (the one cpu_levers.py builds, channel multiple 8), each with the
teacher as given (folded by the package) and behind a wrapper fx cannot trace (a Python branch
on a tensor, so the package uses it unfolded), and the teacher's forward pass alone both ways.
The machine is shared: each round times every configuration once, the two arms of a pair in
alternating order, and the JSON keeps each pair's ratio, whose median is robust to load that
comes and goes between rounds. Synthetic uint8 images: speed does not depend on the pixels.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from cpu_levers import BATCH, smaller, train_seconds_per_image  # beside this script
from provenance import write_result  # beside this script
from torch import nn

from taylorprune.benchmark.machine import describe_machine
from taylorprune.data import ImageData
from taylorprune.models import load_model
from taylorprune.train.device import autocast, native_bf16, prepare_model
from taylorprune.train.distill import folded

RESULTS = Path(__file__).parent / "results" / "teacher_fold.json"
TRAIN_IMAGES = 1536  # 12 mini-batches per timed training call
FORWARD_BATCHES = 20


class Untraceable(nn.Module):
    """``net`` behind a branch on a tensor's value: fx cannot trace it, so nothing is folded."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x[0, 0, 0, 0].isnan()):  # one element: free, yet fx cannot know its value while tracing
            raise ValueError("the input holds NaN")
        return self.net(x)


def forward_seconds_per_batch(teacher: nn.Module, x: torch.Tensor, bf16: bool) -> float:
    with torch.no_grad(), autocast(torch.device("cpu"), bf16):
        teacher(x)  # warm-up
        start = time.perf_counter()
        for _ in range(FORWARD_BATCHES):
            teacher(x)
    return (time.perf_counter() - start) / FORWARD_BATCHES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    bf16 = native_bf16()
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (TRAIN_IMAGES, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (TRAIN_IMAGES,), generator=g), tuple(map(str, range(10))))
    base = load_model("cifarnet", pretrained=True).eval()
    cpu = torch.device("cpu")
    students = {"unpruned": prepare_model(base, cpu), "60% multiple 8": prepare_model(smaller(base, 8), cpu)}
    teacher = prepare_model(load_model("cifarnet", pretrained=True), cpu).eval()
    teachers = {"folded": teacher, "unfolded": Untraceable(teacher)}
    x = torch.rand(BATCH, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    forwards = {"folded": prepare_model(folded(teacher), cpu), "unfolded": teacher}
    times: dict[str, list[float]] = {}
    loads = []
    for r in range(args.rounds):
        arms = ("folded", "unfolded") if r % 2 == 0 else ("unfolded", "folded")
        for name, student in students.items():
            for arm in arms:
                times.setdefault(f"train {name} distill {arm}", []).append(
                    train_seconds_per_image(student, data, bf16, teachers[arm]))
        for arm in arms:
            times.setdefault(f"teacher forward {arm}", []).append(forward_seconds_per_batch(forwards[arm], x, bf16))
        loads.append(describe_machine()["load_average"])
        print(f"round {r + 1}/{args.rounds}, load {loads[-1]}", flush=True)
    rows = []
    for what in ("train unpruned distill", "train 60% multiple 8 distill", "teacher forward"):
        fold, plain = times[f"{what} folded"], times[f"{what} unfolded"]
        ratios = [a / b for a, b in zip(fold, plain, strict=True)]
        rows.append({"what": what, "folded_median_s": statistics.median(fold), "unfolded_median_s": statistics.median(plain),
                     "median_ratio_folded_to_unfolded": statistics.median(ratios), "ratios": ratios,
                     "folded_s": fold, "unfolded_s": plain})
        print(f"{what:32s} folded {1e3 * rows[-1]['folded_median_s']:.3f} ms, unfolded "
              f"{1e3 * rows[-1]['unfolded_median_s']:.3f} ms, paired ratio x{rows[-1]['median_ratio_folded_to_unfolded']:.3f}")
    result = {"bf16": bf16, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "batch": BATCH,
              "units": "train: s per fine-tuning image (distillation included); teacher forward: s per mini-batch",
              "load_average_per_round": loads, "rows": rows}
    print(f"wrote {write_result(Path(args.json), result, seed=0)}")


if __name__ == "__main__":
    main()
