import torch

from taylorprune.prune.select import Candidate, round_kept, select_channels


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


def test_rounding_keeps_a_multiple_of_channels_in_every_touched_group():
    g = torch.Generator().manual_seed(0)
    candidates = {i: Candidate(torch.rand(size, generator=g), torch.full((size,), 10)) for i, size in
                  enumerate((16, 32, 64, 6))}
    plan, removed = select_channels(candidates, target=700, multiple=8)
    assert plan, "something is removed"
    for gid, ix in plan.items():
        kept = len(candidates[gid].scores) - len(ix)
        size = len(candidates[gid].scores)
        assert kept % 8 == 0 or size < 8, (gid, kept)
        assert kept >= 1
        ratio = candidates[gid].scores
        assert set(ix) == set(ratio.argsort()[: len(ix)].tolist()), "the least important go first"
    assert removed == sum(10 * len(ix) for ix in plan.values())
    unrounded, _ = select_channels(candidates, target=700)
    assert abs(removed - 700) < 8 * 10 * len(candidates) and unrounded != plan


def test_rounding_up_when_down_would_empty_the_group():
    c = Candidate(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]), torch.ones(10))
    assert round_kept(c, list(range(7)), 8) == [0, 1]  # 3 kept -> 8 kept, not 0
    assert round_kept(c, [0], 4) == [0, 1]  # 9 kept -> 8
