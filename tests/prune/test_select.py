import torch

from taylorprune.prune.select import Candidate, select_channels


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
