"""compress_network_using_taylor_pruning: prune, fine-tune, repeat while the floor holds."""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import distributed, graph
from ..analysis import count_macs
from ..data import ImageData, split_validation, to_image_data
from ..errors import InputError
from ..importance import IMPORTANCE, NORMALIZATIONS, normalize_per_layer
from ..train import Distillation, TrainingOptions, TrainingState, evaluate, train_network
from ..train.augment import to_float
from ..train.batches import iterate_batches
from ..train.device import prepare_model, resolve_device, use_bf16
from ..train.evaluate import check_network_input
from .candidates import (
    candidates_from_graph,
    channel_costs,
    describe_unprunable,
    pruned_layers,
    score_points,
)
from .history import (
    PrunedTrainingRecord,
    PrunedValidationRecord,
    PruningInfo,
    PruningRecord,
    StopReason,
)
from .latency import LatencyMeter
from .select import select_channels

# The stop reason when the goal is met, per cost (the PruningOptions.cost values).
GOAL_REACHED = {"learnables": StopReason.GOAL, "macs": StopReason.MACS_GOAL, "latency": StopReason.LATENCY_GOAL}


@dataclass(frozen=True)
class PruningOptions:
    validation_threshold: float  # floor for accuracy (percent) or ceiling for loss
    learnables_reduction_goal: float = 1.0  # stop once this fraction of learnables is gone, (0, 1]
    learnables_reduction_increment: float = 0.05  # per iteration, fraction of the ORIGINAL learnables, (0, 1]
    num_importance_score_iterations: int = 20  # mini-batches accumulated into the scores, >= 1
    layer_names: tuple[str, ...] | None = None  # only prune groups produced by these modules
    validation_split: float = 0.1  # carved from the training data when options has no validation_data
    # After a failed step, retry from the last good network with half the step, down to this
    # fraction of the original learnables; None stops at the first failure (MATLAB's rule).
    min_increment: float | None = 0.005
    # Share of the fine-tuning loss on the unpruned network's soft targets (0: off, MATLAB's). 0.5
    # by measurement: +1.5 and +2.2 test points at equal compression (README, "Choosing the defaults").
    distillation_weight: float = 0.5
    distillation_temperature: float = 4.0
    channel_multiple: int = 1  # groups a step touches keep a multiple of this many channels
    final_fine_tuning_epochs: int = 0  # a longer fine-tuning of the result at the end (0: none)
    # Fine-tuning epochs all pruning iterations may spend together (rejected steps included, the
    # final fine-tuning not); the loop stops before an iteration would exceed it. None: no limit.
    fine_tuning_budget_epochs: int | None = None
    # What a step removes and the goal counts: "learnables" (MATLAB's), "macs" per example, or
    # "latency" measured on the run's device; increment and goal are fractions of the original amount.
    cost: str = "learnables"
    latency_batch_size: int = 128  # images per timed call when cost is "latency"
    importance: str = "taylor"  # a key of importance.IMPORTANCE: "taylor" (MATLAB's) or "bn-gate"
    normalization: str = "none"  # per-group rescaling of the scores before the global ranking

    def __post_init__(self) -> None:
        for name in ("learnables_reduction_goal", "learnables_reduction_increment"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise InputError(f"{name}={value} must be in (0, 1], a fraction of the original learnables")
        if self.num_importance_score_iterations < 1:
            raise InputError("num_importance_score_iterations must be >= 1")
        if self.min_increment is not None and not 0 < self.min_increment <= self.learnables_reduction_increment:
            raise InputError(f"min_increment={self.min_increment} must be in (0, increment]; "
                             "or None to stop at the first failed step")
        if not 0 < self.validation_split < 1:
            raise InputError(f"validation_split={self.validation_split} must be in (0, 1)")
        if self.importance not in IMPORTANCE:
            raise InputError(f"importance={self.importance!r} is not known; use one of {', '.join(IMPORTANCE)}")
        if self.normalization not in NORMALIZATIONS:
            raise InputError(f"normalization={self.normalization!r} is not known; "
                             f"use one of {', '.join(NORMALIZATIONS)}")
        if self.cost not in GOAL_REACHED:
            raise InputError(f"cost={self.cost!r} is not known; use one of {', '.join(GOAL_REACHED)}")
        if self.latency_batch_size < 1:
            raise InputError(f"latency_batch_size={self.latency_batch_size} must be >= 1")
        if self.fine_tuning_budget_epochs is not None and self.fine_tuning_budget_epochs < 1:
            raise InputError(f"fine_tuning_budget_epochs={self.fine_tuning_budget_epochs} must be >= 1 "
                             "(None: no limit)")
        if self.final_fine_tuning_epochs < 0:
            raise InputError(f"final_fine_tuning_epochs={self.final_fine_tuning_epochs} must be >= 0 (0: none)")
        if self.channel_multiple < 1:
            raise InputError(f"channel_multiple={self.channel_multiple} must be >= 1 (1: no rounding)")
        if not 0 <= self.distillation_weight <= 1 or self.distillation_temperature <= 0:
            raise InputError(f"distillation weight {self.distillation_weight:g} must be in [0, 1] (0: off) "
                             f"and its temperature {self.distillation_temperature:g} > 0")


IterationCallback = Callable[[int, nn.Module, PruningInfo], None]
FineTuneCallback = Callable[["FineTuneCheckpoint"], None]


@dataclass
class FineTuneCheckpoint:
    """Where the fine-tuning of one pruning iteration stood after an epoch."""

    iteration: int  # the pruning iteration being fine-tuned
    plan: dict[int, list[int]]  # its plan, applied to the checkpoint's network
    state: TrainingState


@dataclass
class PruningCheckpoint:
    """Where a run stood after an accepted iteration: enough to continue it exactly."""

    network: nn.Module  # the best network so far (the result of info.plans)
    info: PruningInfo
    fine_tune: FineTuneCheckpoint | None = None  # the next iteration's fine-tuning, part done

# Stops after which the result is final, so the final fine-tuning may run.
FINISHED = (StopReason.THRESHOLD, *GOAL_REACHED.values(), StopReason.NOTHING_LEFT, StopReason.BUDGET)

# Fine-tuning after each prune: MATLAB's example (sgdm, batch 128, 5 epochs, best-validation on
# accuracy) with a learning rate for recovering a trained network, not for training from scratch.
FINE_TUNING = dict(
    solver="sgdm", initial_learn_rate=0.01, momentum=0.9, l2_regularization=5e-4, max_epochs=5,
    mini_batch_size=128, learn_rate_schedule="cosine", objective_metric_name="accuracy",
    output_network="best-validation",
)


def default_fine_tuning_options(**changes: Any) -> TrainingOptions:
    return TrainingOptions(**{**FINE_TUNING, **changes})


def compress_network_using_taylor_pruning(
    net: nn.Module,
    train_data: Any,
    loss: str | Callable = "crossentropy",
    options: TrainingOptions | None = None,
    *,
    validation_threshold: float,
    learnables_reduction_goal: float = 1.0,
    learnables_reduction_increment: float = 0.05,
    num_importance_score_iterations: int = 20,
    layer_names: Sequence[str] | None = None,
    min_increment: float | None = 0.005,
    distillation_weight: float = 0.5,
    distillation_temperature: float = 4.0,
    channel_multiple: int = 1,
    final_fine_tuning_epochs: int = 0,
    fine_tuning_budget_epochs: int | None = None,
    cost: str = "learnables",
    latency_batch_size: int = 128,
    importance: str = "taylor",
    normalization: str = "none",
    on_iteration: IterationCallback | None = None,
    on_fine_tune_epoch: FineTuneCallback | None = None,
    resume_from: PruningCheckpoint | None = None,
) -> tuple[nn.Module, PruningInfo]:
    """Prune ``net`` until validation can no longer be held at ``validation_threshold``.

    Returns the most compressed network that met the threshold (the input is never
    modified) and its PruningInfo. ``options`` are the fine-tuning options of every
    iteration; their validation data (else a fixed split of ``train_data``) decides.
    ``on_iteration(iteration, best_net, info)`` runs after the baseline check and every
    accepted pruning iteration, ``on_fine_tune_epoch(FineTuneCheckpoint)`` after every
    fine-tuning epoch (both to checkpoint); ``resume_from`` continues from them. With
    ``distillation_weight`` > 0 every fine-tuning also learns the unpruned network's soft
    targets (temperature ``distillation_temperature``). ``cost`` says what a step removes
    and the goal counts: learnables, MACs, or latency measured on the run's device at
    ``latency_batch_size`` images per call (see prune.latency).
    """
    train_opts = options or default_fine_tuning_options()
    opts = check_pruning_request(
        train_opts.objective_metric_name, validation_threshold=validation_threshold,
        learnables_reduction_goal=learnables_reduction_goal,
        learnables_reduction_increment=learnables_reduction_increment,
        num_importance_score_iterations=num_importance_score_iterations, layer_names=layer_names,
        min_increment=min_increment, distillation_weight=distillation_weight,
        distillation_temperature=distillation_temperature, channel_multiple=channel_multiple, cost=cost,
        latency_batch_size=latency_batch_size, importance=importance, normalization=normalization,
        final_fine_tuning_epochs=final_fine_tuning_epochs, fine_tuning_budget_epochs=fine_tuning_budget_epochs)
    data = to_image_data(train_data)
    if train_opts.validation_data is None:
        data, val = split_validation(data, opts.validation_split, seed=train_opts.seed)
        train_opts = train_opts.replace(validation_data=val)
    search = _Search(net, data, loss, train_opts, opts, resume_from)
    search.on_iteration, search.on_fine_tune_epoch = on_iteration, on_fine_tune_epoch
    return search.run()


def check_pruning_request(metric: str, *, validation_threshold: float,
                          layer_names: Sequence[str] | None = None, **rest: Any) -> PruningOptions:
    """Validated PruningOptions; the threshold's range follows the objective metric."""
    if metric == "accuracy" and not 0 <= validation_threshold <= 100:
        raise InputError(f"validation threshold {validation_threshold:g} is an accuracy in percent; "
                         "give a value in 0..100")
    if metric == "loss" and validation_threshold < 0:
        raise InputError(f"validation threshold {validation_threshold:g} is a loss; give a value >= 0")
    return PruningOptions(validation_threshold, layer_names=tuple(layer_names) if layer_names else None, **rest)


def count_learnables(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


class _Search:
    """One pruning run: the steps of the loop as methods sharing its state.

    Every random choice of iteration k is seeded from (seed, k), so a run resumed from the
    checkpoint of iteration k-1 makes the same choices as one that never stopped.
    """

    on_iteration: IterationCallback | None = None
    on_fine_tune_epoch: FineTuneCallback | None = None

    def __init__(self, net, data: ImageData, loss, train_opts: TrainingOptions, opts: PruningOptions,
                 resume_from: PruningCheckpoint | None) -> None:
        self.device = resolve_device(train_opts.execution_environment)
        self.original = net
        # Both sets move to the device once here, not in every fine-tuning and scoring call.
        self.data = _on_device(data, self.device)
        self.val = _on_device(to_image_data(train_opts.validation_data), self.device)
        self.loss, self.opts = loss, opts
        self.train_opts = train_opts.replace(validation_data=self.val)
        check_network_input(net, data)
        distributed.check_batch(min(train_opts.mini_batch_size, len(data)))
        self.metric = train_opts.objective_metric_name
        self.pending = resume_from.fine_tune if resume_from else None
        self.example = to_float(data.images[:1]).to(self.device)
        traced = graph.trace_channels(net, (self.example.to(next(net.parameters()).device),))  # untraceable: fail now
        # The trace of the current best network, when one is at hand: its channel groups and
        # MACs depend on the architecture only, so the next step reuses it instead of tracing again.
        self.best_trace: graph.ChannelGraph | None = traced if resume_from is None else None
        # The unpruned network, on the device and never trained: distillation's teacher and the
        # reference later latencies are timed against. Copied only when one of them needs it.
        self.unpruned = prepare_model(copy.deepcopy(net), self.device).eval() \
            if opts.cost == "latency" or opts.distillation_weight > 0 else None
        self.latency = None
        if opts.cost == "latency":
            self.latency = LatencyMeter(self.example, opts.latency_batch_size,
                                        use_bf16(self.device, train_opts.precision),
                                        multiple=opts.channel_multiple)
        self.distillation = None
        if opts.distillation_weight > 0:
            self.distillation = Distillation(self.unpruned, opts.distillation_weight, opts.distillation_temperature)
        if resume_from is None:
            self.best = prepare_model(copy.deepcopy(net), self.device)
            self.info = PruningInfo(original_learnables=count_learnables(net),
                                    original_macs=count_macs(traced.gm).total)
        else:
            self.best = prepare_model(resume_from.network, self.device)
            self.info = resume_from.info

    def meets(self, value: float) -> bool:
        return value >= self.opts.validation_threshold if self.metric == "accuracy" \
            else value <= self.opts.validation_threshold

    def run(self) -> tuple[nn.Module, PruningInfo]:
        start = time.perf_counter() - self.info.elapsed_s
        try:
            if not self.info.pruning_history:
                self._baseline()
                if self.info.pruning_history[0].meets_threshold and self.on_iteration:
                    with self._timed("callbacks"):
                        self.on_iteration(0, self.best, self.info)
            first = self.info.pruning_history[0]
            self.info.stop_reason = StopReason.UNMET if not first.meets_threshold else self._iterate()
            if self.opts.final_fine_tuning_epochs and self.info.plans and self.info.stop_reason in FINISHED:
                self._final_fine_tuning()
        except KeyboardInterrupt:
            self.info.stop_reason = StopReason.USER
        self.info.learnables = count_learnables(self.best)
        self.info.pruned_layers = pruned_layers(self.original, self.best)
        self.info.elapsed_s = time.perf_counter() - start
        split = self.info.time_split
        split["other"] = max(self.info.elapsed_s - sum(v for k, v in split.items() if k != "other"), 0.0)
        if self.info.stop_reason == StopReason.UNMET:
            self.info.stop_detail = (f"validation {self.metric} of the unpruned network is "
                                     f"{first.validation_metric:.2f}, threshold {self.opts.validation_threshold:g}")
        self._log(f"stopped: {self.info.stop_reason.value} {self.info.stop_detail}".rstrip())
        return self.best, self.info

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to info.time_split[phase] (device work included)."""
        start = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        split = self.info.time_split
        split[phase] = split.get(phase, 0.0) + time.perf_counter() - start

    def _baseline(self) -> None:
        with self._timed("validation"):
            base = evaluate(self.best, self.val, device=self.device)[self.metric]
        with self._timed("latency"):
            latency_ms = self.latency.times_ns([self.best])[0] / 1e6 if self.latency else 0.0
        self.info.pruning_history.append(PruningRecord(0, self.info.original_learnables, 0.0, base, self.meets(base),
                                                       self.info.original_macs, latency_ms))
        self._log(f"unpruned network: validation {self.metric} {base:.2f} "
                  f"(threshold {self.opts.validation_threshold:g}), {self.info.original_learnables:,} learnables"
                  f"{self._latency_text(self.info.pruning_history[0])}")

    def _cost(self, record: PruningRecord) -> float:
        """The network's size in the units steps and the goal are counted in (latency: ns)."""
        return {"macs": record.macs, "latency": record.latency_ms * 1e6}.get(self.opts.cost, record.learnables)

    def _latency_ms(self, net: nn.Module) -> float:
        """Milliseconds per call of latency_batch_size images when the cost is latency, else 0 (not measured).

        Timed against the unpruned network and scaled by its time, so machine load that
        comes and goes between iterations does not bend the history.
        """
        if self.latency is None:
            return 0.0
        with self._timed("latency"):
            return self.latency.relative(self.unpruned, [net])[0] * self.info.pruning_history[0].latency_ms

    def _latency_text(self, record: PruningRecord) -> str:
        if self.latency is None:
            return ""
        base = self.info.pruning_history[0].latency_ms
        ratio = f" ({record.latency_ms / base:.3f}x)" if record.iteration else ""
        return f", {record.latency_ms:.2f} ms per {self.opts.latency_batch_size} images{ratio}"

    def _iterate(self) -> StopReason:
        original = self._cost(self.info.pruning_history[0])
        goal = self.opts.learnables_reduction_goal * original
        failures = sum(not r.meets_threshold for r in self.info.pruning_history[1:])
        increment = self.opts.learnables_reduction_increment * original / 2**failures
        for iteration in itertools.count(len(self.info.pruning_history)):
            accepted = [r for r in self.info.pruning_history if r.meets_threshold]
            removed = original - self._cost(accepted[-1])
            if removed >= goal * (1 - 1e-9):
                return GOAL_REACHED[self.opts.cost]
            budget = self.opts.fine_tuning_budget_epochs
            if budget is not None and iteration * self.train_opts.max_epochs > budget:
                self.info.stop_detail = (f"{(iteration - 1) * self.train_opts.max_epochs} of {budget} epochs spent; "
                                         f"an iteration takes {self.train_opts.max_epochs}")
                return StopReason.BUDGET
            resume = None
            if self.pending is not None and self.pending.iteration == iteration:
                plan, resume = self.pending.plan, self.pending.state
                with self._timed("surgery"):
                    step = graph.prune(self.best, (self.example,), plan), plan
            else:
                step = self._prune_step(iteration, min(increment, goal - removed))
            if step is None:
                return StopReason.NOTHING_LEFT
            pruned, plan = step
            tuned, value, diverged = self._fine_tune(iteration, pruned, plan, resume)
            if diverged:
                return StopReason.DIVERGED
            with self._timed("surgery"):
                trace = graph.trace_channels(tuned, (self.example,))
            learnables, macs = count_learnables(tuned), count_macs(trace.gm).total
            ok = self.meets(value)
            fewer = 1 - learnables / self.info.original_learnables
            record = PruningRecord(iteration, learnables, fewer, value, ok, macs, self._latency_ms(tuned))
            self.info.pruning_history.append(record)
            self._log(f"iteration {iteration}: {learnables:,} learnables ({100 * fewer:.1f}% fewer), "
                      f"{macs / self.info.original_macs:.3f}x the MACs{self._latency_text(record)}, "
                      f"validation {self.metric} {value:.2f}{'' if ok else ' - below the threshold'}")
            if ok:
                self.best, self.best_trace = tuned, trace
                self.info.plans.append(plan)
                self.info.learnables = learnables
                if self.on_iteration:
                    with self._timed("callbacks"):
                        self.on_iteration(iteration, self.best, self.info)
                continue
            minimum = self.opts.min_increment
            if minimum is None or increment / 2 < minimum * original * (1 - 1e-9):
                return StopReason.THRESHOLD
            increment /= 2  # roll back to self.best and try a smaller step
            self._log(f"  retrying from the last network that met the threshold with a "
                      f"{100 * increment / original:.2f}% step")
        raise AssertionError("unreachable")

    def _prune_step(self, iteration: int, target: float) -> tuple[nn.Module, dict[int, list[int]]] | None:
        """Score, select and remove channels from the current best network; None if nothing is left."""
        with self._timed("surgery"):
            cg = self.best_trace or graph.trace_channels(self.best, (self.example,))
            points = score_points(cg, self.opts.layer_names)
        if not points:
            self.info.stop_detail = describe_unprunable(cg)
            return None
        with self._timed("scoring"):
            scores = IMPORTANCE[self.opts.importance](self.best, self._score_batches(iteration), points,
                                                     None if isinstance(self.loss, str) else self.loss)
            scores = normalize_per_layer(scores, self.opts.normalization)
        candidates = candidates_from_graph(cg, scores, self._channel_costs(cg, scores))

        def choose(amount: float) -> dict[int, list[int]]:
            return select_channels(candidates, math.ceil(amount), self.opts.channel_multiple)[0]

        if self.latency is None:
            plan = choose(target)
            with self._timed("surgery"):
                step = (graph.prune(self.best, (self.example,), plan, channel_graph=cg), plan) if plan else None
        else:
            with self._timed("latency"):
                step = self.latency.sized_step(self.best, cg, choose, target, self._best_latency_ns())
        if step is None:
            self.info.stop_detail = describe_unprunable(cg) if self.latency is None else (
                f"removing channels no longer saves measurable time at {self.opts.latency_batch_size} "
                f"images per call on {self.device.type}")
        return step

    def _channel_costs(self, cg: graph.ChannelGraph, scores: dict) -> dict[int, torch.Tensor]:
        """What removing each channel saves, in the units of the cost."""
        if self.latency is None:
            return channel_costs(cg, self.opts.cost)
        with self._timed("latency"):
            return self.latency.per_channel(self.best, cg, scores, self._best_latency_ns())

    def _best_latency_ns(self) -> float:
        return [r for r in self.info.pruning_history if r.meets_threshold][-1].latency_ms * 1e6

    def _score_batches(self, iteration: int):
        images, labels = self.data.images, self.data.labels
        generator = torch.Generator().manual_seed(self.train_opts.seed * 1_000_003 + iteration)
        order = torch.randperm(len(self.data), generator=generator)
        size = min(self.train_opts.mini_batch_size, len(self.data))
        order = order[: size * self.opts.num_importance_score_iterations]
        return iterate_batches(images, labels, order, size, shard=True)

    def _final_fine_tuning(self) -> None:
        """Fine-tune the result longer; keep it only if validation did not get worse."""
        before = self.info.validation_metric
        epochs = self.opts.final_fine_tuning_epochs
        self._log(f"final fine-tuning: {epochs} epochs")
        iteration = len(self.info.pruning_history)  # its records carry the next iteration number
        tuned, after, diverged = self._fine_tune(iteration, copy.deepcopy(self.best), {}, None, epochs=epochs)
        kept = not diverged and (after >= before if self.metric == "accuracy" else after <= before)
        if kept:
            self.best = tuned
        self.info.final_fine_tuning = {"epochs": epochs, "validation_before": before,
                                       "validation_after": after, "kept": kept}
        self._log(f"final fine-tuning: validation {self.metric} {before:.2f} -> {after:.2f}"
                  f"{'' if kept else ' (not better: kept the network before it)'}")

    def _fine_tune(self, iteration: int, net: nn.Module, plan: dict[int, list[int]],
                   resume: TrainingState | None, epochs: int | None = None) -> tuple[nn.Module, float, bool]:
        opts = self.train_opts.replace(seed=self.train_opts.seed + iteration,
                                       max_epochs=epochs or self.train_opts.max_epochs)
        report = self.on_fine_tune_epoch if plan else None  # the final fine-tuning is not resumable
        on_epoch = None if report is None else lambda s: report(FineTuneCheckpoint(iteration, plan, s))
        net, tinfo = train_network(net, self.data, self.loss, opts, on_epoch=on_epoch, resume=resume,
                                   distillation=self.distillation)
        split = self.info.time_split
        split["fine_tuning"] = split.get("fine_tuning", 0.0) + tinfo.training_seconds
        split["validation"] = split.get("validation", 0.0) + tinfo.elapsed_s - tinfo.training_seconds
        for r in tinfo.training_history:
            self.info.training_history.append(
                PrunedTrainingRecord(iteration, r.iteration, r.loss, r.accuracy, r.learn_rate))
        for r in tinfo.validation_history:
            self.info.validation_history.append(
                PrunedValidationRecord(iteration, r.iteration, r.loss, r.accuracy, r.is_best))
        diverged = tinfo.stop_reason.startswith("Training diverged")
        chosen = [r for r in tinfo.validation_history if r.iteration == tinfo.output_network_iteration]
        record = chosen[-1] if chosen else tinfo.validation_history[-1]
        return net, getattr(record, self.metric), diverged

    def _log(self, line: str) -> None:
        if self.train_opts.verbose and distributed.is_main():
            tqdm.write(line)


def _on_device(data: ImageData, device: torch.device) -> ImageData:
    return ImageData(data.images.to(device), data.labels.to(device), data.classes)
