"""A wall-clock budget for a whole pruning run: plan each step from measured costs.

A run with ``time_budget_s`` must end, start-up to report, within that many seconds on
whatever device it runs. The planner splits the time after start-up into three parts:

1. **The end**: what the caller evaluates after the run (the test set, at the measured seconds
   per evaluated image; its latency table, as the caller timed it) and the report files, plus
   a safety margin (``SAFETY_SHARE`` of the budget, at least ``SAFETY_MIN_S``) for what the
   clock cannot see (interpreter start-up, noise on a shared machine).
2. **The end of the search**: ``FINAL_SHARE`` of the rest, reserved when the run starts, for
   a last step or else the final fine-tuning of the result; whatever the steps leave unused
   is added to it.
3. **The pruning steps**: the rest, shared out over ``PLANNED_STEPS`` steps (fewer when
   their fixed costs would take more than half of each step's time). Each step pays fixed
   costs (scoring, evaluating the selection and acceptance splits, tracing, surgery,
   writing the run folder) and fine-tunes on as many training images as its share of the
   time buys at the measured seconds per image.

It is re-planned after every iteration from the times measured so far: a network that got
smaller trains faster, so later steps get more images; a machine that got busier gives
fewer. Planned steps end when another step's fixed costs and ``MIN_STEP_SHARE`` of a step's
fine-tuning no longer fit before the reserve. Then, when what the final fine-tuning could
have still buys a planned step's images, **a last step** takes all of it: near the floor, a
step judged after a longer fine-tuning than the others is the one most likely to pass, and a
smaller network is what the run is for, where the final fine-tuning only raises the accuracy
of a size already found. If the last step falls short, the run returns the network before it,
so a failure costs it no size, and it is sized to use all of the margin (``LAST_STEP_SHARE``).
A step that is the search's last chance (a smaller retry would stop it, or one more failed
step would) is fine-tuned on ``LAST_CHANCE_SHARE`` of the time left whenever it comes. The
final fine-tuning gets what a search that stopped for another reason left. Everything here
is arithmetic on numbers (no clocks, no tensors), so it is tested exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InputError

FINAL_SHARE = 0.2  # of the time after start-up and the end's reserve, kept for a last step or the final fine-tuning
PLANNED_STEPS = 12  # pruning steps the step time is shared over (more: finer steps, less recovery each)
# A step runs only if this share of a planned step's fine-tuning still fits; a shorter one's time goes to
# the last step. At a quarter, six searches on the Zen 4 EPYC (25c2f1b) fitted a third of a step just
# before the last three times: it failed twice, turning the last step into a halved retry, and once
# read as a steep drop that shrank the last step to the minimum.
MIN_STEP_SHARE = 0.5
LAST_CHANCE_SHARE = 0.5  # of the time left after its fixed costs, what a step whose failure ends the search gets
# Of the margin above the floor, what a last step may expect to use: all of it. Over nine searches
# on the Zen 4 EPYC (142def0-4cee45b) last steps sized like planned ones (half of it) removed
# 0.8-2.1% on 68,000-144,000 images, 2-4x a planned step's, and every one passed, 0.30-1.62 points
# above the floor (mean 0.77).
LAST_STEP_SHARE = 1.0
MAX_INCREMENT = 0.15  # the largest step next_increment proposes, a fraction of the original cost
SAFETY_SHARE = 0.03  # of the budget, kept free for what the clock does not see
SAFETY_MIN_S = 5.0
# Before the first fine-tuning is timed: a training image is assumed to cost this many evaluated
# images (forward + backward + update, and the teacher's forward when distilling). A prior, not a
# measurement, and a cautious one: on the quiet 2-core CPU cifarnet's is 1.9x in bf16 and 2.8-3.0x
# in fp32 (cpu_levers.json, cpu_levers-avx2.json), so the first step trains on fewer images than its
# time would buy rather than overrun. Replaced by the measurement after the first step.
TRAIN_OVER_EVAL = 5.0


@dataclass(frozen=True)
class Costs:
    """Seconds measured on the run's device, in its precision."""

    eval_image_s: float  # evaluating one image (selection, acceptance, test, latency)
    train_image_s: float | None = None  # fine-tuning on one image, distillation included (None: not yet measured)
    score_s: float = 0.0  # one scoring pass of the current network (all its mini-batches)
    step_overhead_s: float = 0.0  # per step besides training, scoring, evaluation: tracing, surgery, writes

    def training(self) -> float:
        """Seconds per training image: measured, else estimated from evaluation."""
        return self.train_image_s if self.train_image_s else TRAIN_OVER_EVAL * self.eval_image_s


@dataclass(frozen=True)
class Sizes:
    """Images per split: what the fixed costs of a step and of the end scale with."""

    train: int  # training images (one epoch)
    selection: int  # picks each fine-tuning's best epoch; evaluated once per step
    acceptance: int  # decides each step; evaluated once per step
    report: int = 0  # images the caller evaluates after the run (a test set)
    report_s: float = 0.0  # seconds the caller spends after the run besides evaluating (a latency table, timed)


@dataclass(frozen=True)
class Budget:
    """What is fixed when the run starts: the budget and the shares reserved from it."""

    total_s: float  # the whole run, start-up to report
    final_s: float  # reserved for a last step or the final fine-tuning (FINAL_SHARE of the window)
    step_s: float  # fine-tuning seconds of one planned step
    steps: int  # steps planned: PLANNED_STEPS, fewer where their fixed costs would take over half the time


