import itertools
import time

import pytest
import torch

from taylorprune.errors import InputError
from taylorprune.prune import StopReason, count_learnables
from taylorprune.train import evaluate, train_network
from tests.fixtures import tiny_resnet
from tests.prune.helpers import VAL, run_pruning, tiny_options


def test_history_is_consistent_and_the_result_meets_the_floor(trained):
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    pruned, info = run_pruning(trained, validation_threshold=60.0, learnables_reduction_increment=0.2,
                          learnables_reduction_goal=0.6)
    learnables = [r.learnables for r in info.pruning_history if r.meets_threshold]
    assert all(a > b for a, b in zip(learnables, learnables[1:], strict=False))
    assert info.original_learnables == count_learnables(trained) == learnables[0]
    assert count_learnables(pruned) == info.learnables
    accepted = [r for r in info.pruning_history if r.meets_threshold][-1]
    assert accepted.learnables == info.learnables
    assert info.learnables_reduction == pytest.approx(accepted.learnables_reduction)
    assert evaluate(pruned, VAL)["accuracy"] >= 60.0
    assert info.stop_reason in (StopReason.GOAL, StopReason.THRESHOLD)
    assert info.pruned_layers and len(info.plans) == len(learnables) - 1
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in before.items()), "input modified"
    assert {r.pruning_iteration for r in info.validation_history} == set(range(1, len(info.pruning_history)))


def test_goal_reached(trained):
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.05,
                     learnables_reduction_goal=0.1)
    assert info.stop_reason == StopReason.GOAL
    assert info.learnables_reduction >= 0.1 * (1 - 1e-6)


def test_nothing_left_to_prune(trained):
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.5)
    assert info.stop_reason == StopReason.NOTHING_LEFT
    assert info.learnables_reduction > 0.8


def test_threshold_reached_returns_the_last_network_that_met_it(trained):
    base = evaluate(trained, VAL)["loss"]
    # A learning rate too small to recover: removing half of a trained net raises the loss.
    pruned, info = run_pruning(trained, validation_threshold=base * 1.02, learnables_reduction_increment=0.5,
                          options=tiny_options(initial_learn_rate=1e-9, objective_metric_name="loss"),
                          min_increment=None)
    assert info.stop_reason == StopReason.THRESHOLD
    assert count_learnables(pruned) == count_learnables(trained)
    assert [r.meets_threshold for r in info.pruning_history] == [True, False]


def test_a_failed_step_is_retried_smaller_from_the_last_good_network(trained):
    base = evaluate(trained, VAL)["loss"]
    pruned, info = run_pruning(trained, validation_threshold=base * 1.02, learnables_reduction_increment=0.4,
                          options=tiny_options(initial_learn_rate=1e-9, objective_metric_name="loss"),
                          min_increment=0.05)
    assert info.stop_reason == StopReason.THRESHOLD
    attempts = info.pruning_history[1:]
    assert len(attempts) >= 4  # 40%, 20%, 10%, 5% steps at least
    first_failure = next(i for i, r in enumerate(attempts) if not r.meets_threshold)
    retry = attempts[first_failure + 1]
    assert retry.learnables > attempts[first_failure].learnables  # a smaller step from a larger network
    assert evaluate(pruned, VAL)["loss"] <= base * 1.02
    assert count_learnables(pruned) == info.learnables


def test_a_search_with_a_confidence_stops_at_its_allowed_failed_steps(trained):
    base = evaluate(trained, VAL)["loss"]
    _, info = run_pruning(trained, validation_threshold=base * 1.02, learnables_reduction_increment=0.4,
                          options=tiny_options(initial_learn_rate=1e-9, objective_metric_name="loss"),
                          min_increment=0.05, max_failed_steps=2)
    # min_increment alone would retry at 10% and 5% too (the test above): the second failure ends it.
    assert [r.meets_threshold for r in info.pruning_history] == [True, False, False]
    assert info.stop_reason == StopReason.THRESHOLD and "2 steps fell short" in info.stop_detail
    _, plain = run_pruning(trained, validation_threshold=base * 1.02, learnables_reduction_increment=0.4,
                           options=tiny_options(initial_learn_rate=1e-9, objective_metric_name="loss"),
                           min_increment=0.05, max_failed_steps=2, confidence=0.0)
    assert len(plain.pruning_history) > 3  # MATLAB's rule has no bound to share: min_increment decides


