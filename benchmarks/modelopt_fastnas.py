"""NVIDIA Model Optimizer's FastNAS pruning of cifarnet, to the learnables one of our runs reached.

    pip install 'nvidia-modelopt==0.47.*' requests huggingface_hub torchprofile   # keep torch as it is
    python benchmarks/modelopt_fastnas.py --data ../shared/data/cifar10-jpeg.tar.gz --like runs/budget-seed0 \\
        --out runs/modelopt-seed0

ModelOpt (``modelopt.torch.prune``, mode ``fastnas``) turns the network into a search space of
channel counts, measures each layer's sensitivity, and binary-searches the subnet with the best
``score_func`` under a parameter constraint; every candidate is scored after recalibrating BN on
training batches. Then it is fine-tuned. Here:

- **Same size as ours.** The constraint is the learnables our run (``--like``, its result.json)
  ended with. ModelOpt counts parameters without BN's, so the constraint is ours scaled by the
  ratio of the two counts on the unpruned network; both counts of the result are written.
- **Same data and decisions.** The training, selection and acceptance splits of our run
  (``split_validation`` with --split-seed, then the 0.8 acceptance share, seeded by --seed);
  ``score_func`` is accuracy on the selection split, as ours picks epochs with it.
- **Same fine-tuning budget.** Fine-tuned on as many training images as our run used (all
  steps and the final fine-tuning together), with our fine-tuning (``train_network``, sgdm lr
  0.01 cosine, batch 128, distillation from the unpruned network, weight 0.5), in one go.
- **Or the same wall time** (``--time-budget 15m``): held to the budget ours runs under, counted
  from this process's start as ours is. After the search it fine-tunes as ours does under a
  budget (bf16 autocast where the CPU has native bf16, the learning rate following the clock)
  until a deadline that leaves time for the acceptance and test evaluations and the same safety
  margin (``prune.budget.end_seconds``), on at most as many images as our run used. The size may
  then be given as ``--learnables`` (and the image cap as ``--images``) instead of ``--like``.
- **Known behaviour of 0.47 handled:** the default channel divisor of 32 leaves almost nothing
  to prune in a CIFAR ResNet (widths 16/32/64), so convs and BNs use 8; the exported network
  keeps the BN statistics of the unpruned one, so they are recalibrated (running averages over
  ``CALIBRATION_BATCHES`` training mini-batches) before scoring and fine-tuning.

The search time is reported beside the fine-tuning time: FastNAS spends it before any training.
Writes DIR/result.json (same keys as a run folder's where they apply) and --json with provenance.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from provenance import write_result  # beside this script
from torch import nn

from taylorprune.cli.common import process_age_s
from taylorprune.data import ImageData, load_data, split_validation
from taylorprune.models import load_model
from taylorprune.prune import count_learnables, default_fine_tuning_options
from taylorprune.prune.acceptance import evidence, split_for_decisions
from taylorprune.prune.budget import Costs, Sizes, end_seconds, parse_duration
from taylorprune.train import Distillation, evaluate, train_network
from taylorprune.train.batches import iterate_batches
from taylorprune.train.device import native_bf16, prepare_model
from taylorprune.train.sources import InMemory

DIVISOR = 8  # channel and feature divisor (ModelOpt's default 32 leaves CIFAR widths almost whole)
CALIBRATION_BATCHES = 50  # training mini-batches of 128 that recalibrate BN (ModelOpt's data_loader too)
# Under --time-budget with no image count to match: so many epochs that the deadline ends the
# fine-tuning (its learning rate then follows the clock alone).
AS_MANY_AS_FIT_EPOCHS = 100
RESULTS = Path(__file__).parent / "results" / "modelopt_fastnas.json"


def splits(args: argparse.Namespace) -> tuple[ImageData, ImageData, ImageData, ImageData]:
    """train, selection, acceptance, test: our run's three-way split and the test set."""
    train, test = load_data(args.data)
    train, held = split_validation(train, args.validation, seed=args.split_seed)
    selection, acceptance = split_for_decisions(InMemory(held, torch.device("cpu")), args.acceptance_share,
                                                seed=args.seed)
    return train, selection.data, acceptance.data, test  # InMemory in, InMemory out


