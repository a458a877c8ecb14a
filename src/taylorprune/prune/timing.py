"""A run's time budget as the loop meets it: measured costs in, planned images and deadlines out.

prune/budget.py does the arithmetic on plain numbers; this module reads the Session's clock,
its time split and its fine-tunings to feed it, and tells the steps how many images to train
on, when any training must stop, and how much time is left (for the progress lines). Without
a budget every function here is a no-op (None, or an empty string).
"""

from __future__ import annotations

import dataclasses
import time

from . import budget
from .acceptance import standard_error
from .budget import Costs, Sizes
from .history import PruningRecord
from .session import Session

LONG_FINE_TUNING = 2.0  # times a typical step's images: a fine-tuning whose figure says little about a step's cost


def elapsed(s: Session) -> float:
    return time.perf_counter() - s.clock_start


def start(s: Session, eval_image_s: float) -> None:
    """Fix the budget's reserves from the seconds one evaluated image took, ``elapsed`` into the run.

    A resumed run keeps the shares its checkpoint fixed and its last measured training rate;
    evaluation is timed afresh (the machine may differ).
    """
    saved = dict(s.info.budget_plan or {})
    s.costs = Costs(eval_image_s=eval_image_s, train_image_s=saved.pop("train_image_s", None))
    if s.opts.time_budget_s is not None:
        s.budget = budget.Budget(**saved) if saved else \
            budget.start_budget(s.opts.time_budget_s, elapsed(s), s.costs, sizes(s))


def checkpoint(s: Session) -> None:
    """Put the time spent so far, and the budget's plan, into the history a checkpoint saves."""
    s.info.elapsed_s = elapsed(s)
    if s.budget is not None:
        s.info.budget_plan = {**dataclasses.asdict(s.budget), "train_image_s": s.costs.train_image_s}


def sizes(s: Session) -> Sizes:
    accept = len(s.acceptance) if s.acceptance is not None else 0
    return Sizes(len(s.data), len(s.val), accept, report=s.report_images, report_s=s.report_s)


def plan(s: Session) -> budget.Plan:
    """The plan from here, with the per-step costs averaged over the steps so far."""
    assert s.budget is not None
    split = s.info.time_split
    done = len(s.info.pruning_history) - 1
    per_step = max(done, 1)
    s.costs = dataclasses.replace(s.costs, score_s=split.get("scoring", 0.0) / per_step,
                                  step_overhead_s=(split.get("surgery", 0.0) + split.get("callbacks", 0.0)) / per_step)
    return budget.plan(s.budget, elapsed(s), s.costs, sizes(s), steps_done=done)


def step_images(s: Session, last_chance: bool = False) -> int | None:
    """Training images of the next fine-tuning (0: no step fits, or not even a mini-batch); None: no budget.

    A planned step's (or after the planned steps, a last step's: all the time left), or when its
    failure would end the search (its ``last_chance``) LAST_CHANCE_SHARE of the time left, if that
    is more: otherwise the search ends and all of that time goes to the final fine-tuning of a
    larger network. On a 2-core AVX2 CPU, in a run whose planned steps trained on 6,200-8,300
    images, a last chance on a planned step's images fell 0.22 points short (its bound against
    the floor) and the search stopped at 31.6% fewer learnables with over 6 of its 15 minutes
    left for the final fine-tuning.
    """
    if s.budget is None:
        return None
    now = plan(s)
    return _at_least_a_batch(s, max(now.step_images, now.last_chance_images) if last_chance and now.step_images
                          else now.step_images)


def final_images(s: Session) -> int | None:
    """Training images of a final fine-tuning starting now (all the time left); 0: not even a
    mini-batch fits; None: no budget."""
    return None if s.budget is None else _at_least_a_batch(s, plan(s).final_images)


def _at_least_a_batch(s: Session, images: int) -> int:
    """``images``, or 0 where they do not fill one mini-batch (nor the whole training set)."""
    return images if images >= min(s.train_opts.mini_batch_size, len(s.data)) else 0


def measured(s: Session, training_seconds: float, images: int) -> None:
    """Learn the seconds per training image from a fine-tuning the budget sized.

    The estimate is the mean of this measurement and the estimate before it (the first stands
    alone): one fine-tuning slowed by a burst of load on a shared machine moves the next plan
    half as far, while a network that got smaller still pulls the estimate towards its speed.
    """
    if s.budget is not None and training_seconds > 0 and images > 0:
        now, before = training_seconds / images, s.costs.train_image_s
        s.costs = dataclasses.replace(s.costs, train_image_s=now if before is None else (now + before) / 2)


def deadline(s: Session) -> float | None:
    """When any fine-tuning must stop for its own evaluation (the selection and acceptance splits)
    and the report to fit (a perf_counter() value); None: no budget."""
    if s.budget is None:
        return None
    now = sizes(s)
    after = budget.end_seconds(s.costs, now, s.budget.total_s) + budget.evaluation_seconds(s.costs, now)
    return s.clock_start + s.budget.total_s - after


def left_text(s: Session, prefix: str = "") -> str:
    """E.g. ", 7m12s of 15m left" for the progress lines; empty without a budget."""
    if s.budget is None:
        return ""
    left = max(s.budget.total_s - elapsed(s), 0.0)
    minutes, rest = divmod(round(s.budget.total_s), 60)
    total = f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    return f"{prefix}{int(left // 60)}m{int(left % 60):02d}s of {total} left"


