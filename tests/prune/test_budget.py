import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorprune.errors import InputError
from taylorprune.prune import budget
from taylorprune.prune.budget import Costs, Sizes, parse_duration, plan, start_budget

# Roughly the 2-core CPU with cifarnet: 1 ms per training image, 0.2 ms per evaluated one.
CPU = Costs(eval_image_s=2e-4, train_image_s=1e-3, score_s=3.0, step_overhead_s=1.0)
CIFAR = Sizes(train=45000, selection=1000, acceptance=4000, report=13354)  # test set and latency table


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("900s", 900), ("900", 900), ("1h30m", 5400),
                                           ("1.5h", 5400), ("2m30s", 150), (" 1H 5M ", 3900), ("0.5", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15x", "m", "15m10", "-5m", "0s", "30s1m", "1m1m", "nan", "inf"])
def test_bad_durations_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="time budget"):
        parse_duration(text)


def test_start_reserves_the_end_the_final_fine_tuning_and_equal_steps() -> None:
    b = start_budget(900, 10, CPU, CIFAR)
    end = budget.end_seconds(CPU, CIFAR, 900)
    window = 900 - 10 - end
    assert b.final_s == pytest.approx(budget.FINAL_SHARE * window)
    fixed = budget.step_fixed_seconds(CPU, CIFAR)
    assert b.steps == budget.PLANNED_STEPS
    assert b.step_s * budget.PLANNED_STEPS + fixed * budget.PLANNED_STEPS + b.final_s == pytest.approx(window)


def test_fewer_steps_are_planned_where_their_fixed_costs_would_dominate() -> None:
    slow_eval = Costs(eval_image_s=8e-3, train_image_s=2e-2, score_s=3.0, step_overhead_s=1.0)  # 44 s fixed per step
    b = start_budget(900, 10, slow_eval, CIFAR)
    fixed = budget.step_fixed_seconds(slow_eval, CIFAR)
    assert 1 <= b.steps < budget.PLANNED_STEPS and b.step_s >= fixed
    assert simulate(900, 10, slow_eval, CIFAR)[1] == b.steps + 1  # the planned steps and a last one


def test_first_step_gets_the_nominal_step_and_a_faster_network_more_images() -> None:
    b = start_budget(900, 10, CPU, CIFAR)
    first = plan(b, 10, CPU, CIFAR, steps_done=0)
    assert first.step_images == int(b.step_s / CPU.train_image_s)
    faster = Costs(CPU.eval_image_s, CPU.train_image_s / 2, CPU.score_s, CPU.step_overhead_s)
    assert plan(b, 10, faster, CIFAR, steps_done=0).step_images == pytest.approx(2 * first.step_images, abs=1)


def test_a_last_chance_early_in_the_run_gets_half_of_all_the_time_left_after_its_fixed_costs() -> None:
    b = start_budget(900, 10, CPU, CIFAR)
    p = plan(b, 100, CPU, CIFAR, steps_done=2)
    free = 900 - 100 - budget.end_seconds(CPU, CIFAR, 900)
    fixed, final_fixed = budget.step_fixed_seconds(CPU, CIFAR), budget.evaluation_seconds(CPU, CIFAR)
    assert p.last_chance_images == int(budget.LAST_CHANCE_SHARE * (free - fixed - final_fixed) / CPU.train_image_s)
    assert p.last_chance_images > 4 * p.step_images  # far more than a planned step, with most of the run ahead


def test_before_any_fine_tuning_a_training_image_is_estimated_from_evaluation() -> None:
    unmeasured = Costs(eval_image_s=2e-4)
    b = start_budget(900, 10, unmeasured, CIFAR)
    assert plan(b, 10, unmeasured, CIFAR, steps_done=0).step_images == int(
        b.step_s / (budget.TRAIN_OVER_EVAL * 2e-4))


