import pytest
import torch
import torch.nn.functional as F
from torch import nn

from taylorprune.importance import ScorePoint, taylor_scores


class TwoBranch(nn.Module):
    """conv -> BN -> ReLU -> pool -> linear, with BN channel 0 dead and channel 1 vital."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.bn.weight.copy_(torch.tensor([0.0, 3.0, 0.5, 0.5]))
            self.bn.bias.copy_(torch.tensor([0.0, 0.5, 0.1, 0.1]))
            self.fc.weight[:, 1] = torch.tensor([4.0, -4.0, 0.0])

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.bn(self.conv(x))), 1).flatten(1))


def _batches(n=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(size, 3, 8, 8, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def test_dead_channel_scores_zero_and_vital_channel_scores_highest():
    net = TwoBranch()
    scores = taylor_scores(net, _batches(), {0: [ScorePoint("bn", list(range(4)))]})[0]
    assert scores.score[0] == 0.0
    assert scores.score.argmax() == 1
    assert scores.examples == 48


def test_estimate_matches_finite_difference_of_zeroing():
    net = TwoBranch().double().eval()
    batches = [(x.double(), y) for x, y in _batches(1, size=64)]
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
    one = taylor_scores(net, _batches(), {0: [ScorePoint("bn", [1, 2])]})[0]
    both = taylor_scores(net, _batches(), {0: [ScorePoint("bn", [1, 2]), ScorePoint("bn", [1, 2])]})[0]
    assert torch.allclose(both.loss_change, 2 * one.loss_change)
    assert torch.equal(net.conv.weight.grad, torch.ones_like(net.conv.weight))
    assert net.training


def test_unknown_module_is_refused():
    with pytest.raises(KeyError, match="nope"):
        taylor_scores(TwoBranch(), _batches(1), {0: [ScorePoint("nope", [0])]})