def calibration_batches(train: ImageData, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[: 128 * CALIBRATION_BATCHES]
    return list(iterate_batches(train.images, train.labels, order, 128))


@torch.no_grad()
def recalibrate_bn(net: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Running BN statistics from scratch: a cumulative average over ``batches`` in train mode."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    net.train()
    for x, _ in batches:
        net(x)
    for m in norms:
        m.momentum = 0.1
    net.eval()


def fastnas(net: nn.Module, target: int, train: ImageData, selection: ImageData, seed: int,
            out: Path) -> tuple[nn.Module, dict]:
    """ModelOpt's FastNAS subnet of ``net`` with at most ``target`` of OUR learnables (BN included)."""
    import modelopt.torch.prune as mtp
    from modelopt.torch.utils.network import param_num_from_forward

    example = torch.zeros(1, 3, 32, 32)
    ratio = param_num_from_forward(net, args=example, unit=1) / count_learnables(net)
    config = mtp.fastnas.FastNASConfig()
    config["nn.Conv2d"]["*"]["channel_divisor"] = DIVISOR
    config["nn.BatchNorm2d"]["*"]["feature_divisor"] = DIVISOR
    batches = calibration_batches(train, seed)

    def score(model: nn.Module) -> float:
        return evaluate(model, selection, device=torch.device("cpu"))["accuracy"]

    start = time.perf_counter()
    searched, _ = mtp.prune(net, mode=[("fastnas", config)], constraints={"params": int(target * ratio)},
                            dummy_input=example,
                            config={"data_loader": batches, "score_func": score,
                                    "checkpoint": str(out / "fastnas-search.pth")})
    exported = searched  # mtp.prune exports the best subnet in place: a plain nn.Module again
    recalibrate_bn(exported, batches)
    seconds = time.perf_counter() - start
    return exported, {"search_s": seconds, "constraint_params_modelopt": int(target * ratio),
                      "params_modelopt": int(param_num_from_forward(exported, args=example, unit=1)),
                      "params_ratio_modelopt_to_ours": ratio}


def fine_tune(net: nn.Module, train: ImageData, selection: ImageData, images: int, seed: int,
              teacher: nn.Module, deadline: float | None = None) -> tuple[nn.Module, dict]:
    """Our fine-tuning on ``images`` training images (a seeded subset per epoch count, as our loop does).

    With a ``deadline`` (a perf_counter() value) it is also what ours does under a time budget:
    bf16 autocast where the CPU has native bf16, stopped at the deadline with the learning rate
    annealed by then."""
    epochs = max(math.ceil(images / len(train)), 1)
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[: max(images // epochs, 1)]
    data = train.subset(chosen)
    per_epoch = max(len(data) // 128, 1)
    precision = "bf16" if deadline is not None and native_bf16() else "auto"
    options = default_fine_tuning_options(validation_data=selection, max_epochs=epochs, validation_frequency=per_epoch,
                                          seed=seed, verbose=False, precision=precision)
    start = time.perf_counter()
    net, info = train_network(net, data, "crossentropy", options, distillation=Distillation(teacher),
                              deadline=deadline)
    return net, {"fine_tuning_s": time.perf_counter() - start, "fine_tuning_images": len(info.training_history) * 128,
                 "fine_tuning_epochs_of_subset": epochs, "images_per_s": info.images_per_second,
                 "precision": precision, "stop": info.stop_reason.value}


def deadline_after(net: nn.Module, budget_s: float, clock_start: float, selection: ImageData,
                   report: int) -> tuple[float, dict]:
    """When fine-tuning must stop for the run to end within ``budget_s`` of ``clock_start``.

    Reserved as ours reserves (prune.budget.end_seconds): ``report`` images evaluated after the
    fine-tuning (acceptance and test) and the safety margin, plus the fine-tuning's own last
    evaluation of the selection split, at the seconds per image of one timed evaluation of
    ``selection`` by ``net`` (the searched subnet).
    """
    start = time.perf_counter()
    evaluate(net, selection, device=torch.device("cpu"))
    costs = Costs(eval_image_s=(time.perf_counter() - start) / len(selection))
    reserve = end_seconds(costs, Sizes(0, len(selection), 0, report=report), budget_s) + len(selection) * costs.eval_image_s
    deadline = clock_start + budget_s - reserve
    return deadline, {"time_budget_s": budget_s, "reserved_s": reserve, "eval_image_s": costs.eval_image_s,
                      "fine_tuning_window_s": deadline - time.perf_counter()}


def main() -> None:
    clock_start = time.perf_counter() - process_age_s()  # a budget counts from process start, as ours does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--like", help="our run folder whose learnables and images to match")
    target.add_argument("--learnables", type=int, help="the learnables to prune to (with --time-budget)")
    parser.add_argument("--time-budget", type=parse_duration, help="hold the whole run to this wall time, e.g. 15m")
    parser.add_argument("--images", type=int, default=0,
                        help="with --learnables: fine-tune on at most this many images (default: as many as fit)")
    parser.add_argument("--seed", type=int, default=0, help="our run's --seed (acceptance split, fine-tuning)")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--validation", type=int, default=5000)
    parser.add_argument("--acceptance-share", type=float, default=0.8)
    parser.add_argument("--out", required=True)
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    if args.learnables is not None and args.time_budget is None:
        parser.error("--learnables sets the size only; without --time-budget the images come from --like")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ours: dict = {"learnables": [None, args.learnables]}
    images = args.images
    if args.like:
        ours = json.loads((Path(args.like) / "result.json").read_text())
        history = json.loads((Path(args.like) / "history.json").read_text())
        images = sum(r["fine_tuning_images"] for r in history["pruning_history"])
        images += (history.get("final_fine_tuning") or {}).get("images") or 0
    target = ours["learnables"][1]
    train, selection, acceptance, test = splits(args)
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    base = load_model("cifarnet", pretrained=True).eval()
    teacher = prepare_model(load_model("cifarnet", pretrained=True), torch.device("cpu")).eval()
    pruned, search = fastnas(base, target, train, selection, args.seed, out)
    deadline, held, searched_test = None, {}, None
    if args.time_budget is None:  # how good the subnet is before fine-tuning; not timed into a budget
        searched_test = evaluate(pruned, test, device=torch.device("cpu"))["accuracy"]
    else:
        deadline, held = deadline_after(pruned, args.time_budget, clock_start, selection, len(acceptance) + len(test))
        images = images or AS_MANY_AS_FIT_EPOCHS * len(train)
    tuned, tuning = fine_tune(prepare_model(pruned, torch.device("cpu")), train, selection, images, args.seed,
                              teacher, deadline)
    accepted = evaluate(tuned, acceptance, device=torch.device("cpu"))["accuracy"]
    proof = evidence("accuracy", accepted, len(acceptance), 0.95)
    row = {
        "row": "modelopt-fastnas", "learnables": [count_learnables(teacher), count_learnables(tuned)],
        "learnables_reduction": 1 - count_learnables(tuned) / count_learnables(teacher),
        "target_learnables": target, "test_accuracy": evaluate(tuned, test, device=torch.device("cpu"))["accuracy"],
        "test_accuracy_after_search": searched_test, "acceptance": proof.to_dict(), **search, **tuning,
        "images_like": images, "elapsed_s": time.perf_counter() - start, **held,
    }
    (out / "result.json").write_text(json.dumps(row, indent=2) + "\n")
    write_result(Path(args.json), {"like": ours, "rows": [row]}, seed=args.seed)
    print(json.dumps({k: row[k] for k in ("learnables_reduction", "test_accuracy", "search_s", "fine_tuning_s")}))


if __name__ == "__main__":
    main()
