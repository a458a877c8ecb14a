"""The steps of a pruning iteration: score and remove channels, fine-tune, measure, accept.

Each is a function of the run's Session (prune/session.py); prune/loop.py calls them in order.
Every random choice of iteration k is seeded from (seed, k), so a run resumed from the
checkpoint of iteration k-1 makes the same choices as one that never stopped.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import nn

from .. import graph
from ..analysis import count_macs
from ..importance import IMPORTANCE, normalize_per_layer
from ..train import TrainingState, TrainingStopReason, evaluate, train_network
from ..train.sources import DataSource, subset_source
from . import timing
from .acceptance import Evidence, evidence
from .candidates import candidates_from_graph, describe_unprunable, score_points
from .history import PrunedTrainingRecord, PrunedValidationRecord, PruningRecord
from .select import select_channels
from .session import FineTuneCheckpoint, Plan, Session, count_learnables

# A budget's final fine-tuning polishes a network whose last fine-tuning annealed it; it gets the
# time left, often a fraction of a step's. Restarted at the full learn rate it was kept in 1 of 23
# runs on the Zen 4 EPYC (the other 22 lowered the acceptance figure 0.03-1.63 points). On 10,000
# images from a 60.2% network, three seeds: from the full rate -0.38 points of validation accuracy
# on average, from 0.3 of it +0.21, from 0.1 of it +0.13 (benchmarks/second_fine_tuning.py,
# results/second_fine_tuning-zen4.json). A second look at a failed step keeps the full rate: there
# 0.3 of it was level (+0.08 on 42,000 images) and a tenth 0.09 lower.
FINAL_LEARN_RATE_SHARE = 0.3


class Step(NamedTuple):
    """A pruned network, the plan that made it from the best one, and where its fine-tuning stands."""

    net: nn.Module
    plan: Plan
    resume: TrainingState | None = None  # a checkpointed, part-done fine-tuning of this step
    extended: bool = False  # a step that fell short, fine-tuned again (it is not extended twice)


def baseline(s: Session) -> PruningRecord:
    """Record the unpruned network (iteration 0): its validation figure and what its cost measures.

    Its evaluations are also the first measurement a time budget plans from.
    """
    start = time.perf_counter()
    with s.timed("validation"):
        value = _evaluate(s, s.best, s.val)
    proof = decide(s, s.best, value)
    timing.start(s, (time.perf_counter() - start) / (len(s.val) + (proof.count if s.acceptance is not None else 0)))
    with s.timed(s.cost.phase):
        measured = s.cost.measure(s.best, None)
    low, high = _bounds(proof)
    record = _with(PruningRecord(0, s.info.original_learnables, 0.0, proof.value, s.meets(proof),
                                 s.info.original_macs, validation_low=low, validation_high=high), measured)
    s.info.pruning_history.append(record)
    s.log(f"unpruned network: {_figure(s, record)} ({s.bound}), "
          f"{s.info.original_learnables:,} learnables{s.cost.describe(record, record)}{timing.left_text(s, ', ')}")
    return record


def time_evaluation(s: Session) -> None:
    """Start a resumed run's time budget from one timed evaluation (no budget: nothing)."""
    if s.opts.time_budget_s is None:
        return
    start = time.perf_counter()
    _evaluate(s, s.best, s.val)
    timing.start(s, (time.perf_counter() - start) / len(s.val))


def decide(s: Session, net: nn.Module, fine_tuned_value: float) -> Evidence:
    """What a network is judged by: its figure on the acceptance split, with the confidence bound,
    when there is one; else the fine-tuning's own best validation figure (MATLAB's rule)."""
    if s.acceptance is None:
        return evidence(s.metric, fine_tuned_value, len(s.val), 0.0)
    with s.timed("acceptance"):
        value = _evaluate(s, net, s.acceptance)
    return evidence(s.metric, value, len(s.acceptance), s.opts.decision_confidence())


def _evaluate(s: Session, net: nn.Module, data: DataSource) -> float:
    """The objective metric of ``net`` on ``data``."""
    return evaluate(net, data, metrics=s.train_opts.metrics, loss=s.loss, device=s.device)[s.metric]


def _with(record: PruningRecord, measured: dict[str, float]) -> PruningRecord:
    """``record`` with the fields its cost measured (e.g. latency_ms) filled in."""
    for name, value in measured.items():
        setattr(record, name, value)
    return record


def _bounds(proof: Evidence) -> tuple[float | None, float | None]:
    """(low, high) of a bounded figure, else (None, None): what a PruningRecord stores."""
    return (proof.low, proof.high) if proof.bounded else (None, None)


