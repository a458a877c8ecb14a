"""The steps of a pruning iteration: score and remove channels, fine-tune, measure, accept.

Each is a function of the run's Session (prune/session.py); prune/loop.py calls them in order.
Every random choice of iteration k is seeded from (seed, k), so a run resumed from the
checkpoint of iteration k-1 makes the same choices as one that never stopped.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import nn

from .. import graph
from ..analysis import count_macs
from ..importance import IMPORTANCE, normalize_per_layer
from ..train import TrainingState, TrainingStopReason, evaluate, train_network
from .candidates import candidates_from_graph, describe_unprunable, score_points
from .history import PrunedTrainingRecord, PrunedValidationRecord, PruningRecord
from .select import select_channels
from .session import FineTuneCheckpoint, Plan, Session, count_learnables


class Step(NamedTuple):
    """A pruned network, the plan that made it from the best one, and where its fine-tuning stands."""

    net: nn.Module
    plan: Plan
    resume: TrainingState | None = None  # a checkpointed, part-done fine-tuning of this step


def baseline(s: Session) -> PruningRecord:
    """Record the unpruned network (iteration 0): its validation figure and what its cost measures."""
    with s.timed("validation"):
        value = evaluate(s.best, s.val, metrics=s.train_opts.metrics, loss=s.loss, device=s.device)[s.metric]
    with s.timed(s.cost.phase):
        measured = s.cost.measure(s.best, None)
    record = PruningRecord(0, s.info.original_learnables, 0.0, value, s.meets(value), s.info.original_macs,
                           **measured)
    s.info.pruning_history.append(record)
    s.log(f"unpruned network: validation {s.metric} {value:.4g} ({s.bound}), "
          f"{s.info.original_learnables:,} learnables{s.cost.describe(record, record)}")
    return record


def prune_step(s: Session, iteration: int, target: float) -> Step | None:
    """Score, select and remove about ``target`` (cost units) from the best network; None if nothing can go."""
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
            return select_channels(candidates, math.ceil(amount), s.opts.channel_multiple)[0]

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


def fine_tune(s: Session, iteration: int, step: Step, epochs: int | None = None) -> tuple[nn.Module, float, bool]:
    """Fine-tune a step's network; return it, its validation figure, and whether training diverged.

    Its training and validation records join the run's history, tagged with ``iteration``.
    """
    opts = s.train_opts.replace(seed=s.train_opts.seed + iteration, max_epochs=epochs or s.train_opts.max_epochs)
    report = s.on_fine_tune_epoch if step.plan else None  # the final fine-tuning is not resumable
    on_epoch = None if report is None else lambda state: report(FineTuneCheckpoint(iteration, step.plan, state))
    net, tinfo = train_network(step.net, s.data, s.loss, opts, on_epoch=on_epoch, resume=step.resume,
                               distillation=s.distillation)
    split = s.info.time_split
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


def record(s: Session, iteration: int, tuned: nn.Module, value: float) -> tuple[PruningRecord, graph.ChannelGraph]:
    """Count and measure a fine-tuned network, add its record to the history and log it."""
    with s.timed("surgery"):
        trace = graph.trace_channels(tuned, (s.example,))
    learnables, macs = count_learnables(tuned), count_macs(trace.gm).total
    first = s.info.pruning_history[0]
    with s.timed(s.cost.phase):
        measured = s.cost.measure(tuned, first)
    fewer = 1 - learnables / s.info.original_learnables
    rec = PruningRecord(iteration, learnables, fewer, value, s.meets(value), macs, **measured)
    s.info.pruning_history.append(rec)
    s.log(f"iteration {iteration}: {learnables:,} learnables ({100 * fewer:.1f}% fewer), "
          f"{macs / s.info.original_macs:.3f}x the MACs{s.cost.describe(rec, first)}, "
          f"validation {s.metric} {value:.4g}"
          f"{'' if rec.meets_threshold else (' - below the floor' if s.higher_is_better else ' - above the ceiling')}")
    return rec, trace


def accept(s: Session, iteration: int, tuned: nn.Module, trace: graph.ChannelGraph, plan: Plan) -> None:
    """Make a network that met the threshold the best so far, and tell the caller (to checkpoint)."""
    s.best, s.best_trace = tuned, trace
    s.info.plans.append(plan)
    s.info.learnables = count_learnables(tuned)
    notify(s, iteration)


def notify(s: Session, iteration: int) -> None:
    if s.on_iteration is not None:
        with s.timed("callbacks"):
            s.on_iteration(iteration, s.best, s.info)


def final_fine_tuning(s: Session) -> None:
    """Fine-tune the result longer; keep it only if validation did not get worse."""
    before = s.info.validation_metric
    assert before is not None  # a run with accepted plans has an accepted record
    epochs = s.opts.final_fine_tuning_epochs
    s.log(f"final fine-tuning: {epochs} epochs")
    iteration = len(s.info.pruning_history)  # its records carry the next iteration number
    tuned, after, diverged = fine_tune(s, iteration, Step(copy.deepcopy(s.best), {}), epochs=epochs)
    kept = not diverged and s.not_worse(after, before)
    if kept:
        s.best = tuned
    s.info.final_fine_tuning = {"epochs": epochs, "validation_before": before, "validation_after": after,
                                "kept": kept}
    s.log(f"final fine-tuning: validation {s.metric} {before:.4g} -> {after:.4g}"
          f"{'' if kept else ' (not better: kept the network before it)'}")
