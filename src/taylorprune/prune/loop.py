"""compress_network_using_taylor_pruning: prune, fine-tune, repeat while the threshold holds.

Read top to bottom: the entry point checks the request and sets up a Session; ``_run`` checks
the unpruned network, then ``_search`` takes steps until a stop rule fires, halving a step
that failed; ``_finish`` fills in the summary. The steps themselves are in prune/steps.py,
the time budget's bookkeeping in prune/timing.py.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

from torch import nn

from ..data import DEFAULT_RULE, default_validation_size
from ..errors import InputError
from ..losses import resolve_loss
from ..train import TrainingOptions
from ..train.device import native_bf16, resolve_device
from ..train.sources import as_source, split_source
from . import budget, steps, timing
from .acceptance import split_for_decisions
from .candidates import pruned_layers
from .history import PruningInfo, StopReason
from .options import (
    PruningOptions,
    check_pruning_request,
    default_fine_tuning_options,
    pruning_options,
)
from .session import (
    FineTuneCallback,
    IterationCallback,
    PruningCheckpoint,
    Session,
    count_learnables,
    log,
    start_session,
)

# Stops after which the result is not final, so no final fine-tuning runs.
UNFINISHED = (StopReason.USER, StopReason.DIVERGED, StopReason.UNMET)


def compress_network_using_taylor_pruning(
    net: nn.Module,
    train_data: Any,
    loss: Any = "crossentropy",
    options: TrainingOptions | None = None,
    pruning: PruningOptions | None = None,
    *,
    on_iteration: IterationCallback | None = None,
    on_fine_tune_epoch: FineTuneCallback | None = None,
    resume_from: PruningCheckpoint | None = None,
    budget_start: float | None = None,
    report_images: int = 0,
    report_seconds: float = 0.0,
    **fields: Any,
) -> tuple[nn.Module, PruningInfo]:
    """Prune ``net`` until validation can no longer be held at the threshold.

    ``pruning`` is a PruningOptions; its fields may also be given as keywords, MATLAB's
    name-value style (``validation_threshold=85.0, learnables_reduction_increment=0.05``), and
    override it. ``options`` are the fine-tuning options of every iteration; their validation
    data (else a split of ``train_data``, PruningOptions.validation_split) decides. Returns the
    most compressed network that met the threshold (the input is never modified) and its
    PruningInfo. ``on_iteration(iteration, best_net, info)`` runs after the baseline check and
    every accepted iteration, ``on_fine_tune_epoch(FineTuneCheckpoint)`` after every
    fine-tuning epoch (both to checkpoint); ``resume_from`` continues from them.

    With ``confidence`` > 0 the validation data is split (prune.acceptance): ``acceptance_share``
    of it only accepts or rejects steps, by a lower confidence bound; the rest picks each
    fine-tuning's best epoch. With ``time_budget_s`` the run fits into that many seconds from
    ``budget_start`` (a ``time.perf_counter()`` value; default: now), keeping time to evaluate
    ``report_images`` afterwards (the caller's test set) and ``report_seconds`` for anything else
    the caller does after the run (its latency table; prune.budget).
    """
    opts = pruning_options(pruning, fields)
    train_opts = _budget_precision(options or default_fine_tuning_options(), opts)
    check_pruning_request(opts, train_opts, loss)
    clock_start = time.perf_counter() if budget_start is None else budget_start
    device = resolve_device(train_opts.execution_environment)
    data = as_source(train_data, device, workers=train_opts.num_workers)
    if opts.time_budget_s is not None and not data.controls_order:
        raise InputError("a time budget fine-tunes each step on a share of the training data, which a DataLoader "
                         "cannot give; pass a Dataset instead, or no time budget")
    if train_opts.validation_data is None:
        size = default_validation_size(len(data)) if opts.validation_split is None else opts.validation_split
        data, val = split_source(data, int(size) if size >= 1 else size, seed=opts.validation_seed)
        rule = DEFAULT_RULE if opts.validation_split is None else "PruningOptions.validation_split"
        log(train_opts, f"validation: {len(val):,} of the {len(data) + len(val):,} training examples ({rule})")
    else:
        val = as_source(train_opts.validation_data, device, workers=train_opts.num_workers)
    acceptance = None
    if opts.confidence > 0:
        val, acceptance = split_for_decisions(val, opts.acceptance_share, seed=train_opts.seed)
    train_opts = train_opts.replace(validation_data=val)
    s = start_session(net, data, resolve_loss(loss, train_opts.label_smoothing), train_opts, opts, resume_from,
                      on_iteration, on_fine_tune_epoch, acceptance)
    # A resumed run's clock also counts the time spent before its checkpoint (a budget is for the
    # whole run); time lost between the checkpoint and the stop is repeated within what is left.
    s.clock_start = clock_start - (resume_from.info.elapsed_s if resume_from is not None else 0.0)
    s.report_images, s.report_s = report_images, report_seconds
    return _run(s)


def _budget_precision(train_opts: TrainingOptions, opts: PruningOptions) -> TrainingOptions:
    """Under a time budget on a CPU with native bf16, "auto" precision fine-tunes in bf16 autocast.

    On two 2-core CPUs with AVX-512 BF16 cifarnet fine-tunes with distillation 1.5-1.6x (Intel
    Xeon) and 1.6-2.1x (AMD EPYC Zen 4) faster in bf16 than in fp32 (benchmarks/results/
    cpu_levers.json, cpu_levers-zen4-first.json, cpu_levers-zen4.json). A CPU without native
    bf16 emulates it, slower than fp32, so it stays in fp32, as does every run without a budget.
    Decisions are evaluated in fp32 either way.
    """
    device = resolve_device(train_opts.execution_environment)
    if opts.time_budget_s is None or train_opts.precision != "auto" or device.type != "cpu" or not native_bf16():
        return train_opts
    return train_opts.replace(precision="bf16")


def _run(s: Session) -> tuple[nn.Module, PruningInfo]:
    start = s.clock_start
    try:
        if not s.info.pruning_history and steps.baseline(s).meets_threshold:
            steps.notify(s, 0)
        elif s.info.pruning_history:  # resumed: a budget plans from a fresh timing of this machine
            steps.time_evaluation(s)
        if not s.info.pruning_history[0].meets_threshold:
            s.info.stop_reason = StopReason.UNMET
        else:
            s.info.stop_reason = _search(s)
            wanted = s.opts.final_fine_tuning_epochs or s.budget is not None
            if wanted and s.info.plans and s.info.stop_reason not in UNFINISHED:
                steps.final_fine_tuning(s)
    except KeyboardInterrupt:
        s.info.stop_reason = StopReason.USER
    _finish(s, start)
    return s.best, s.info


def _search(s: Session) -> StopReason:
    """Prune in steps of the increment; after a failed step, retry half as large from the best network."""
    history = s.info.pruning_history
    original = s.cost.size(history[0])
    goal = s.opts.learnables_reduction_goal * original
    increment = timing.first_increment(s, s.opts.learnables_reduction_increment * original, original)
    for k, r in enumerate(history[1:], 2):  # a resumed run continues with the step size it had reached
        increment = timing.next_increment(s, increment, original, history[:k]) if r.meets_threshold else increment / 2
    extension: steps.Step | None = None  # a failed step fine-tuned further instead of retreating
    for iteration in itertools.count(len(history)):
        removed = original - s.cost.size(s.last_accepted)
        stop = _stop_before(s, iteration, removed, goal)
        if stop is not None:
            return stop
        failed = sum(not r.meets_threshold for r in history[1:])
        final_failure = s.opts.confidence > 0 and failed + 1 >= s.opts.max_failed_steps  # a failure would stop it
        last_chance = final_failure or (extension is not None and _retreat_stops(s, increment, original))
        images = timing.step_images(s, last_chance=last_chance)
        if images == 0:
            rest = "the final fine-tuning and the report" if timing.final_images(s) else "the report"
            s.info.stop_detail = f"{timing.left_text(s)}: the rest goes to {rest}"
            return StopReason.TIME
        below = _retry_limit(s)
        target = _step_size(s, increment, original, images) if extension is None else increment
        step = extension or steps.resumed_step(s, iteration) or \
            steps.prune_step(s, iteration, min(target, goal - removed), below=below)
        extension = None
        if step is None and below < math.inf:
            s.info.stop_detail = (f"{s.missed(history[-1])}; no smaller step is possible (each group's next "
                                  f"{s.opts.kept_multiple()} channels remove at least as much)")
            return StopReason.THRESHOLD
        if step is None:
            return StopReason.NOTHING_LEFT
        if final_failure and images:
            s.log(f"  {failed} of {s.opts.max_failed_steps} failed steps spent, so this step is the search's last "
                  f"chance: it fine-tunes on {images:,} images, at least a last step's share")
        tuned, value, diverged = steps.fine_tune(s, iteration, step, images=images)
        if diverged:
            return StopReason.DIVERGED
        rec, trace = steps.record(s, iteration, tuned, value, images or s.train_opts.max_epochs * len(s.data))
        if rec.meets_threshold:
            steps.accept(s, iteration, tuned, trace, step.plan)
            increment = timing.next_increment(s, increment, original, history)  # few steps: sized by the margin
            continue
        why_not = s.missed(rec)
        failed += 1
        if s.opts.confidence > 0 and failed >= s.opts.max_failed_steps:
            s.info.stop_detail = (f"{why_not}; {failed} steps fell short, as many as a search may at "
                                  f"{100 * s.opts.confidence:g}% confidence (max_failed_steps)")
            return StopReason.THRESHOLD
        ends = _retreat_stops(s, increment, original)
        if not step.extended and (why := timing.worth_extending(s, history, ends)):
            extension = steps.Step(tuned, step.plan, extended=True)
            s.log(f"  fine-tuning the same network further before retreating: {why}")
            continue
        if ends:
            s.info.stop_detail = why_not
            return StopReason.THRESHOLD
        increment /= 2  # roll back to the best network and try a smaller step
        if timing.step_images(s) != 0:  # else no step fits and the next turn says so
            s.log(f"  retrying from the last network that met the threshold with a "
                  f"{100 * increment / original:.2f}% step")
    raise AssertionError("unreachable")


def _step_size(s: Session, increment: float, original: float, images: int | None) -> float:
    """The next step's size: ``increment``, or for a last step after an accepted one, the step that
    uses all of the margin (budget.LAST_STEP_SHARE): a last step that falls short returns the
    network before it, so it risks no size. A retry after a failure keeps its halved size."""
    history = s.info.pruning_history
    if len(history) < 2 or not history[-1].meets_threshold or not timing.last_step(s):
        return increment
    sized = timing.next_increment(s, increment, original, history, share=budget.LAST_STEP_SHARE)
    s.log(f"  the last step: it fine-tunes on {images:,} images, all the time left, and may use all of the "
          f"margin, since falling short returns the network before it: a {100 * sized / original:.2f}% step "
          f"(planned: {100 * increment / original:.2f}%)")
    return sized


def _retreat_stops(s: Session, increment: float, original: float) -> bool:
    """Whether a failed step of ``increment`` ends the search rather than retrying at half of it
    (under ``min_increment``, or no retries at all: MATLAB's rule)."""
    minimum = s.opts.min_increment
    return minimum is None or increment / 2 < minimum * original * (1 - 1e-9)


def _retry_limit(s: Session) -> float:
    """What the next step must remove less of: after a failed step, what that step removed (a
    retry is smaller than what it retries, though the selector's blocks be coarse); else, or for
    a measured cost (whose step is sized by timing candidates), no limit. Read from the history,
    so a resumed run sets the same limit."""
    last = s.info.pruning_history[-1]
    if last.meets_threshold or not s.cost.counted:
        return math.inf
    return s.cost.size(s.last_accepted) - s.cost.size(last)


def _stop_before(s: Session, iteration: int, removed: float, goal: float) -> StopReason | None:
    """Whether to stop before ``iteration`` starts: the goal is met, or it would overrun the budget."""
    if removed >= goal * (1 - 1e-9):
        return s.cost.goal_reason
    budget, epochs = s.opts.fine_tuning_budget_epochs, s.train_opts.max_epochs
    if budget is not None and iteration * epochs > budget:
        s.info.stop_detail = f"{(iteration - 1) * epochs} of {budget} epochs spent; an iteration takes {epochs}"
        return StopReason.BUDGET
    return None


def _finish(s: Session, start: float) -> None:
    """The result's size and pruned layers, the run's time and where it went, and why it stopped."""
    info = s.info
    info.learnables = count_learnables(s.best)
    info.pruned_layers = pruned_layers(s.original, s.best)
    info.elapsed_s = time.perf_counter() - start
    split = info.time_split
    split["other"] = max(info.elapsed_s - sum(v for k, v in split.items() if k != "other"), 0.0)
    if info.stop_reason == StopReason.UNMET:
        info.stop_detail = f"unpruned network: {s.missed(info.pruning_history[0])}"
    if info.stop_reason == StopReason.USER and not info.pruning_history:
        info.stop_detail = "before the unpruned network was evaluated"
    s.log(f"stopped: {info.stop_reason.value if info.stop_reason else ''} {info.stop_detail}".rstrip())