def _figure(s: Session, record: PruningRecord) -> str:
    text = f"validation {s.metric} {record.validation_metric:.4g}"
    if record.validation_low is not None:
        text += f" ({100 * s.opts.decision_confidence():.4g}% lower bound {record.validation_low:.4g})"
    return text


def prune_step(s: Session, iteration: int, target: float, below: float = math.inf) -> Step | None:
    """Score, select and remove about ``target`` (cost units), and less than ``below``, from the best
    network; None if nothing can go."""
    with s.timed("surgery"):
        cg = s.best_trace or graph.trace_channels(s.best, (s.example,))
        points = score_points(cg, s.opts.layer_names)
    if not points:
        s.info.stop_detail = describe_unprunable(cg)
        return None
    with s.timed("scoring"):
        scores = IMPORTANCE[s.opts.importance](s.best, score_batches(s, iteration), points, s.loss)
        scores = normalize_per_layer(scores, s.opts.normalization)
    current = s.last_accepted
    with s.timed(s.cost.phase):
        candidates = candidates_from_graph(cg, scores, s.cost.per_channel(s.best, cg, scores, current))

        def choose(amount: float) -> Plan:
            return select_channels(candidates, math.ceil(amount), s.opts.kept_multiple(), below)[0]

        step = s.cost.step(s.best, cg, choose, target, current)
    if step is None:
        s.info.stop_detail = s.cost.nothing_left(cg)
        return None
    return Step(*step)


def resumed_step(s: Session, iteration: int) -> Step | None:
    """The step a checkpointed, part-done fine-tuning of ``iteration`` was taking, rebuilt."""
    if s.pending is None or s.pending.iteration != iteration:
        return None
    with s.timed("surgery"):
        return Step(graph.prune(s.best, (s.example,), s.pending.plan), s.pending.plan, s.pending.state)


