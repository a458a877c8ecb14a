"""Accepting a pruning step on evidence that stays honest.

MATLAB accepts a step when the validation accuracy of the fine-tuned network is at least the
floor, on the same validation data that picked the fine-tuning's best epoch. Over many steps
the returned network is then the one whose validation figure was luckiest, and new data gives
less. Here two things change:

- **A split used only for acceptance.** The held-out data is split in two, stratified and
  seeded: a *selection* part that picks each fine-tuning's best epoch, and an *acceptance*
  part that only ever decides whether a step is kept. No training or epoch choice sees it.
- **A lower confidence bound.** Accuracy on n acceptance images is a binomial proportion; a
  step is kept only when the one-sided lower bound of that proportion, at ``confidence``
  (0.95 by default), clears the floor. ``confidence=0`` is MATLAB's plain rule (the measured
  figure against the floor, on the validation data as a whole).

The bound is Wilson's score bound: closed form (the normal quantile comes from the standard
library), its coverage stays within a fraction of a percent of the nominal level for the
sizes used here (n of a few hundred to tens of thousands, accuracy 0.5-0.99), and at n = 4,000
it differs from the exact (Clopper-Pearson) bound by about 0.02 points (both checked in the
tests). Clopper-Pearson would need the inverse incomplete beta function, which neither torch
nor the standard library has.

Only accuracy is a proportion of examples; for other objective metrics (the loss, a
lower-is-better figure) there is no binomial bound, so the plain rule applies on the
acceptance split and ``Evidence.bounded`` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from ..errors import InputError
from ..train.sources import DataSource, UserLoader, split_source

PROPORTIONS = ("accuracy",)  # objective metrics that are a share of correctly handled examples


def wilson_bounds(correct: int, total: int, confidence: float) -> tuple[float, float]:
    """One-sided Wilson score bounds of a proportion, as fractions in [0, 1].

    ``low`` is the lower bound at ``confidence`` (the true proportion is at least ``low``
    with that confidence); ``high`` the upper bound at the same level, so [low, high] is a
    two-sided interval at 2 * confidence - 1. ``confidence`` 0 (or 0.5) gives the plain
    proportion for both.
    """
    if total < 1 or not 0 <= correct <= total:
        raise InputError(f"a proportion needs 0 <= correct <= total and total >= 1, got {correct} of {total}")
    if not 0 <= confidence < 1:
        raise InputError(f"confidence {confidence:g} must be in [0, 1); 0.95 is the usual, 0 the plain figure")
    p = correct / total
    if confidence <= 0.5:
        return p, p
    z = NormalDist().inv_cdf(confidence)
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(centre - half, 0.0), min(centre + half, 1.0)


@dataclass(frozen=True)
class Evidence:
    """What the acceptance data says about one network."""

    metric: str  # the objective metric, e.g. "accuracy" (percent)
    value: float  # measured on the acceptance data (percent for accuracy)
    count: int  # acceptance images
    confidence: float  # of the bounds; 0: none (MATLAB's plain rule)
    low: float  # lower bound at ``confidence`` (percent); == value without a bound
    high: float  # upper bound at ``confidence`` (percent); == value without a bound

    @property
    def bounded(self) -> bool:
        """Whether the decision used a confidence bound (accuracy with confidence > 0)."""
        return self.confidence > 0 and self.metric in PROPORTIONS

    def to_dict(self) -> dict[str, float | int | str | bool]:
        return {"metric": self.metric, "value": self.value, "count": self.count, "confidence": self.confidence,
                "low": self.low, "high": self.high, "bounded": self.bounded}


def evidence(metric: str, value: float, count: int, confidence: float) -> Evidence:
    """The Evidence of a figure measured on ``count`` acceptance images."""
    if metric not in PROPORTIONS or confidence == 0:
        return Evidence(metric, value, count, confidence, value, value)
    correct = round(value / 100 * count)  # accuracy is reported in percent of ``count`` images
    low, high = wilson_bounds(correct, count, confidence)
    return Evidence(metric, value, count, confidence, 100 * low, 100 * high)


def standard_error(metric: str, value: float, count: int) -> float:
    """One standard error of a figure measured on ``count`` examples, in its units (binomial, for
    proportions in percent); 0 for other metrics, whose noise the figure alone does not give."""
    if metric not in PROPORTIONS or count < 1:
        return 0.0
    p = min(max(value / 100, 0.0), 1.0)
    return 100 * math.sqrt(p * (1 - p) / count)


def meets_floor(proof: Evidence, threshold: float, higher_is_better: bool = True) -> bool:
    """Accept when the cautious end of the evidence clears the threshold.

    Higher-is-better metrics use the lower bound; lower-is-better ones (the loss) have no
    bound (see the module docstring), so their plain figure is compared with the ceiling.
    """
    return proof.low >= threshold if higher_is_better else proof.value <= threshold


def split_for_decisions(validation: DataSource, acceptance_share: float, seed: int) -> tuple[DataSource, DataSource]:
    """(selection, acceptance): the held-out data split, fixed by ``seed`` (stratified for ImageData).

    Selection picks each fine-tuning's best epoch; acceptance only decides steps. The caller
    carves the held-out data from the training data first, so the data ends up in three
    parts: training, selection, acceptance. ``acceptance_share`` in (0, 1); each part must
    keep at least one example. A DataLoader decides its own batches and cannot be split.
    """
    if not 0 < acceptance_share < 1:
        raise InputError(f"acceptance share {acceptance_share:g} must be in (0, 1): a share of the validation data")
    if isinstance(validation, UserLoader):
        raise InputError("validation data given as a DataLoader cannot be split into selection and acceptance "
                         "parts; give a Dataset instead, or confidence 0 to decide on it directly")
    if len(validation) < 2:
        raise InputError(f"the validation data has {len(validation)} example(s); a separate acceptance split needs "
                         "at least 2 (give more validation data, or confidence 0 to decide on it directly)")
    count = min(max(round(acceptance_share * len(validation)), 1), len(validation) - 1)
    return split_source(validation, count, seed=seed)
