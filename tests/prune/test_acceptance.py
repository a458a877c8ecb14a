import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from taylorprune.data import ImageData
from taylorprune.errors import InputError
from taylorprune.prune import PruningOptions
from taylorprune.prune.acceptance import (
    evidence,
    meets_floor,
    split_for_decisions,
    standard_error,
    wilson_bounds,
)
from taylorprune.train.sources import InMemory, as_source

CPU = torch.device("cpu")


def clopper_pearson_low(correct: int, total: int, confidence: float) -> float:
    """The exact one-sided lower bound: the p at which P(X >= correct | p) = 1 - confidence (bisection)."""
    def upper_tail(p: float) -> float:
        logs = [math.lgamma(total + 1) - math.lgamma(k + 1) - math.lgamma(total - k + 1)
                + k * math.log(p) + (total - k) * math.log1p(-p) for k in range(correct, total + 1)]
        top = max(logs)
        return math.exp(top) * sum(math.exp(v - top) for v in logs)

    low, high = 1e-12, correct / total
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if upper_tail(mid) < 1 - confidence else (low, mid)
    return (low + high) / 2


def test_wilson_lower_bound_is_close_to_the_exact_bound_at_acceptance_sizes() -> None:
    # 86% of 4,000 images: the bound sits about 0.9 points below, within 0.05 points of exact.
    low, high = wilson_bounds(3440, 4000, 0.95)
    exact = clopper_pearson_low(3440, 4000, 0.95)
    assert abs(low - exact) < 5e-4
    assert 0.8505 < low < 0.8515 and 0.8685 < high < 0.8695


def test_wilson_bound_covers_the_true_accuracy_about_as_often_as_stated() -> None:
    # 4,000 simulated acceptance sets of 500 images per true accuracy; the one-sided 95% bound
    # must lie below the truth in about 95% of them (binomial noise of the check: +-0.7%).
    g = torch.Generator().manual_seed(0)
    for p in (0.6, 0.86, 0.95):
        hits = torch.binomial(torch.full((4000,), 500.0), torch.full((4000,), p), generator=g)
        covered = sum(wilson_bounds(int(k), 500, 0.95)[0] <= p for k in hits.tolist()) / 4000
        assert 0.925 <= covered <= 0.975, (p, covered)


def test_bounds_tighten_with_more_images_and_widen_with_confidence() -> None:
    assert wilson_bounds(86, 100, 0.95)[0] < wilson_bounds(860, 1000, 0.95)[0] < 0.86
    assert wilson_bounds(860, 1000, 0.99)[0] < wilson_bounds(860, 1000, 0.95)[0]
    assert wilson_bounds(1000, 1000, 0.95)[1] == pytest.approx(1.0) and wilson_bounds(0, 1000, 0.95)[0] == 0.0


def test_confidence_zero_is_matlabs_plain_rule() -> None:
    for value in (84.99, 85.0, 85.01):
        proof = evidence("accuracy", value, 5000, 0.0)
        assert (proof.low, proof.high, proof.bounded) == (value, value, False)
        assert meets_floor(proof, 85.0) == (value >= 85.0)


def test_a_step_at_the_floor_is_rejected_with_a_bound_and_accepted_without() -> None:
    bounded = evidence("accuracy", 85.5, 4000, 0.95)
    assert bounded.bounded and bounded.low < 85.0 < bounded.value < bounded.high
    assert not meets_floor(bounded, 85.0)
    assert meets_floor(evidence("accuracy", 85.5, 4000, 0.0), 85.0)
    assert meets_floor(evidence("accuracy", 86.5, 4000, 0.95), 85.0)


def test_loss_has_no_binomial_bound_and_is_compared_with_its_ceiling() -> None:
    proof = evidence("loss", 0.42, 4000, 0.95)
    assert not proof.bounded and proof.low == proof.high == 0.42
    assert meets_floor(proof, 0.5, higher_is_better=False)
    assert not meets_floor(proof, 0.4, higher_is_better=False)


def test_bad_proportions_and_confidences_are_input_errors() -> None:
    for args in ((5, 4, 0.95), (1, 0, 0.95), (1, 4, 1.0), (1, 4, -0.1)):
        with pytest.raises(InputError):
            wilson_bounds(*args)