def test_after_the_planned_steps_a_last_step_takes_all_of_the_final_fine_tunings_time() -> None:
    b = start_budget(900, 10, CPU, CIFAR)
    end = budget.end_seconds(CPU, CIFAR, 900)
    fixed = budget.step_fixed_seconds(CPU, CIFAR)
    late = 900 - end - b.final_s - fixed - 0.1 * b.step_s  # too late for a planned step
    p = plan(b, late, CPU, CIFAR, steps_done=4)
    final_fixed = (CIFAR.selection + CIFAR.acceptance) * CPU.eval_image_s
    assert p.final_images == int((900 - late - end - final_fixed) / CPU.train_image_s)
    assert p.step_images == int((900 - late - end - fixed) / CPU.train_image_s)
    assert p.step_images > 2 * b.step_s / CPU.train_image_s and p.last_step, "over twice a planned step"
    assert not plan(b, 10, CPU, CIFAR, steps_done=0).last_step
    # A last chance at the same moment gets less: its search may go on after it.
    assert p.last_chance_images == int(budget.LAST_CHANCE_SHARE * (900 - late - end - fixed - final_fixed)
                                       / CPU.train_image_s)


def test_a_step_with_less_than_half_of_a_planned_steps_time_gives_it_to_the_last_step() -> None:
    b = start_budget(900, 10, CPU, CIFAR)
    end = budget.end_seconds(CPU, CIFAR, 900)
    fixed = budget.step_fixed_seconds(CPU, CIFAR)
    late = 900 - end - b.final_s - fixed - 0.4 * b.step_s  # 0.4 of a planned step still fits
    p = plan(b, late, CPU, CIFAR, steps_done=budget.PLANNED_STEPS)
    assert p.last_step and p.step_images == int((900 - late - end - fixed) / CPU.train_image_s)
    assert not plan(b, late - 0.2 * b.step_s, CPU, CIFAR, steps_done=budget.PLANNED_STEPS).last_step, "0.6 fits"


def test_when_the_time_left_buys_less_than_a_planned_step_all_of_it_goes_to_the_final_fine_tuning() -> None:
    b = start_budget(900, 10, CPU, CIFAR)
    end = budget.end_seconds(CPU, CIFAR, 900)
    fixed = budget.step_fixed_seconds(CPU, CIFAR)
    final_fixed = (CIFAR.selection + CIFAR.acceptance) * CPU.eval_image_s
    late = 900 - end - fixed - 0.95 * b.step_s  # a last step would get 0.95 of a planned step
    p = plan(b, late, CPU, CIFAR, steps_done=13)
    assert p.step_images == 0
    assert p.final_images == int((900 - late - end - final_fixed) / CPU.train_image_s) > 0


def simulate(total: float, start: float, costs: Costs, sizes: Sizes, slowdown: float = 1.0) -> tuple[float, int, int]:
    """A run whose every cost is what the planner was told (times ``slowdown`` for training):
    the seconds it takes, the steps it makes and the final fine-tuning's images."""
    b = start_budget(total, start, costs, sizes)
    clock, steps = start, 0
    while (p := plan(b, clock, costs, sizes, steps_done=steps)).step_images:
        clock += budget.step_fixed_seconds(costs, sizes) + slowdown * p.step_images * costs.training()
        steps += 1
        assert steps < 1000
    if p.final_images:  # a final fine-tuning with no images is skipped, its evaluation with it
        clock += slowdown * p.final_images * costs.training() + (sizes.selection + sizes.acceptance) * costs.eval_image_s
    clock += sizes.report * costs.eval_image_s + costs.step_overhead_s
    return clock, steps, p.final_images


def test_a_15_minute_cpu_run_makes_the_planned_steps_and_ends_in_time() -> None:
    seconds, steps, final = simulate(900, 10, CPU, CIFAR)
    b = start_budget(900, 10, CPU, CIFAR)
    assert b.steps == budget.PLANNED_STEPS and steps == b.steps + 1, "the planned steps and a last one"
    assert 900 - budget.SAFETY_SHARE * 900 - 1 <= seconds <= 900
    assert final * CPU.train_image_s < 1, "the last step took the final fine-tuning's time"


