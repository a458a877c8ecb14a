"""How far one pruning step's network recovers, by the images it fine-tunes on and by the recipe.

    python benchmarks/step_recovery.py --data ../shared/data/cifar10-jpeg.tar.gz \\
        --network runs/prune/model.safetensors [--step 0.08] [--images 14000] [--seeds 0,1,2] \\
        [--levers REGEX] [--no-scaling]

A time budget gives each step of the search a few thousand training images, and a step is kept
only when its network recovers to the floor on them. This takes the network a budgeted run
returned (``--network``: a ``make prune`` result, read without running any code) and makes one
more step of the same kind: Taylor scores on 20 mini-batches of 128, ``--step`` of the bundled
cifarnet's learnables in blocks of 8 channels (the selector a budget uses), then many
fine-tunings of that one pruned network, each from the same start:

1. the levers, at ``--images`` (what a step trained on in a 15-minute run on the 2-core AVX2
   CPU), one fine-tuning per seed; a seed fixes the images drawn, their order and augmentation,
   so each lever's difference from the defaults is paired by seed;
2. the images, with the fine-tuning defaults, seed 0: from half a step's to several epochs
   (drawn as the loop draws them: a seeded subset, in as few epochs as hold that many).

Every figure is the top-1 accuracy on the 5,000 validation images the bundled cifarnet was
trained without (``split_validation(train, 5000, seed=0)``, the split ``make prune`` decides on),
with the fine-tuning's training seconds. In fp32, or bf16 autocast where the CPU has native
bf16 (as a budgeted run fine-tunes). Writes benchmarks/results/step_recovery.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from provenance import write_result  # beside this script
from torch import nn

from taylorprune import count_learnables, graph
from taylorprune.artifacts import load_network
from taylorprune.data import ImageData, load_cifar10, split_validation
from taylorprune.importance import IMPORTANCE
from taylorprune.models import load_model
from taylorprune.prune.candidates import candidates_from_graph, score_points
from taylorprune.prune.options import FINE_TUNING
from taylorprune.prune.select import select_channels
from taylorprune.train import Distillation, evaluate, train_network
from taylorprune.train.batches import iterate_batches
from taylorprune.train.device import native_bf16

RESULTS = Path(__file__).parent / "results" / "step_recovery.json"
X = torch.zeros(1, 3, 32, 32)
# name: (TrainingOptions changes, Distillation changes or None for no teacher, images factor)
LEVERS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, float]] = {
    "defaults": ({}, {}, 1.0),
    "learn rate 0.003": ({"initial_learn_rate": 0.003}, {}, 1.0),
    "learn rate 0.005": ({"initial_learn_rate": 0.005}, {}, 1.0),
    "learn rate 0.007": ({"initial_learn_rate": 0.007}, {}, 1.0),
    "learn rate 0.02": ({"initial_learn_rate": 0.02}, {}, 1.0),
    "mini-batch 64": ({"mini_batch_size": 64}, {}, 1.0),
    "no augmentation": ({"augment": False}, {}, 1.0),
    "distillation weight 1": ({}, {"weight": 1.0}, 1.0),
    "no distillation, 1.5x the images": ({}, None, 1.5),  # about the time the teacher's forward pass costs
}
IMAGES = (7_000, 14_000, 28_000, 45_000, 135_000)


def one_step(base: nn.Module, train: ImageData, share: float, original: int) -> nn.Module:
    """``base`` without ``share`` of ``original`` learnables more, chosen as a budgeted step chooses them."""
    base.eval()
    cg = graph.trace_channels(base, (X,))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: 128 * 20]
    base.train()
    scores = IMPORTANCE["taylor"](base, iterate_batches(train.images, train.labels, order, 128),
                                  score_points(cg, None), None)
    costs = {g.id: torch.tensor(g.params_per_channel, dtype=torch.float64) for g in cg.prunable}
    plan, _ = select_channels(candidates_from_graph(cg, scores, costs), share * original, 8)
    return graph.prune(base, (X,), plan)


def fine_tuned(net: nn.Module, train: ImageData, teacher: nn.Module, images: int, seed: int,
               distill: dict[str, Any] | None, draw: int = 1, **changes: Any) -> tuple[nn.Module, float]:
    """A copy of ``net`` fine-tuned as a budgeted step is: ``images`` drawn by (``seed``, ``draw``),
    in as few epochs as hold them, bf16 where the CPU has it natively, the fine-tuning defaults
    with ``changes``, distillation with ``distill`` (None: no teacher). Also its training seconds."""
    epochs = math.ceil(images / len(train))
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(1000 * draw + seed))
    opts = FINE_TUNING.replace(max_epochs=epochs, seed=seed, verbose=False, output_network="last-iteration",
                               precision="bf16" if native_bf16() else "fp32", **changes)
    distillation = None if distill is None else Distillation(teacher, **distill)
    tuned, info = train_network(copy.deepcopy(net), train.subset(chosen[: images // epochs]), "crossentropy", opts,
                                distillation=distillation)
    return tuned, info.training_seconds


def fine_tune(net: nn.Module, train: ImageData, val: ImageData, teacher: nn.Module, images: int, seed: int,
              lever: str) -> dict[str, Any]:
    changes, distill, factor = LEVERS[lever]
    images = round(images * factor)
    start = time.perf_counter()
    tuned, seconds = fine_tuned(net, train, teacher, images, seed, distill, **changes)
    return {"lever": lever, "seed": seed, "images": images, "validation_accuracy": evaluate(tuned, val)["accuracy"],
            "training_s": seconds, "wall_s": time.perf_counter() - start}


def summarize(trials: list[dict[str, Any]], levers: list[str]) -> list[dict[str, Any]]:
    """Per lever: the mean accuracy and the mean paired difference from the defaults of the same seed."""
    defaults = {t["seed"]: t["validation_accuracy"] for t in trials if t["lever"] == "defaults"}
    rows = []
    for lever in levers:
        mine = [t for t in trials if t["lever"] == lever]
        diffs = [t["validation_accuracy"] - defaults[t["seed"]] for t in mine]
        rows.append({"lever": lever, "mean_accuracy": sum(t["validation_accuracy"] for t in mine) / len(mine),
                     "mean_difference": sum(diffs) / len(diffs), "differences": diffs,
                     "mean_training_s": sum(t["training_s"] for t in mine) / len(mine)})
    return rows


@dataclass(frozen=True)
class StepSetup:
    """What a benchmark of one more budgeted step reads from its command line."""

    args: argparse.Namespace  # --data --network --step --images --seeds --json
    train: ImageData  # CIFAR-10's training images without the 5,000 validation images
    val: ImageData  # those 5,000, the split ``make prune`` decides on
    teacher: nn.Module  # the bundled, unpruned cifarnet
    original: int  # its learnables
    start: nn.Module  # the network named by --network
    net: nn.Module  # ``start`` one --step smaller, not fine-tuned

    def reduction(self, net: nn.Module) -> float:
        """The share of the teacher's learnables ``net`` does without."""
        return 1 - count_learnables(net) / self.original