def held_out(n: int, classes: int = 10) -> InMemory:
    """n images whose id is written in base 256 into their first two pixels."""
    labels = torch.arange(n) % classes
    ids = torch.arange(n)
    images = torch.zeros(n, 3, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = (ids % 256).to(torch.uint8), (ids // 256).to(torch.uint8)
    return InMemory(ImageData(images, labels, tuple(map(str, range(classes)))), CPU)


def _ids(part: InMemory) -> torch.Tensor:
    pixels = part.data.images[:, 0, 0].long()
    return pixels[:, 0] + 256 * pixels[:, 1]


def test_decision_split_is_disjoint_stratified_and_seeded() -> None:
    data = held_out(5000)
    selection, acceptance = split_for_decisions(data, 0.8, seed=0)
    assert (len(selection), len(acceptance)) == (1000, 4000)
    assert acceptance.data.labels.bincount().tolist() == [400] * 10
    both = torch.cat([_ids(selection), _ids(acceptance)])
    assert torch.equal(both.sort().values, torch.arange(5000))  # every image exactly once
    again = split_for_decisions(data, 0.8, seed=0)[1]
    other = split_for_decisions(data, 0.8, seed=1)[1]
    assert torch.equal(_ids(again), _ids(acceptance)) and not torch.equal(_ids(other), _ids(acceptance))


def test_decision_split_of_a_dataset_is_disjoint_and_a_dataloader_is_refused() -> None:
    dataset = TensorDataset(torch.rand(50, 3, 2, 2), torch.arange(50) % 10)
    selection, acceptance = split_for_decisions(as_source(dataset, CPU), 0.8, seed=0)
    assert (len(selection), len(acceptance)) == (10, 40)
    assert set(selection.dataset.indices).isdisjoint(acceptance.dataset.indices)
    with pytest.raises(InputError, match="DataLoader cannot be split into selection and acceptance"):
        split_for_decisions(as_source(DataLoader(dataset, batch_size=10), CPU), 0.8, seed=0)


def test_decision_split_works_down_to_two_images() -> None:
    selection, acceptance = split_for_decisions(held_out(2, classes=2), 0.8, seed=0)
    assert (len(selection), len(acceptance)) == (1, 1)
    selection, acceptance = split_for_decisions(held_out(7, classes=2), 0.99, seed=0)
    assert (len(selection), len(acceptance)) == (1, 6)
    with pytest.raises(InputError, match="at least 2"):
        split_for_decisions(held_out(1, classes=1), 0.8, seed=0)
    with pytest.raises(InputError, match="share"):
        split_for_decisions(held_out(10), 1.0, seed=0)


def test_a_search_that_looks_again_after_each_failure_still_holds_at_its_confidence() -> None:
    """The worst case for a search: a network exactly at the floor, looked at again after every
    failed step (as fine-tuned further or retried smaller, each look a fresh draw), up to the
    max_failed_steps + 1 looks allowed. With each look at decision_confidence() the chance that
    any look keeps it stays under 1 - confidence; at the search's own level it would not."""
    options = PruningOptions(85.0)
    looks, n, sets = options.max_failed_steps + 1, 500, 4000
    g = torch.Generator().manual_seed(0)
    correct = torch.binomial(torch.full((sets, looks), float(n)), torch.full((sets, looks), 0.85), generator=g)

    def kept_at(level: float) -> float:
        lows = torch.tensor([[wilson_bounds(int(c), n, level)[0] for c in row] for row in correct.tolist()])
        return (lows >= 0.85).any(dim=1).float().mean().item()

    assert kept_at(options.decision_confidence()) <= 0.06  # Bonferroni: at most 5%, plus sampling noise
    assert kept_at(options.confidence) > 0.12


def test_the_standard_error_of_an_accuracy_is_binomial_and_other_metrics_have_none() -> None:
    assert standard_error("accuracy", 87.0, 4000) == pytest.approx(100 * math.sqrt(0.87 * 0.13 / 4000))
    assert standard_error("accuracy", 87.0, 1000) > standard_error("accuracy", 87.0, 4000)
    assert standard_error("loss", 0.4, 4000) == 0.0