def first_increment(s: Session, increment: float, original: float) -> float:
    """The first step: under a budget, sized from the unpruned network's margin as the step after
    one of ``increment`` whose drop sat within the figure's noise (budget.next_increment); else
    ``increment``, as for a metric without a known standard error.

    A budget gives a search about a dozen steps, each with a planned step's fine-tuning, and the
    first is the cheapest place to gain one: the unpruned network is furthest above the floor.
    On the Zen 4 EPYC, in twelve searches, a first step of 5.9% (the 5% increment in blocks of
    8 channels) cost 0.07-1.03 points of validation accuracy on 7,000-14,000 images, its lower
    bound stayed 2.0-3.2 points above the floor, and the next step doubled every time.
    """
    base = s.info.pruning_history[0]
    noise = standard_error(s.metric, base.validation_metric, _decided_on(s))
    if s.budget is None or noise == 0:
        return increment
    return _sized(s, increment / original, base, 0.0, noise) * original


def last_step(s: Session) -> bool:
    """Whether the next step is the search's last (it takes all the time left); False without a budget."""
    return s.budget is not None and plan(s).last_step


def next_increment(s: Session, increment: float, original: float, history: list[PruningRecord],
                   share: float = 0.5) -> float:
    """The step after an accepted one (the last of ``history``): under a budget sized by the
    margin left (budget.next_increment, from the last two accepted steps, expecting to use
    ``share`` of it), else unchanged.

    The drop is what the step cost after one planned fine-tuning: for a network accepted on its
    second fine-tuning, its first look's figure. A last chance trains several times as long as
    a step, so its figure can sit above the network before it; measured from there the drop
    would read as none and double the step. On the AVX2 EPYC it did: a 14.5% step after a last
    chance, which fell 2 points short and ended the search. A new step accepted on its first
    look after such a long fine-tuning (``_trained_long``) has no planned look to measure from,
    so the step after it is at most as large: on the Zen 4 EPYC a last chance of 131,979 images
    (a 1.7% step, planned steps had 28,000-43,500) read as no drop, the next step doubled to
    4.2%, fell short and ended the search at 58.9%. A drop is read against the noise of the
    figure it rests on (one standard error on the images that decided it).
    """
    if s.budget is None:
        return increment
    before, last = [r for r in history if r.meets_threshold][-2:]
    look = history[-2]  # the first look at ``last``'s network when ``last`` is its second
    first_look = look if not look.meets_threshold and look.learnables == last.learnables else last
    sign = 1.0 if s.higher_is_better else -1.0
    drop = sign * (_cautious(before) - _cautious(first_look))
    step = (s.cost.size(before) - s.cost.size(last)) / original
    cap = step if first_look is last and _trained_long(history) else None
    noise = standard_error(s.metric, last.validation_metric, _decided_on(s))
    return _sized(s, step, last, drop, noise, cap, share) * original


def _sized(s: Session, step: float, last: PruningRecord, drop: float, noise: float,
           cap: float | None = None, share: float = 0.5) -> float:
    """budget.next_increment after ``last`` (a fraction of the original cost), within the options'
    bounds and at most ``cap`` (or the minimum, where that is larger)."""
    sign = 1.0 if s.higher_is_better else -1.0
    margin = sign * (_cautious(last) - s.opts.validation_threshold)
    minimum = s.opts.min_increment or s.opts.learnables_reduction_increment
    largest = max(budget.MAX_INCREMENT, s.opts.learnables_reduction_increment)
    if cap is not None:
        largest = min(largest, max(cap, minimum))
    return budget.next_increment(step, margin, drop, minimum=minimum, maximum=largest, noise=noise, share=share)


def _decided_on(s: Session) -> int:
    """How many images decide a step: the acceptance split's, else the whole validation set's."""
    return len(s.acceptance) if s.acceptance is not None else len(s.val)


def _trained_long(history: list[PruningRecord]) -> bool:
    """Whether the last record's fine-tuning ran on over LONG_FINE_TUNING times the median images
    of the steps before it (the first step aside: it is sized from a prior, not a measurement)."""
    earlier = sorted(r.fine_tuning_images for r in history[2:-1])
    return bool(earlier) and history[-1].fine_tuning_images > LONG_FINE_TUNING * earlier[len(earlier) // 2]


def worth_extending(s: Session, history: list[PruningRecord], last: bool) -> str:
    """Why a step that just fell short (the last of ``history``) should be fine-tuned once more
    rather than rolled back; empty if it should not. Only under a budget, and only when it fell
    short of the floor by less than half of what it lost against the last accepted network, so
    recovering a part of the loss is enough, or when it is the search's ``last`` chance (a
    retreat would stop it) and time is left for a step. A retreat throws the step's pruning and
    training away and the smaller retry starts again from scratch. On cifarnet a second
    fine-tuning of the same size won back 0.2-0.9 points; steps that fell short by nearly all
    they lost were not rescued by it.
    """
    if s.budget is None or not step_images(s):
        return ""  # no budget, or no time left for another fine-tuning
    accepted, failed = [r for r in history if r.meets_threshold][-1], history[-1]
    sign = 1.0 if s.higher_is_better else -1.0
    short = sign * (s.opts.validation_threshold - _cautious(failed))
    lost = sign * (_cautious(accepted) - _cautious(failed))
    if 0 < short < lost / 2:
        return "it fell short by less than half of what it lost"
    return "a smaller step would stop the search, and time is left" if last else ""


def _cautious(r: PruningRecord) -> float:
    """What a record's decision rested on: its lower confidence bound when it has one."""
    return r.validation_low if r.validation_low is not None else r.validation_metric