@settings(max_examples=200, deadline=None)
@given(total=st.floats(30, 20000), start=st.floats(0, 20), eval_s=st.floats(1e-6, 1e-3),
       train_over_eval=st.floats(1, 10), score=st.floats(0, 20), overhead=st.floats(0, 5),
       train=st.integers(100, 100000), held=st.integers(2, 10000))
def test_any_run_whose_costs_hold_ends_within_its_budget(total, start, eval_s, train_over_eval, score, overhead,
                                                         train, held) -> None:
    costs = Costs(eval_s, eval_s * train_over_eval, score, overhead)
    sizes = Sizes(train, held // 5, held - held // 5, 13354)
    seconds, _, _ = simulate(total, start, costs, sizes)
    # What the end alone needs may exceed a tiny budget; beyond that the plan never overruns.
    must = start + budget.end_seconds(costs, sizes, total) + (sizes.selection + sizes.acceptance) * eval_s
    assert seconds <= max(total, must) + 1e-6


def test_training_a_little_slower_than_measured_still_ends_in_time() -> None:
    # Load that makes every fine-tuning 5% slower than its measurement is absorbed by the safety margin.
    seconds, _, _ = simulate(900, 10, CPU, CIFAR, slowdown=1.05)
    assert seconds <= 900


def test_steps_grow_while_the_margin_is_wide_and_shrink_near_the_floor() -> None:
    grow = dict(minimum=0.005, maximum=0.15)
    assert budget.next_increment(0.05, margin=3.0, drop=-0.2, **grow) == 0.1  # no slope yet: double
    assert budget.next_increment(0.05, margin=3.0, drop=0.5, **grow) == 0.1  # 0.05 * 0.5 * 3 / 0.5 = 0.15, capped at 2x
    assert budget.next_increment(0.10, margin=1.0, drop=1.0, **grow) == pytest.approx(0.05)  # half the margin
    assert budget.next_increment(0.10, margin=0.01, drop=2.0, **grow) == 0.005  # at the floor: the minimum
    assert budget.next_increment(0.10, margin=9.0, drop=0.1, **grow) == 0.15  # never beyond the maximum


def test_a_drop_within_the_figures_noise_grows_the_step_only_as_far_as_the_margin_covers_the_noise() -> None:
    grow = dict(minimum=0.005, maximum=0.15, noise=0.5)
    assert budget.next_increment(0.02, margin=0.3, drop=-0.05, **grow) == 0.02  # near the floor: held
    assert budget.next_increment(0.02, margin=0.3, drop=0.4, **grow) == 0.02  # nor shrunk for a drop in the noise
    assert budget.next_increment(0.02, margin=1.5, drop=0.1, **grow) == pytest.approx(0.03)  # 0.5 * 1.5 / 0.5
    assert budget.next_increment(0.02, margin=3.0, drop=-0.5, **grow) == 0.04  # far from it: doubled
    assert budget.next_increment(0.02, margin=1.0, drop=1.0, **grow) == pytest.approx(0.01)  # a measured slope rules


def test_a_last_step_expects_to_use_all_of_the_margin() -> None:
    grow = dict(minimum=0.005, maximum=0.15, share=budget.LAST_STEP_SHARE)
    assert budget.next_increment(0.02, margin=1.0, drop=1.0, **grow) == pytest.approx(0.02)  # the slope: 1 per 2%
    # Within the noise (0.5): sized as if the step cost 0.5. 0.77 above the floor, a last step's
    # mean on the Zen 4 EPYC: 1.54x the step, where half the margin would hold it.
    assert budget.next_increment(0.02, margin=0.77, drop=0.1, noise=0.5, **grow) == pytest.approx(0.0308)
    assert budget.next_increment(0.02, margin=0.77, drop=0.1, noise=0.5, minimum=0.005, maximum=0.15) == 0.02
    assert budget.next_increment(0.02, margin=3.0, drop=0.1, noise=0.5, **grow) == 0.04  # still at most doubled
