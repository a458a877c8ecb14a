"""What a second fine-tuning of an already fine-tuned network wins or loses, by its learn rate.

    python benchmarks/second_fine_tuning.py --data ../shared/data/cifar10-jpeg.tar.gz \\
        --network runs/prune/model.safetensors [--step 0.02] [--images 42000] \\
        [--final-images 10000] [--seeds 0,1,2] [--rates 0.01,0.003,0.001]

A budgeted search fine-tunes some networks twice: a step that fell just short is fine-tuned
once more before retreating, and the returned network gets a final fine-tuning with the time
left. Each of those fine-tunings starts its cosine schedule at the full learn rate (0.01)
again, on a network whose last fine-tuning had annealed it to zero. In 23 budgeted runs on
the Zen 4 EPYC the final fine-tuning was kept once: the other 22 lowered the acceptance figure
by 0.03-1.63 points, on 332-127,146 images. This measures whether the restart is what costs,
from the network a budgeted run returned (``--network``, read without running any code):

1. **a second look**: one more budgeted step (``--step`` of the bundled cifarnet's learnables,
   blocks of 8 channels, as step_recovery.py makes it), fine-tuned once with the defaults on
   ``--images``, then again on as many other images at each of ``--rates``;
2. **a final fine-tuning**: the returned network itself fine-tuned on ``--final-images`` at
   each of ``--rates``.

A seed fixes the images drawn, their order and augmentation, so the rates are paired by seed.
Every figure is the top-1 accuracy on the 5,000 validation images the bundled cifarnet was
trained without, the split ``make prune`` decides on. Fine-tunings run in bf16 autocast where
the CPU has native bf16 (as a budgeted run's do), with distillation from the unpruned network.
Writes benchmarks/results/second_fine_tuning.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from provenance import write_result  # beside this script
from step_recovery import fine_tuned, step_setup
from torch import nn

from taylorprune.train import evaluate

RESULTS = Path(__file__).parent / "results" / "second_fine_tuning.json"


def paired(trials: list[dict[str, Any]], kind: str, rates: list[float]) -> list[dict[str, Any]]:
    """Per rate: the mean change against the network before the fine-tuning, and against the
    defaults' rate (the first of ``rates``) of the same seed."""
    mine = [t for t in trials if t["kind"] == kind]
    defaults = {t["seed"]: t["validation_after"] for t in mine if t["learn_rate"] == rates[0]}
    rows = []
    for rate in rates:
        these = [t for t in mine if t["learn_rate"] == rate]
        rows.append({"kind": kind, "learn_rate": rate,
                     "mean_change": sum(t["validation_after"] - t["validation_before"] for t in these) / len(these),
                     "differences_from_default": [t["validation_after"] - defaults[t["seed"]] for t in these]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--final-images", type=int, default=10_000, help="images of the final fine-tunings")
    parser.add_argument("--rates", default="0.01,0.003,0.001", help="learn rates, the defaults' first")
    setup = step_setup(parser, 0.02, 42_000, "images of each fine-tuning of the second look", RESULTS)
    args, train, val, teacher = setup.args, setup.train, setup.val, setup.teacher
    rates = [float(r) for r in args.rates.split(",")]
    start_accuracy = evaluate(setup.start, val)["accuracy"]
    header = {"network": args.network, "step": args.step, "images": args.images, "final_images": args.final_images,
              "start_learnables_reduction": setup.reduction(setup.start), "learnables_reduction": setup.reduction(setup.net),
              "start_validation_accuracy": start_accuracy}
    print(json.dumps(header), flush=True)
    trials: list[dict[str, Any]] = []

    def trial(kind: str, seed: int, rate: float, before: float | None, tuned: tuple[nn.Module, float]) -> nn.Module:
        trials.append({"kind": kind, "seed": seed, "learn_rate": rate, "validation_before": before,
                       "validation_after": evaluate(tuned[0], val)["accuracy"], "training_s": tuned[1]})
        print(json.dumps(trials[-1]), flush=True)
        return tuned[0]

    for seed in map(int, args.seeds.split(",")):
        first = trial("first look", seed, rates[0], None, fine_tuned(setup.net, train, teacher, args.images, seed, {},
                                                                     initial_learn_rate=rates[0]))
        looked = trials[-1]["validation_after"]
        for rate in rates:
            trial("second look", seed, rate, looked,
                  fine_tuned(first, train, teacher, args.images, seed, {}, 2, initial_learn_rate=rate))
        for rate in rates:
            trial("final", seed, rate, start_accuracy,
                  fine_tuned(setup.start, train, teacher, args.final_images, seed, {}, 3, initial_learn_rate=rate))
    summary = paired(trials, "second look", rates) + paired(trials, "final", rates)
    path = write_result(Path(args.json), {**header, "summary": summary, "trials": trials}, seed=None)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
