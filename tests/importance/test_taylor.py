import pytest
import torch
import torch.nn.functional as F

from taylorprune.importance import ScorePoint, taylor_scores
from tests.importance.nets import TwoBranch, random_batches


def test_dead_channel_scores_zero_and_vital_channel_scores_highest():
    net = TwoBranch()
    scores = taylor_scores(net, random_batches(), {0: [ScorePoint("bn", list(range(4)))]})[0]
    assert scores.score[0] == 0.0
    assert scores.score.argmax() == 1
    assert scores.examples == 48


def test_estimate_matches_finite_difference_of_zeroing():
    net = TwoBranch().double().eval()
    batches = [(x.double(), y) for x, y in random_batches(1, size=64)]
    est = taylor_scores(net, batches, {0: [ScorePoint("bn", list(range(4)))]})[0].loss_change
    x, y = batches[0]
    base = F.cross_entropy(net(x), y).item()
    for c in range(4):
        # Zeroing a channel is a large step; shrink it by eps and scale back up (a true derivative).
        eps = 1e-4
        with torch.no_grad():
            w, b = net.bn.weight[c].item(), net.bn.bias[c].item()
            net.bn.weight[c] *= 1 - eps
            net.bn.bias[c] *= 1 - eps
            changed = F.cross_entropy(net(x), y).item()
            net.bn.weight[c], net.bn.bias[c] = w, b
        assert est[c].item() == pytest.approx((changed - base) / eps, rel=1e-3, abs=1e-9)


def test_coupled_points_add_up_and_grads_are_left_alone():
    net = TwoBranch()
    net.conv.weight.grad = torch.ones_like(net.conv.weight)
    one = taylor_scores(net, random_batches(), {0: [ScorePoint("bn", [1, 2])]})[0]
    both = taylor_scores(net, random_batches(), {0: [ScorePoint("bn", [1, 2]), ScorePoint("bn", [1, 2])]})[0]
    assert torch.allclose(both.loss_change, 2 * one.loss_change)
    assert torch.equal(net.conv.weight.grad, torch.ones_like(net.conv.weight))
    assert net.training


def test_unknown_module_is_refused():
    with pytest.raises(KeyError, match="nope"):
        taylor_scores(TwoBranch(), random_batches(1), {0: [ScorePoint("nope", [0])]})