def step_setup(parser: argparse.ArgumentParser, step: float, images: int, images_help: str,
               results: Path) -> StepSetup:
    """Add the options this benchmark and cached_teacher.py share to ``parser`` (which may hold a
    benchmark's own), parse the command line, and make the step."""
    parser.add_argument("--data", required=True, help="CIFAR-10 in any accepted format")
    parser.add_argument("--network", required=True, help="a pruned cifarnet (.safetensors) from a budgeted run")
    parser.add_argument("--step", type=float, default=step, help="share of the original learnables the step removes")
    parser.add_argument("--images", type=int, default=images, help=images_help)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", default=str(results))
    args = parser.parse_args()
    train, _ = load_cifar10(args.data)
    train, val = split_validation(train, 5000, seed=0)
    teacher = load_model("cifarnet", pretrained=True)
    original = count_learnables(teacher)
    start = load_network(args.network)
    return StepSetup(args, train, val, teacher, original, start, one_step(start, train, args.step, original))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levers", default="", help="only the levers whose names match this regular expression "
                        "(the defaults always run: the others are paired with them), e.g. 'learn rate'")
    parser.add_argument("--scaling", action=argparse.BooleanOptionalAction, default=True,
                        help="also the defaults on 7,000 to 135,000 images (seed 0)")
    setup = step_setup(parser, 0.08, 14_000, "fine-tuning images of the lever comparison", RESULTS)
    args, train, val, teacher, start, net = (setup.args, setup.train, setup.val, setup.teacher, setup.start,
                                             setup.net)
    header = {"network": args.network, "start_learnables_reduction": setup.reduction(start),
              "learnables_reduction": setup.reduction(net),
              "start_validation_accuracy": evaluate(start, val)["accuracy"],
              "validation_accuracy_before_fine_tuning": evaluate(net, val)["accuracy"],
              "step": args.step, "lever_images": args.images}
    print(json.dumps(header), flush=True)
    levers = [name for name in LEVERS if name == "defaults" or re.search(args.levers, name)]
    trials = []
    for seed in map(int, args.seeds.split(",")):
        for lever in levers:
            trials.append(fine_tune(net, train, val, teacher, args.images, seed, lever))
            print(json.dumps(trials[-1]), flush=True)
    scaling = []
    for images in IMAGES if args.scaling else ():
        scaling.append(fine_tune(net, train, val, teacher, images, 0, "defaults"))
        print(json.dumps(scaling[-1]), flush=True)
    path = write_result(Path(args.json), {**header, "levers": summarize(trials, levers), "trials": trials,
                                          "images": scaling}, seed=None)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