def test_unpruned_network_below_the_floor_is_reported_before_pruning():
    pruned, info = run_pruning(tiny_resnet(), validation_threshold=99.0)
    assert info.stop_reason == StopReason.UNMET
    assert len(info.pruning_history) == 1 and info.learnables_reduction == 0.0


def test_divergence_keeps_the_last_good_network(trained):
    pruned, info = run_pruning(trained, validation_threshold=0.0, options=tiny_options(initial_learn_rate=1e12))
    assert info.stop_reason == StopReason.DIVERGED
    assert count_learnables(pruned) == count_learnables(trained)
    assert all(torch.isfinite(p).all() for p in pruned.parameters())


def test_ctrl_c_returns_the_best_so_far(trained):
    def interrupt(iteration, net, info):
        if iteration == 2:
            raise KeyboardInterrupt

    pruned, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.1,
                          on_iteration=interrupt)
    assert info.stop_reason == StopReason.USER
    assert count_learnables(pruned) == info.pruning_history[2].learnables


@pytest.mark.parametrize("kw, match", [
    ({"validation_threshold": 120.0}, "0..100"),
    ({"validation_threshold": 50.0, "learnables_reduction_increment": 0.0}, "increment"),
    ({"validation_threshold": 50.0, "learnables_reduction_goal": 1.5}, "goal"),
    ({"validation_threshold": 50.0, "fine_tuning_budget_epochs": 0}, "budget"),
])
def test_bad_requests_are_refused(kw, match):
    with pytest.raises(InputError, match=match):
        run_pruning(tiny_resnet(), **kw)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_on_the_gpu_with_cuda_graphs(trained):
    """Surgery, scoring and graph-captured fine-tuning of each pruned shape, all on CUDA."""
    options = tiny_options(execution_environment="cuda", augment=True, max_epochs=2)
    pruned, info = run_pruning(trained, options=options, validation_threshold=0.0,
                          learnables_reduction_increment=0.1, learnables_reduction_goal=0.3)
    assert info.stop_reason == StopReason.GOAL and len(info.plans) == 3
    assert next(pruned.parameters()).is_cuda and count_learnables(pruned) == info.learnables
    assert {"scoring", "surgery", "fine_tuning", "validation"} <= set(info.time_split)


def test_time_split_accounts_for_the_whole_run(trained):
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.1,
                     learnables_reduction_goal=0.2, on_iteration=lambda *a: None)
    split = info.time_split
    assert {"validation", "scoring", "surgery", "fine_tuning", "fine_tuning_set_up", "callbacks", "other"} <= set(split)
    assert min(split.values()) >= 0
    assert sum(split.values()) == pytest.approx(info.elapsed_s, rel=1e-6)


def test_a_fine_tunings_set_up_is_its_own_phase(trained, monkeypatch):
    """What train_network does before its training loop (moving the network, folding the teacher,
    building the optimizer) is counted as set-up, not training or validation."""
    from taylorprune.prune import steps

    def slow_start(*args, **kwargs):
        time.sleep(0.25)
        return train_network(*args, **kwargs)

    monkeypatch.setattr(steps, "train_network", slow_start)
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.1,
                          learnables_reduction_goal=0.2)
    fine_tunings = len(info.pruning_history) - 1
    assert fine_tunings >= 2 and info.time_split["fine_tuning_set_up"] >= 0.25 * fine_tunings


