import torch

from taylorprune.prune.select import Candidate, blocks, select_channels


def test_lowest_importance_per_learnable_goes_first_across_groups():
    cands = {
        0: Candidate(torch.tensor([5.0, 0.1, 3.0]), torch.full((3,), 10)),  # per learnable: 0.5, 0.01, 0.3
        1: Candidate(torch.tensor([0.4, 9.0]), torch.full((2,), 100)),  # per learnable: 0.004, 0.09
    }
    plan, removed = select_channels(cands, target=105)
    assert plan == {0: [1], 1: [0]}
    assert removed == 110


def test_never_empties_a_group():
    cands = {0: Candidate(torch.zeros(3), torch.ones(3)), 1: Candidate(torch.ones(2), torch.ones(2))}
    plan, removed = select_channels(cands, target=100)
    assert plan == {0: [0, 1], 1: [0]}
    assert removed == 3


def test_zero_target_removes_nothing():
    assert select_channels({0: Candidate(torch.zeros(3), torch.ones(3))}, target=0) == ({}, 0)


def test_blocks_keep_a_multiple_of_channels_in_every_group_and_land_near_the_target():
    g = torch.Generator().manual_seed(0)
    candidates = {i: Candidate(torch.rand(size, generator=g), torch.full((size,), 10)) for i, size in
                  enumerate((16, 32, 64, 6, 20))}
    plan, removed = select_channels(candidates, target=700, multiple=8)
    for gid, ix in plan.items():
        size = len(candidates[gid].scores)
        kept = size - len(ix)
        assert kept % 8 == 0 and kept >= 8 if size >= 8 else kept >= 1, (gid, kept)
        assert set(ix) == set(candidates[gid].scores.argsort()[: len(ix)].tolist()), "the least important go first"
    assert removed == sum(10 * len(ix) for ix in plan.values())
    assert abs(removed - 700) <= 80 / 2, "within half a block of the target"
    assert len(plan[4]) % 8 == 4, "a width of 20 first comes down to 16"


def test_a_small_step_takes_one_block_not_one_per_group():
    candidates = {i: Candidate(torch.arange(64.0) + i, torch.full((64,), 10)) for i in range(3)}
    plan, removed = select_channels(candidates, target=10, multiple=8)
    assert plan == {0: list(range(8))} and removed == 80


def test_blocks_of_a_group_are_taken_in_order_and_never_below_the_multiple():
    c = Candidate(torch.arange(20.0) * 7 % 20, torch.ones(20))  # channel 0 least important, then 3, 6, 9, ...
    assert [b[1] for b in blocks(c, 8)] == [[0, 3, 6, 9], [12, 15, 18, 1, 4, 7, 10, 13]]
    plan, removed = select_channels({0: c}, target=1000, multiple=8)
    assert len(plan[0]) == 12 and removed == 12
    narrow = Candidate(torch.tensor([3.0, 1.0, 2.0]), torch.ones(3))
    assert [b[1] for b in blocks(narrow, 8)] == [[1], [2]], "narrower than the multiple: channel by channel"
    assert blocks(Candidate(torch.ones(16), torch.zeros(16)), 8) == [], "saves nothing: never chosen"


def _groups(*costs_per_channel: float) -> dict[int, Candidate]:
    """Width-16 groups (one block of 8 each), the first the least important per cost."""
    return {i: Candidate(torch.full((16,), float(i + 1)) * cost, torch.full((16,), cost))
            for i, cost in enumerate(costs_per_channel)}


def test_a_block_that_would_overshoot_is_passed_over_for_smaller_ones_that_land_on_the_target():
    plan, removed = select_channels(_groups(4, 4, 1), target=40, multiple=8)  # blocks of 32, 32, 8
    assert sorted(plan) == [0, 2] and removed == 40, "the second 32 would overshoot by 24: the 8 lands on 40"


def test_a_retry_removes_less_than_the_step_it_retries():
    plan, removed = select_channels(_groups(8, 1, 1, 1, 1), target=32, multiple=8)
    assert plan == {0: list(range(8))} and removed == 64, "without a limit the best block is nearest"
    plan, removed = select_channels(_groups(8, 1, 1, 1, 1), target=32, multiple=8, below=64)
    assert 0 not in plan and removed == 32
    plan, removed = select_channels(_groups(8, 2), target=4, multiple=8, below=64)
    assert plan == {1: list(range(8))} and removed == 16, "none fits the target: the nearest under the limit"
    assert select_channels(_groups(8, 2), target=4, multiple=8, below=16) == ({}, 0.0), "none is smaller"
