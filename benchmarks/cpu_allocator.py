"""What glibc's default handling of freed memory costs a fine-tuning on the CPU, and what keeping it saves.

    python benchmarks/cpu_allocator.py [--rounds 6] [--images 6400] [--json benchmarks/results/cpu_allocator.json]

train.allocator.keep_freed_memory fixes glibc's trim and mapping thresholds once per process,
so the activations a mini-batch frees stay mapped for the next one instead of going back to
the OS and faulting in again. The setting is process-wide and cannot be undone, so each
measurement is a fresh child process: ``kept`` (as taylorprune runs) or ``default`` (the
call made a no-op, glibc as it comes). Each round runs one of each in a random order; a child
fine-tunes, as a budgeted step does, the bundled cifarnet with 60% of its learnables removed
in blocks of 8 channels (seeded random scores, benchmarks/cpu_levers.py), with distillation
from the unpruned network, in bf16 autocast where the CPU has native bf16 (else fp32), on
``--images`` synthetic images after a warm-up, then evaluates 2,000 images in batches of 128.
It reports wall seconds, minor page faults and system CPU seconds per image. The machine is
shared, so each round's ``kept`` is also given relative to that round's ``default``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from provenance import write_result  # beside this script

RESULTS = Path(__file__).parent / "results" / "cpu_allocator.json"
MODES = ("kept", "default")
EVAL_IMAGES = 2000
WARM_IMAGES = 640


def child(mode: str, images: int) -> dict[str, float]:
    """Time one fine-tuning and one evaluation in this process, glibc's thresholds ``mode``."""
    from cpu_levers import smaller  # beside this script

    from taylorprune.data import ImageData
    from taylorprune.models import load_model
    from taylorprune.train import Distillation, TrainingOptions, evaluate, train_network
    from taylorprune.train.device import native_bf16

    if mode == "default":  # glibc as it comes: the two call sites do nothing
        loop_module = importlib.import_module("taylorprune.train.loop")
        evaluate_module = importlib.import_module("taylorprune.train.evaluate")
        loop_module.keep_freed_memory = evaluate_module.keep_freed_memory = lambda: False  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(0)
    n = max(images, EVAL_IMAGES)
    data = ImageData(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (n,), generator=g), tuple(map(str, range(10))))
    base = load_model("cifarnet", pretrained=True).eval()
    net = smaller(base, 8)
    bf16 = native_bf16()
    opts = TrainingOptions(max_epochs=1, mini_batch_size=128, verbose=False, execution_environment="cpu",
                           precision="bf16" if bf16 else "fp32")
    distillation = Distillation(load_model("cifarnet", pretrained=True))
    train_network(net, data.subset(torch.arange(WARM_IMAGES)), "crossentropy", opts, distillation=distillation)
    out: dict[str, float] = {"bf16": float(bf16)}
    for name, count, run in (
        ("train", images, lambda: train_network(net, data.subset(torch.arange(images)), "crossentropy", opts,
                                                distillation=distillation)),
        ("eval", EVAL_IMAGES, lambda: evaluate(net, data.subset(torch.arange(EVAL_IMAGES)),
                                               device=torch.device("cpu"), bf16=False)),
    ):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        run()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        out[f"{name}_ms_per_image"] = 1e3 * wall / count
        out[f"{name}_faults_per_image"] = (after.ru_minflt - before.ru_minflt) / count
        out[f"{name}_system_ms_per_image"] = 1e3 * (after.ru_stime - before.ru_stime) / count
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--images", type=int, default=6400, help="fine-tuning images per child (multiples of 128)")
    parser.add_argument("--json", default=str(RESULTS))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.images)))
        return
    rng = random.Random(0)
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for r in range(args.rounds):
        order = list(MODES)
        rng.shuffle(order)
        for mode in order:
            done = subprocess.run([sys.executable, __file__, "--child", mode, "--images", str(args.images)],
                                  check=True, capture_output=True, text=True)
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
        kept, default = runs["kept"][-1], runs["default"][-1]
        print(f"round {r + 1}/{args.rounds}: train {kept['train_ms_per_image']:.3f} ms kept, "
              f"{default['train_ms_per_image']:.3f} ms default", flush=True)
    keys = [k for k in runs["kept"][0] if k.endswith("per_image") or k == "max_rss_mb"]
    medians = {mode: {k: statistics.median(run[k] for run in runs[mode]) for k in keys} for mode in MODES}
    ratios = {k: statistics.median(a[k] / b[k] for a, b in zip(runs["kept"], runs["default"], strict=True))
              for k in ("train_ms_per_image", "eval_ms_per_image")}
    for mode in MODES:
        print(mode, {k: round(v, 4) for k, v in medians[mode].items()})
    print("kept / default, median of the rounds' ratios:", {k: round(v, 3) for k, v in ratios.items()})
    result = {"network": "cifarnet, 60% of learnables removed in blocks of 8 (seeded random scores)",
              "images": args.images, "eval_images": EVAL_IMAGES, "bf16": bool(runs["kept"][0]["bf16"]),
              "medians": medians, "kept_over_default_median_ratio": ratios, "runs": runs}
    print(f"wrote {write_result(Path(args.json), result, seed=0)}")


if __name__ == "__main__":
    main()