def test_distillation_from_the_unpruned_network_is_on_by_default(trained):
    kw = dict(validation_threshold=0.0, learnables_reduction_increment=0.1, learnables_reduction_goal=0.1)
    pruned, info = run_pruning(trained, **kw)
    _, plain = run_pruning(trained, distillation_weight=0.0, **kw)
    assert info.stop_reason == StopReason.GOAL and count_learnables(pruned) < count_learnables(trained)
    assert info.plans == plain.plans  # same scores, same channels: only the fine-tuning loss differs
    assert [r.loss for r in info.training_history] != [r.loss for r in plain.training_history]
    with pytest.raises(InputError, match="distillation_weight"):
        run_pruning(trained, validation_threshold=0.0, distillation_weight=2.0)


def test_cost_in_macs_counts_steps_and_goal_in_macs(trained):
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.15,
                     learnables_reduction_goal=0.3, cost="macs")
    assert info.stop_reason == StopReason.MACS_GOAL
    macs = [r.macs for r in info.pruning_history]
    assert macs[0] == info.original_macs and all(a > b for a, b in zip(macs, macs[1:], strict=False))
    assert 1 - macs[-1] / macs[0] >= 0.3
    with pytest.raises(InputError, match="cost="):
        run_pruning(trained, validation_threshold=0.0, cost="flops")


@pytest.mark.parametrize("importance, normalization", [("bn-gate", "none"), ("taylor", "l2")])
def test_importance_variants_drive_the_loop(trained, importance, normalization):
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.1,
                     learnables_reduction_goal=0.1, importance=importance, normalization=normalization)
    assert info.stop_reason == StopReason.GOAL
    with pytest.raises(InputError, match="importance="):
        run_pruning(trained, validation_threshold=0.0, importance="random")


def test_final_fine_tuning_is_kept_only_if_validation_holds(trained):
    pruned, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.2,
                          learnables_reduction_goal=0.2, final_fine_tuning_epochs=2)
    final = info.final_fine_tuning
    assert final["epochs"] == 2 and final["validation_before"] == info.pruning_history[-1].validation_metric
    assert final["initial_learn_rate"] == pytest.approx(0.02)  # without a budget, the options' rate
    assert final["kept"] == (final["validation_after"] >= final["validation_before"])
    assert info.validation_metric == (final["validation_after"] if final["kept"] else final["validation_before"])
    assert evaluate(pruned, VAL)["accuracy"] == pytest.approx(info.validation_metric)
    tagged = {r.pruning_iteration for r in info.training_history}
    assert len(info.pruning_history) in tagged  # its training records follow the last iteration's


def test_a_fine_tuning_budget_stops_before_it_would_be_exceeded(trained):
    pruned, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.1,
                               fine_tuning_budget_epochs=5, options=tiny_options(max_epochs=2))
    assert info.stop_reason == StopReason.BUDGET and "4 of 5 epochs spent" in info.stop_detail
    assert len(info.pruning_history) == 3  # two iterations of 2 epochs; a third would make 6
    assert {r.pruning_iteration for r in info.training_history} == {1, 2}
    assert count_learnables(pruned) == info.pruning_history[-1].learnables