@dataclass(frozen=True)
class Plan:
    """What the next stretch of the run may spend."""

    step_images: int  # fine-tuning images of the next pruning step; 0: no step fits, go to the final fine-tuning
    final_images: int  # fine-tuning images a final fine-tuning starting now could have (all the time left)
    left_s: float  # seconds until the budget ends
    last_chance_images: int = 0  # a last chance's: LAST_CHANCE_SHARE of the time left after its fixed costs
    last_step: bool = False  # the next step is the last: it takes all the time left after its fixed costs


def end_seconds(costs: Costs, sizes: Sizes, total_s: float) -> float:
    """What the report and the safety margin need after the last fine-tuning."""
    safety = max(SAFETY_SHARE * total_s, SAFETY_MIN_S)
    return sizes.report * costs.eval_image_s + sizes.report_s + costs.step_overhead_s + safety


def evaluation_seconds(costs: Costs, sizes: Sizes) -> float:
    """Evaluating a fine-tuned network on the selection and acceptance splits."""
    return (sizes.selection + sizes.acceptance) * costs.eval_image_s


def step_fixed_seconds(costs: Costs, sizes: Sizes) -> float:
    """A step's cost besides fine-tuning: scoring, the two evaluations, tracing and writes."""
    return costs.score_s + evaluation_seconds(costs, sizes) + costs.step_overhead_s


def start_budget(total_s: float, start_s: float, costs: Costs, sizes: Sizes) -> Budget:
    """The reserve and the nominal step, ``start_s`` seconds into the budget (start-up spent)."""
    window = max(total_s - start_s - end_seconds(costs, sizes, total_s), 0.0)
    final = FINAL_SHARE * window
    fixed = step_fixed_seconds(costs, sizes)
    steps = min(PLANNED_STEPS, max(math.floor((window - final) / (2 * fixed)), 1) if fixed > 0 else PLANNED_STEPS)
    return Budget(total_s, final, max(window - final - steps * fixed, 0.0) / steps, steps)


def plan(budget: Budget, elapsed_s: float, costs: Costs, sizes: Sizes, *, steps_done: int) -> Plan:
    """The next step's fine-tuning images, and the final fine-tuning's if it started now, ``elapsed_s`` in.

    ``steps_done``: pruning steps already fine-tuned (rejected ones included). A step gets
    the nominal step time, or an even share of what is left for steps when that is less; it
    runs only if MIN_STEP_SHARE of the nominal still fits. After that a last step gets all
    the time left after its fixed costs, if that buys at least the nominal step's images.
    """
    left = budget.total_s - elapsed_s
    free = left - end_seconds(costs, sizes, budget.total_s)  # for steps and the final fine-tuning
    per_image = costs.training()
    fixed = step_fixed_seconds(costs, sizes)
    final_fixed = evaluation_seconds(costs, sizes)
    remaining = max(budget.steps - steps_done, 1)
    even = (free - budget.final_s) / remaining - fixed
    step_s = min(budget.step_s, even)
    final = _images(free - final_fixed, per_image)
    last_chance = _images(LAST_CHANCE_SHARE * (free - fixed - final_fixed), per_image)
    if budget.step_s <= 0:
        return Plan(0, final, left)
    if step_s < MIN_STEP_SHARE * budget.step_s:
        last = _images(free - fixed, per_image)
        fits = last >= _images(budget.step_s, per_image)
        return Plan(last if fits else 0, final, left, last_chance, last_step=fits)
    return Plan(_images(step_s, per_image), final, left, last_chance)


def next_increment(step: float, margin: float, drop: float, *, minimum: float, maximum: float,
                   noise: float = 0.0, share: float = 0.5) -> float:
    """The step after an accepted one, when time limits how many steps a run can make.

    ``step`` removed a fraction of the original cost and lowered the decision figure by
    ``drop`` points, leaving ``margin`` points above the floor (both in the metric's units,
    signed so that positive is good). The next step is the one a straight-line extrapolation
    expects to use ``share`` of the margin: half for a planned step, since accuracy falls
    faster the smaller a network gets, so the line is optimistic, and a step that falls short
    costs its fine-tuning, a retreat and one of the failures a search may make. A last step
    (LAST_STEP_SHARE) risks none of that: when it falls short the run returns the network
    before it. The step at most doubles, and stays within [minimum, maximum].

    A drop within ``noise`` (one standard error of the figure; 0 where none is known) measures
    no slope. The step is then sized as if it had cost ``noise``, but not shrunk for it: it
    doubles only where the share of the margin covers twice the noise. In nine searches on the
    Zen 4 EPYC, past 37% fewer learnables, steps doubled to 3% or more on such a drop (0.1-1.5
    points above the floor) passed 6 times in 16; steps of 2.5% or less passed 30 times in 37.
    """
    if drop > noise:
        grown = min(2 * step, step * share * margin / drop)
    elif noise > 0:
        grown = step * min(max(share * margin / noise, 1.0), 2.0)
    else:
        grown = 2 * step
    return min(max(grown, minimum), maximum)


def _images(seconds: float, per_image: float) -> int:
    return max(math.floor(seconds / per_image), 0) if per_image > 0 else 0


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)", re.IGNORECASE)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds from ``900``, ``900s``, ``15m``, ``1h30m``, ``1.5h``, ``2m30s`` (a bare number is seconds)."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or _DURATION.sub("", value).strip():
            raise InputError(f"time budget {text!r} is not a duration; write e.g. 15m, 900s or 1h30m") from None
        units = [unit.lower() for _, unit in parts]
        if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
            raise InputError(f"time budget {text!r} repeats or reorders units; write hours, minutes, seconds "
                             "in that order, e.g. 1h30m") from None
        seconds = sum(float(number) * _SECONDS[unit.lower()] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"time budget {text!r} must be a positive duration, e.g. 15m")
    return seconds