def score_batches(s: Session, iteration: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """num_importance_score_iterations mini-batches of training data, drawn from (seed, iteration)
    (from a user's DataLoader: its first ones)."""
    generator = torch.Generator().manual_seed(s.train_opts.seed * 1_000_003 + iteration)
    order = torch.randperm(len(s.data), generator=generator)
    size = min(s.train_opts.mini_batch_size, len(s.data))
    order = order[: size * s.opts.num_importance_score_iterations]
    return itertools.islice(s.data.batches(order, size, shard=True), s.opts.num_importance_score_iterations)


def fine_tune(s: Session, iteration: int, step: Step, epochs: int | None = None,
              images: int | None = None, learn_rate: float | None = None) -> tuple[nn.Module, float, bool]:
    """Fine-tune a step's network; return it, its validation figure, and whether training diverged.

    ``epochs`` (default max_epochs), or ``images`` when a time budget sized the fine-tuning: a
    subset drawn from (seed, iteration), in as few epochs as hold that many images, validated
    once per epoch; from ``learn_rate`` (default the options' initial learn rate). Its training
    and validation records join the run's history, tagged with ``iteration``.
    """
    data, opts = s.data, s.train_opts.replace(seed=s.train_opts.seed + iteration,
                                              max_epochs=epochs or s.train_opts.max_epochs)
    if learn_rate is not None:
        opts = opts.replace(initial_learn_rate=learn_rate)
    if images:
        data = _subset(s, iteration, images, epochs := math.ceil(images / len(s.data)))
        batch = min(opts.mini_batch_size, len(data))
        opts = opts.replace(max_epochs=epochs, validation_frequency=max(len(data) // batch, 1))
    # The final fine-tuning is not resumable, nor is a step the budget sized (short, and re-planned on resume).
    report = s.on_fine_tune_epoch if step.plan and not images else None
    on_epoch = None if report is None else lambda state: report(FineTuneCheckpoint(iteration, step.plan, state))
    with s.timed("fine_tuning_set_up"):  # the whole call, less its training loop's time (below)
        net, tinfo = train_network(step.net, data, s.loss, opts, on_epoch=on_epoch, resume=step.resume,
                                   distillation=s.distillation, deadline=timing.deadline(s))
    if images:
        timing.measured(s, tinfo.training_seconds, len(tinfo.training_history) * min(opts.mini_batch_size, len(data)))
    split = s.info.time_split
    split["fine_tuning_set_up"] -= tinfo.elapsed_s  # the loop's own time, split into the two phases below
    split["fine_tuning"] = split.get("fine_tuning", 0.0) + tinfo.training_seconds
    split["validation"] = split.get("validation", 0.0) + tinfo.elapsed_s - tinfo.training_seconds
    for r in tinfo.training_history:
        s.info.training_history.append(PrunedTrainingRecord(iteration, r.iteration, r.loss, r.accuracy, r.learn_rate))
    for v in tinfo.validation_history:
        s.info.validation_history.append(PrunedValidationRecord(iteration, v.iteration, v.loss, v.accuracy, v.is_best,
                                                                v.metrics[s.metric]))
    chosen = [v for v in tinfo.validation_history if v.iteration == tinfo.output_network_iteration]
    record = chosen[-1] if chosen else tinfo.validation_history[-1]
    return net, record.metrics[s.metric], tinfo.stop_reason == TrainingStopReason.DIVERGED


def _subset(s: Session, iteration: int, images: int, epochs: int) -> DataSource:
    """``images // epochs`` training examples drawn from (seed, iteration), apart from the scoring draw."""
    generator = torch.Generator().manual_seed(s.train_opts.seed * 1_000_003 + 500_000 + iteration)
    chosen = torch.randperm(len(s.data), generator=generator)[: max(images // epochs, 1)]
    return subset_source(s.data, chosen)


def record(s: Session, iteration: int, tuned: nn.Module, value: float,
           images: int) -> tuple[PruningRecord, graph.ChannelGraph]:
    """Count, measure and judge a fine-tuned network (``images``: what it trained on), add its record
    to the history and log it."""
    with s.timed("surgery"):
        trace = graph.trace_channels(tuned, (s.example,))
    learnables, macs = count_learnables(tuned), count_macs(trace.gm).total
    first = s.info.pruning_history[0]
    with s.timed(s.cost.phase):
        measured = s.cost.measure(tuned, first)
    fewer = 1 - learnables / s.info.original_learnables
    proof = decide(s, tuned, value)
    low, high = _bounds(proof)
    rec = _with(PruningRecord(iteration, learnables, fewer, proof.value, s.meets(proof), macs,
                              validation_low=low, validation_high=high, fine_tuning_images=images), measured)
    s.info.pruning_history.append(rec)
    s.log(f"iteration {iteration}: {learnables:,} learnables ({100 * fewer:.1f}% fewer), "
          f"{macs / s.info.original_macs:.3f}x the MACs{s.cost.describe(rec, first)}, "
          f"{_figure(s, rec)}"
          f"{'' if rec.meets_threshold else (' - below the floor' if s.higher_is_better else ' - above the ceiling')}"
          f"{timing.left_text(s, ', ')}")
    return rec, trace


def accept(s: Session, iteration: int, tuned: nn.Module, trace: graph.ChannelGraph, plan: Plan) -> None:
    """Make a network that met the threshold the best so far, and tell the caller (to checkpoint)."""
    s.best, s.best_trace = tuned, trace
    s.info.plans.append(plan)
    s.info.learnables = count_learnables(tuned)
    notify(s, iteration)


def notify(s: Session, iteration: int) -> None:
    """Tell the caller (to checkpoint) about a new best network, with the time spent so far."""
    timing.checkpoint(s)
    if s.on_iteration is not None:
        with s.timed("callbacks"):
            s.on_iteration(iteration, s.best, s.info)


def final_fine_tuning(s: Session) -> None:
    """Fine-tune the result longer; keep it only if it still meets the threshold and did not get worse.

    Under a time budget it gets every image the time left buys, from FINAL_LEARN_RATE_SHARE of
    the initial learn rate; else final_fine_tuning_epochs, from the initial learn rate.
    """
    before = s.info.validation_metric
    assert before is not None  # a run with accepted plans has an accepted record
    epochs, images = s.opts.final_fine_tuning_epochs, timing.final_images(s)
    if images == 0:
        return  # the budget has no time left for it
    s.log(f"final fine-tuning: {f'{images:,} images' if images else f'{epochs} epochs'}{timing.left_text(s, ', ')}")
    iteration = len(s.info.pruning_history)  # its records carry the next iteration number
    rate = (FINAL_LEARN_RATE_SHARE if images else 1.0) * s.train_opts.initial_learn_rate
    tuned, after, diverged = fine_tune(s, iteration, Step(copy.deepcopy(s.best), {}), epochs=epochs or None,
                                       images=images, learn_rate=rate)
    proof = decide(s, tuned, after)
    kept = not diverged and s.not_worse(proof.value, before) and s.meets(proof)
    if kept:
        s.best = tuned
    low, high = _bounds(proof)
    s.info.final_fine_tuning = {"epochs": images / len(s.data) if images else epochs, "images": images,
                                "validation_before": before, "validation_after": proof.value,
                                "validation_low": low, "validation_high": high, "kept": kept,
                                "initial_learn_rate": rate}
    s.log(f"final fine-tuning: validation {s.metric} {before:.4g} -> {proof.value:.4g}"
          f"{'' if kept else ' (not better: kept the network before it)'}{timing.left_text(s, ', ')}")
