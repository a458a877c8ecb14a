"""Torch-Pruning 1.6.1's Taylor pruning in MATLAB's loop: the "torch-pruning-taylor" row of compare_matlab.py.

    .venv/bin/pip install -e '.[bench]'
    python benchmarks/tp_loop.py --data PATH --out runs/tp-taylor          # bundled cifarnet, 85% floor
    python benchmarks/tp_loop.py --model NET.safetensors --ignore-residual --floor F --data PATH --out DIR

Torch-Pruning (TP) does the importance and the surgery; taylorprune does everything else as in
the `taylorprune prune` rows: the same validation split, the same scoring mini-batches (20 per
step, drawn with our loop's seed rule, in eval mode), the same fine-tuning (``train_network``
with ``default_fine_tuning_options``, best validation accuracy), the same figures. The loop is
MATLAB's: prune a fixed share of the original learnables, fine-tune, accept if validation
accuracy is at least the floor, else stop and return the last network that met it.

Importance: ``TaylorImportance`` the way TP documents it, ``loss.backward()`` on the scoring
mini-batches (gradients summed in ``.grad``) before the pruner steps; ``MetaPruner`` with
``global_pruning=True`` ranks every group's channels together. The classifier is never pruned
(as in torch_pruning_compare.py); with --ignore-residual neither is any conv or BN that writes a
residual stream, since TP prunes zero-padding shortcuts inconsistently.

Step size: TP's ``pruning_ratio`` is a share of the prunable channels, and a channel's
learnables differ from layer to layer, so no fixed ratio is 5% of the learnables. Step k aims
at (1 - k * increment) of the original learnables (cumulative, so over- and undershoots do not
add up). A fresh ``MetaPruner`` per step prunes a copy of the network at ratio r, on the same
gradients; a larger r lowers the global threshold on the same scores, so fewer learnables
remain. r is bisected in (0, 1) for SEARCH_STEPS halvings, and the copy closest to the target
is kept. (TP skips a group whose channels would all go, so at large r the removal can fall
again; the bisection starts at r = 0.5, far beyond a 5% step.)

Writes DIR/result.json, with the keys of the result.json of a `taylorprune prune` run folder,
and DIR/model.pt (``torch.save`` of the module: TP changes module shapes in place, which the
taylorprune file format, rebuilt from channel plans, cannot record). Ctrl-C, or
compare_matlab.py's time limit (a SIGINT), stops the loop and keeps the last network that met
the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_pruning as tp  # benchmark-only dependency: never imported by the library
from torch import nn
from torch_pruning_compare import final_layer

from taylorprune import graph
from taylorprune.analysis import count_macs
from taylorprune.artifacts import resolve_network
from taylorprune.data import ImageData, load_data, split_validation
from taylorprune.models import builder_kwargs
from taylorprune.prune import StopReason, count_learnables, default_fine_tuning_options
from taylorprune.train import TrainingStopReason, evaluate, resolve_device, test_net, train_network
from taylorprune.train.augment import to_float
from taylorprune.train.batches import iterate_batches
from taylorprune.train.device import prepare_model

SCORE_BATCHES = 20  # mini-batches whose gradients TaylorImportance reads (MATLAB's and ours)
SEARCH_STEPS = 12  # bisection halvings of the ratio: 1/4096 of the prunable channels


@dataclass(frozen=True)
class Loop:
    """What every step uses; data and the example input live on the loop's device."""

    train: ImageData
    val: ImageData
    example: torch.Tensor  # (1, C, H, W) float in [0, 1]: TP's and our tracing input
    ignored: tuple[str, ...]  # modules TP leaves whole
    floor: float  # validation accuracy, percent
    increment: float  # share of the ORIGINAL learnables per step, (0, 1]
    goal: float  # stop once this share of the original learnables is gone, (0, 1]
    epochs: int  # fine-tuning epochs per step
    batch_size: int
    seed: int


