"""Distillation from cached teacher outputs: what a step's fine-tuning wins by not running the teacher.

    python benchmarks/cached_teacher.py --data ../shared/data/cifar10-jpeg.tar.gz \\
        --network runs/prune/model.safetensors [--step 0.05] [--images 35000] [--seeds 0,1,2]

The teacher of a pruning run is the unpruned network and never changes, yet every fine-tuning
image runs it forward: about 30% of a training image's time on a 2-core CPU. Its outputs could
be computed once per training image and mirror (two forward passes of the training set) and
looked up during fine-tuning; the random shifts of up to 4 pixels cannot be cached as well
(81 per image), so the student sees a shifted image and the teacher's answer for the unshifted
one. This measures the trade on one more budgeted step from a ``make prune`` result (made as
``step_recovery.py`` makes it), per seed, from the same start on the same images:

1. ``teacher``: the defaults, the teacher run on every augmented mini-batch;
2. ``cached``: the same images, the teacher's outputs looked up;
3. ``cached, same time``: as many images as the teacher's training time buys at the cached
   rate (the cache's own cost, two teacher passes over the training set, reported apart).

Figures are top-1 accuracy on the 5,000 validation images ``make prune`` decides on. Only for
this benchmark is the package's batch iterator swapped for one that records which images and
mirrors each mini-batch holds, so a lookup module can stand in for the teacher. Writes
benchmarks/results/cached_teacher.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from provenance import write_result  # beside this script
from step_recovery import step_setup
from torch import nn

from taylorprune.data import ImageData
from taylorprune.prune.options import FINE_TUNING
from taylorprune.train import Distillation, evaluate, sources, train_network
from taylorprune.train.augment import draw_crop_flip, random_crop_flip, to_float
from taylorprune.train.device import native_bf16

RESULTS = Path(__file__).parent / "results" / "cached_teacher.json"


class CachedTeacher(nn.Module):
    """Answers with the teacher's cached outputs for the images and mirrors of the current mini-batch."""

    def __init__(self, outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs = outputs  # (2, N, classes): unmirrored, mirrored
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None  # (indices, mirror bits), set per batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.batch is not None and len(self.batch[0]) == len(x)
        index, mirror = self.batch
        return self.outputs[mirror, index]


@contextlib.contextmanager
def recording(teacher: CachedTeacher) -> Iterator[None]:
    """Swap the package's batch iterator for one that tells ``teacher`` each mini-batch's images and mirrors
    (one process: ``shard`` is ignored)."""
    real = sources.iterate_batches

    def iterate(images, labels, order, batch_size, *, augment=False, generator=None, drop_last=False, shard=False):
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        draws = draw_crop_flip(len(order), generator=generator) if augment else torch.zeros(len(order), 3).long()
        for start in range(0, stop, batch_size):
            index = order[start:start + batch_size]
            x = images[index]
            if augment:
                x = random_crop_flip(x, draws[start:start + batch_size])
            teacher.batch = (index, draws[start:start + batch_size, 2])
            yield to_float(x), labels[index]

    sources.iterate_batches = iterate
    try:
        yield
    finally:
        sources.iterate_batches = real


def teacher_outputs(teacher: nn.Module, data: ImageData) -> tuple[torch.Tensor, float]:
    """(2, N, classes) outputs for every image and its mirror, and the seconds they took."""
    teacher.eval()
    start = time.perf_counter()
    plain, mirrored = [], []
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=native_bf16()):
        for i in range(0, len(data), 256):
            x = to_float(data.images[i:i + 256])
            plain.append(teacher(x).float())
            mirrored.append(teacher(x.flip(3)).float())
    return torch.stack([torch.cat(plain), torch.cat(mirrored)]), time.perf_counter() - start


def fine_tune(net: nn.Module, train: ImageData, val: ImageData, teacher: nn.Module, cache: torch.Tensor | None,
              images: int, seed: int) -> dict[str, Any]:
    """Fine-tune a copy of ``net`` on ``images`` drawn as step_recovery draws them, with the live
    teacher (``cache`` None) or its cached outputs."""
    epochs = math.ceil(images / len(train))
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(1000 + seed))[: images // epochs]
    opts = FINE_TUNING.replace(max_epochs=epochs, seed=seed, verbose=False, output_network="last-iteration",
                               precision="bf16" if native_bf16() else "fp32")
    looked_up = None if cache is None else CachedTeacher(cache[:, chosen])
    with recording(looked_up) if looked_up is not None else contextlib.nullcontext():
        tuned, info = train_network(copy.deepcopy(net), train.subset(chosen), "crossentropy", opts,
                                    distillation=Distillation(teacher if looked_up is None else looked_up))
    return {"seed": seed, "images": images, "validation_accuracy": evaluate(tuned, val)["accuracy"],
            "training_s": info.training_seconds}


def main() -> None:
    setup = step_setup(argparse.ArgumentParser(description=__doc__.splitlines()[0]), 0.05, 35_000,
                       "fine-tuning images (a step's, 15 minutes, Zen 4)", RESULTS)
    args, train, val, teacher, net = setup.args, setup.train, setup.val, setup.teacher, setup.net
    cache, cache_s = teacher_outputs(teacher, train)
    header = {"network": args.network, "step": args.step, "images": args.images, "bf16": native_bf16(),
              "learnables_reduction": setup.reduction(net),
              "cache_images": len(train), "cache_s": cache_s}
    print(json.dumps(header), flush=True)
    trials = []
    for seed in map(int, args.seeds.split(",")):
        live = {"variant": "teacher", **fine_tune(net, train, val, teacher, None, args.images, seed)}
        cached = {"variant": "cached", **fine_tune(net, train, val, teacher, cache, args.images, seed)}
        same_time = round(args.images * live["training_s"] / cached["training_s"])
        longer = {"variant": "cached, same time", **fine_tune(net, train, val, teacher, cache, same_time, seed)}
        for trial in (live, cached, longer):
            trials.append(trial)
            print(json.dumps(trial), flush=True)
    base = {t["seed"]: t["validation_accuracy"] for t in trials if t["variant"] == "teacher"}
    summary = {v: sum(t["validation_accuracy"] - base[t["seed"]] for t in trials if t["variant"] == v) / len(base)
               for v in ("cached", "cached, same time")}
    path = write_result(Path(args.json), {**header, "mean_difference_from_teacher": summary, "trials": trials},
                        seed=None)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