def test_an_unknown_loss_is_refused_before_any_work(monkeypatch):
    import taylorprune.prune.session as session

    monkeypatch.setattr(session, "start_session", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(InputError, match="unknown loss 'hinge'"):
        run_pruning(tiny_resnet(), loss="hinge", validation_threshold=0.0)


def test_a_callable_loss_drives_fine_tuning_and_scoring(trained, monkeypatch):
    import taylorprune.prune.steps as steps

    calls = {"loss": 0, "scorer": 0}
    scorer = steps.IMPORTANCE["taylor"]

    def loss(outputs, targets):
        calls["loss"] += 1
        return torch.nn.functional.cross_entropy(outputs, targets)

    def scoring(net, batches, points, loss_fn):
        calls["scorer"] += loss_fn is loss
        return scorer(net, batches, points, loss_fn)

    monkeypatch.setitem(steps.IMPORTANCE, "taylor", scoring)
    _, info = run_pruning(trained, loss=loss, validation_threshold=0.0, learnables_reduction_increment=0.1,
                          learnables_reduction_goal=0.1)
    assert info.stop_reason == StopReason.GOAL
    # The input check and the unpruned network's validation and acceptance evaluation, then per
    # iteration: fine-tuning's input check, 6 steps (192 images in batches of 32), its validation,
    # the acceptance evaluation (default confidence 0.95), 2 scoring batches.
    assert calls["scorer"] == len(info.plans) and calls["loss"] == 3 + len(info.plans) * (1 + 6 + 1 + 1 + 2)


def test_divergence_is_read_from_the_typed_reason(trained, monkeypatch):
    """The loop stops on TrainingStopReason.DIVERGED, whatever words the reason carries."""
    import taylorprune.prune.steps as steps
    from taylorprune.train import TrainingStopReason

    real = steps.train_network

    def diverging(*args, **kwargs):
        net, info = real(*args, **kwargs)
        info.stop_reason = TrainingStopReason.DIVERGED
        return net, info

    monkeypatch.setattr(steps, "train_network", diverging)
    pruned, info = run_pruning(trained, validation_threshold=0.0)
    assert info.stop_reason == StopReason.DIVERGED
    assert count_learnables(pruned) == count_learnables(trained) and len(info.pruning_history) == 1


@pytest.mark.parametrize("images", [40, 240])
def test_without_validation_data_the_default_split_fits_the_data(trained, images, capsys):
    from taylorprune.data import default_validation_size
    from taylorprune.prune import compress_network_using_taylor_pruning
    from tests.fixtures import colour_blobs
    from tests.prune.helpers import tiny_options

    data = colour_blobs(images, size=8, seed=3)
    _, info = compress_network_using_taylor_pruning(
        trained, data, options=tiny_options(validation_data=None, verbose=True), validation_threshold=0.0,
        learnables_reduction_goal=0.05, num_importance_score_iterations=1)
    assert info.stop_reason == StopReason.GOAL
    expected = default_validation_size(images)
    assert f"validation: {expected:,} of the {images:,} training examples (default: 10%" in capsys.readouterr().out


def test_every_retry_removes_less_than_the_step_it_retries_though_blocks_are_coarse(trained):
    base = evaluate(trained, VAL)["loss"]
    _, info = run_pruning(trained, validation_threshold=base * 1.02, learnables_reduction_increment=0.4,
                          options=tiny_options(initial_learn_rate=1e-9, objective_metric_name="loss"),
                          min_increment=0.01, channel_multiple=4, confidence=0.0)
    attempts = info.pruning_history[1:]
    retries = [(a.learnables, b.learnables) for a, b in itertools.pairwise(attempts) if not a.meets_threshold]
    assert len(retries) >= 2 and all(after > failed for failed, after in retries), retries
    # The last failed step was one block of 4 channels, the smallest any group offers (min_increment is lower).
    assert info.stop_reason == StopReason.THRESHOLD and "no smaller step is possible" in info.stop_detail


def test_the_carved_validation_split_is_the_same_whatever_the_training_seed(trained, monkeypatch):
    """A network trained with one seed and pruned with another never meets its own training images in
    validation (the bundled cifarnet scores 98% on those, 89% on the images it was trained without)."""
    from taylorprune.data import VALIDATION_SEED
    from taylorprune.prune import compress_network_using_taylor_pruning, loop
    from tests.fixtures import colour_blobs

    seeds, split = [], loop.split_source
    monkeypatch.setattr(loop, "split_source", lambda data, size, seed: seeds.append(seed) or split(data, size, seed))
    for seed in (0, 5):
        compress_network_using_taylor_pruning(
            trained, colour_blobs(240, size=8, seed=3), options=tiny_options(validation_data=None, seed=seed),
            validation_threshold=0.0, learnables_reduction_goal=0.05, num_importance_score_iterations=1)
    assert seeds == [VALIDATION_SEED, VALIDATION_SEED]