@dataclass
class Progress:
    """Where the loop stands, kept current so that an interrupt anywhere can still report."""

    best: nn.Module  # the last network that met the floor (the unpruned one at first)
    validation: list[float] = field(default_factory=list)  # accuracy %: unpruned, then each accepted step
    iterations: int = 0  # pruning steps fine-tuned, the failed last one included
    epochs: float = 0.0  # fine-tuning epochs run
    stop_reason: StopReason | None = None
    time_split: dict[str, float] = field(default_factory=dict)  # wall seconds per phase


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = load_data(args.data)
    train, val = split_validation(train, args.validation, seed=args.seed)
    device = resolve_device("auto")
    net = resolve_network(args.model, weights=args.weights, pretrained=args.weights is None,
                          **builder_kwargs(args.model, len(train.classes)))
    net = prepare_model(net, device)
    example = to_float(train.images[:1]).to(device)
    loop = Loop(on_device(train, device), on_device(val, device), example,
                ignored_layers(net, example, args.ignore_residual), args.floor, args.increment, args.goal, args.epochs,
                args.batch_size, args.seed)
    before = (count_learnables(net), macs(net, example))
    progress = Progress(net)
    start = time.perf_counter()
    try:
        run_loop(loop, progress)
    except KeyboardInterrupt:
        progress.stop_reason = StopReason.USER
    elapsed = time.perf_counter() - start
    test_accuracy = None if progress.stop_reason == StopReason.UNMET else test_net(progress.best, test)
    after = (count_learnables(progress.best), macs(progress.best, example))
    write_result(out / "result.json", progress, before, after, test_accuracy, elapsed)
    torch.save(progress.best, out / "model.pt")
    print(f"{progress.stop_reason.value} {1 - after[0] / before[0]:.1%} fewer learnables, "
          f"test accuracy {test_accuracy}; saved {out / 'result.json'}, {out / 'model.pt'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifarnet",
                        help="model spec (bundled pretrained weights unless --weights) or taylorprune file "
                             "(default: cifarnet)")
    parser.add_argument("--weights", help="weights file for a model spec (default: the bundled ones)")
    parser.add_argument("--data", help="CIFAR-10 or an image folder with train/ and test/ (default: the cache)")
    parser.add_argument("--floor", type=float, default=85.0, help="validation accuracy floor, percent (85)")
    parser.add_argument("--increment", type=float, default=0.05,
                        help="learnables removed per step, as a share of the original (0.05)")
    parser.add_argument("--goal", type=float, default=1.0, help="stop once this share of learnables is gone (1)")
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs per step (5)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch of scoring and fine-tuning (128)")
    parser.add_argument("--validation", type=int, default=5000, help="validation images carved from train (5000)")
    parser.add_argument("--seed", type=int, default=0, help="validation split, scoring batches, fine-tuning (0)")
    parser.add_argument("--ignore-residual", action="store_true",
                        help="leave every conv/BN that writes a residual stream whole (zero-padding ResNets)")
    parser.add_argument("--out", required=True, help="folder for result.json and model.pt")
    return parser.parse_args()


def on_device(data: ImageData, device: torch.device) -> ImageData:
    """Moved once, not in every fine-tuning and scoring call (as our loop does)."""
    return ImageData(data.images.to(device), data.labels.to(device), data.classes)


def ignored_layers(net: nn.Module, example: torch.Tensor, residual: bool) -> tuple[str, ...]:
    """The classifier; with ``residual`` also the convs and BNs of every channel group (our
    analysis) that more than one conv writes, i.e. the streams a residual add sums."""
    names = {final_layer(net, example)}
    if residual:
        for group in graph.trace_channels(net, (example,)).groups:
            writers = {m.tensor.rsplit(".", 1)[0] for m in group.members if m.role == "out"}
            if len(writers) > 1:
                names |= {m.tensor.rsplit(".", 1)[0] for m in group.members if m.role in ("out", "norm")}
    return tuple(sorted(names))


def run_loop(loop: Loop, progress: Progress) -> None:
    """MATLAB's loop: baseline, then prune, fine-tune and accept until the first failure."""
    with timed(progress, "validation"):
        progress.validation.append(evaluate(progress.best, loop.val)["accuracy"])
    if progress.validation[0] < loop.floor:
        progress.stop_reason = StopReason.UNMET
        return
    original = count_learnables(progress.best)
    for step in itertools.count(1):
        if 1 - count_learnables(progress.best) / original >= loop.goal - 1e-9:
            progress.stop_reason = StopReason.GOAL
            return
        with timed(progress, "scoring"):
            accumulate_gradients(progress.best, loop, step)
        with timed(progress, "surgery"):
            pruned = prune_to(progress.best, loop, round(original * (1 - min(step * loop.increment, loop.goal))))
        progress.best.zero_grad(set_to_none=True)
        if pruned is progress.best:
            progress.stop_reason = StopReason.NOTHING_LEFT
            return
        accuracy = fine_tune(pruned, loop, step, progress)
        progress.iterations = step
        if accuracy is None:
            progress.stop_reason = StopReason.DIVERGED
            return
        left = count_learnables(pruned)
        print(f"step {step}: {left:,} learnables ({1 - left / original:.1%} fewer), "
              f"validation accuracy {accuracy:.2f}", flush=True)
        if accuracy < loop.floor:
            progress.stop_reason = StopReason.THRESHOLD
            return
        progress.best = pruned
        progress.validation.append(accuracy)


