"""The budget's bookkeeping against a run: what a fine-tuning may spend and what it teaches the plan."""

from types import SimpleNamespace

import pytest

from taylorprune.prune import budget, timing
from taylorprune.prune.budget import Costs
from taylorprune.prune.history import PruningRecord


def _session(**costs) -> SimpleNamespace:
    """The parts of a Session the bookkeeping reads: a 900 s budget started at clock 100."""
    return SimpleNamespace(budget=budget.Budget(900.0, 200.0, 50.0, 10), clock_start=100.0,
                           costs=Costs(**{"eval_image_s": 1e-3, **costs}), data=range(45_000), val=range(1_000),
                           acceptance=range(4_000), report_images=10_000, report_s=20.0)


def test_fine_tuning_stops_in_time_for_its_own_evaluation_and_the_report():
    s = _session()
    report = 10_000 * 1e-3 + 20.0 + 0.03 * 900  # the test set, the latency table as timed, the safety margin
    own = 5_000 * 1e-3  # the selection and acceptance splits it is judged on afterwards
    assert timing.deadline(s) == pytest.approx(100.0 + 900.0 - report - own)


def test_the_training_rate_moves_half_way_towards_each_new_measurement():
    s = _session()
    timing.measured(s, training_seconds=20.0, images=10_000)  # the first stands alone
    assert s.costs.train_image_s == pytest.approx(2e-3)
    timing.measured(s, training_seconds=60.0, images=10_000)  # a fine-tuning slowed 3x by a burst of load
    assert s.costs.train_image_s == pytest.approx(4e-3)
    timing.measured(s, training_seconds=20.0, images=10_000)
    assert s.costs.train_image_s == pytest.approx(3e-3)


def test_without_a_budget_nothing_is_measured_or_planned():
    s = _session()
    s.budget = None
    timing.measured(s, training_seconds=20.0, images=10_000)
    assert s.costs.train_image_s is None and timing.deadline(s) is None


def _images(*images: int) -> list[PruningRecord]:
    return [PruningRecord(i, 100 - i, 0.0, 90.0, True, fine_tuning_images=n) for i, n in enumerate(images)]


def test_a_fine_tuning_is_long_beside_the_median_step_not_beside_the_first():
    assert not timing._trained_long(_images(0, 8_755, 29_891))  # the first step is sized from a prior
    assert not timing._trained_long(_images(0, 8_755, 29_891, 43_489))  # smaller networks: more images
    assert timing._trained_long(_images(0, 8_755, 29_891, 38_000, 41_000, 131_979))