def accumulate_gradients(net: nn.Module, loop: Loop, step: int) -> None:
    """Sum the cross-entropy gradients of SCORE_BATCHES mini-batches in ``net``'s ``.grad``, the
    mini-batches our loop scores at this step, in eval mode (BN statistics as validated)."""
    generator = torch.Generator().manual_seed(loop.seed * 1_000_003 + step)
    size = min(loop.batch_size, len(loop.train))
    order = torch.randperm(len(loop.train), generator=generator)[: size * SCORE_BATCHES]
    net.eval()
    net.zero_grad(set_to_none=True)
    for x, y in iterate_batches(loop.train.images, loop.train.labels, order, size):
        F.cross_entropy(net(x), y).backward()


def prune_to(net: nn.Module, loop: Loop, target: int) -> nn.Module:
    """A copy of ``net`` pruned by TP to about ``target`` learnables (ratio search in the module
    docstring), or ``net`` itself when no ratio comes closer than removing nothing."""
    closest, low, high = net, 0.0, 1.0
    for _ in range(SEARCH_STEPS):
        ratio = (low + high) / 2
        trial = tp_pruned_copy(net, loop, ratio)
        left = count_learnables(trial)
        if abs(left - target) < abs(count_learnables(closest) - target):
            closest = trial
        low, high = (ratio, high) if left > target else (low, ratio)
    return closest


def tp_pruned_copy(net: nn.Module, loop: Loop, ratio: float) -> nn.Module:
    """``net`` copied, then pruned by TP's global Taylor pruning of ``ratio`` of its channels."""
    trial = copy.deepcopy(net)
    for p, q in zip(net.parameters(), trial.parameters(), strict=True):
        q.grad = p.grad  # deepcopy drops gradients; TP's surgery replaces them, never edits them
    pruner = tp.pruner.MetaPruner(trial, loop.example, importance=tp.importance.TaylorImportance(),
                                  global_pruning=True, pruning_ratio=ratio,
                                  ignored_layers=[trial.get_submodule(name) for name in loop.ignored])
    pruner.step()
    return trial


def fine_tune(net: nn.Module, loop: Loop, step: int, progress: Progress) -> float | None:
    """Fine-tune ``net`` in place as our rows do (once-per-epoch validation, seed + step); its best
    validation accuracy (the returned weights'), or None if training diverged."""
    per_epoch = max(len(loop.train) // min(loop.batch_size, len(loop.train)), 1)
    options = default_fine_tuning_options(validation_data=loop.val, max_epochs=loop.epochs,
                                          mini_batch_size=loop.batch_size, validation_frequency=per_epoch,
                                          seed=loop.seed + step, verbose=False)
    _, info = train_network(net, loop.train, "crossentropy", options)
    split = progress.time_split
    split["fine_tuning"] = split.get("fine_tuning", 0.0) + info.training_seconds
    split["validation"] = split.get("validation", 0.0) + info.elapsed_s - info.training_seconds
    progress.epochs += len(info.training_history) / per_epoch
    if info.stop_reason == TrainingStopReason.DIVERGED:
        return None
    return [r.accuracy for r in info.validation_history if r.is_best][-1]


@contextlib.contextmanager
def timed(progress: Progress, phase: str) -> Iterator[None]:
    """Add the block's wall time, device work included, to progress.time_split[phase]."""
    start = time.perf_counter()
    yield
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    progress.time_split[phase] = progress.time_split.get(phase, 0.0) + time.perf_counter() - start


def macs(net: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates per example, counted as for our rows."""
    return count_macs(graph.trace_channels(net, (example,)).gm).total


def write_result(path: Path, progress: Progress, before: tuple[int, int], after: tuple[int, int],
                 test_accuracy: float | None, elapsed: float) -> None:
    """result.json with the keys and meanings of a `taylorprune prune` run folder's
    (``learnables`` and ``macs`` are [before, after]), so compare_matlab.py reads both alike."""
    met = progress.validation if progress.stop_reason != StopReason.UNMET else []
    split = dict(progress.time_split)
    split["other"] = max(elapsed - sum(split.values()), 0.0)
    result = {
        "learnables": [before[0], after[0]], "learnables_reduction": 1 - after[0] / before[0],
        "macs": [before[1], after[1]], "macs_reduction": 1 - after[1] / before[1] if before[1] else 0.0,
        "validation_metric": [progress.validation[0] if progress.validation else None, met[-1] if met else None],
        "test_accuracy": test_accuracy, "stop_reason": progress.stop_reason.value if progress.stop_reason else None,
        "iterations": progress.iterations, "accepted": max(len(met) - 1, 0),
        "fine_tuning_epochs": progress.epochs, "elapsed_s": elapsed, "time_split_s": split,
    }
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
