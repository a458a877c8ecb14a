import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from taylorprune import graph
from taylorprune.errors import InputError
from taylorprune.importance import (
    IMPORTANCE,
    NORMALIZATIONS,
    ChannelScores,
    ScorePoint,
    bn_gate_scores,
    normalize_per_layer,
    taylor_scores,
)
from taylorprune.prune.candidates import score_points
from tests.fixtures import colour_blobs, tiny_resnet
from tests.importance.nets import TwoBranch, random_batches

ALL_BN = {0: [ScorePoint("bn", list(range(4)))]}


def _double(batches):
    return [(x.double(), y) for x, y in batches]


def _rest(net, conv_out):
    """TwoBranch's forward from the conv output on (eval mode)."""
    return net.fc(F.adaptive_avg_pool2d(F.relu(net.bn(conv_out)), 1).flatten(1))


@pytest.mark.parametrize("name", sorted(IMPORTANCE))
def test_dead_channel_scores_zero_and_vital_channel_highest(name):
    scores = IMPORTANCE[name](TwoBranch(), random_batches(), ALL_BN, None)[0]
    assert scores.score[0] == 0.0 and (scores.score[1:] > 0).all()
    assert scores.score.argmax() == 1
    assert scores.examples == 48


@pytest.mark.parametrize("name", sorted(IMPORTANCE))
@pytest.mark.parametrize("training", [True, False])
def test_grads_statistics_and_mode_are_left_alone(name, training):
    net = TwoBranch().train(training)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    stats = net.bn.running_mean.clone()
    IMPORTANCE[name](net, random_batches(), ALL_BN, None)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in net.parameters())
    assert torch.equal(net.bn.running_mean, stats)  # scored in eval mode
    assert net.training == training


@pytest.mark.parametrize("name", sorted(IMPORTANCE))
def test_unknown_module_and_no_batches_are_refused(name):
    with pytest.raises(KeyError, match="nope"):
        IMPORTANCE[name](TwoBranch(), random_batches(1), {0: [ScorePoint("nope", [0])]}, None)
    with pytest.raises(ValueError, match="no mini-batches"):
        IMPORTANCE[name](TwoBranch(), [], ALL_BN, None)


def test_bn_gate_on_one_batch_is_the_squared_gate_term():
    net = TwoBranch().double()
    batches = _double(random_batches(1, size=32))
    x, y = batches[0]
    got = bn_gate_scores(net, batches, ALL_BN)[0]
    (grad,) = torch.autograd.grad(F.cross_entropy(net.eval()(x), y), net.bn.weight)
    term = net.bn.weight.detach() * grad
    torch.testing.assert_close(got.score, term**2, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(got.loss_change, -term, rtol=1e-5, atol=1e-12)


def test_mini_batches_are_squared_then_averaged():
    net = TwoBranch().double().eval()
    batches = _double(random_batches(1, size=8, seed=1) + random_batches(1, size=24, seed=2))
    got = bn_gate_scores(net, batches, ALL_BN)[0]
    terms = [net.bn.weight.detach() * torch.autograd.grad(F.cross_entropy(net(x), y), net.bn.weight)[0]
             for x, y in batches]
    torch.testing.assert_close(got.score, (terms[0] ** 2 + terms[1] ** 2) / 2, rtol=1e-5, atol=1e-12)
    # loss_change is per example: the batches weigh by their size.
    torch.testing.assert_close(got.loss_change, -(8 * terms[0] + 24 * terms[1]) / 32, rtol=1e-5, atol=1e-12)
    assert got.examples == 32


def test_other_modules_fall_back_and_points_add_before_squaring():
    net = TwoBranch().double().eval()
    batches = _double(random_batches(1, size=32))
    x, y = batches[0]
    conv_out = net.conv(x)
    loss = F.cross_entropy(_rest(net, conv_out), y)
    d_out, d_gamma = torch.autograd.grad(loss, [conv_out, net.bn.weight])
    activation = (conv_out * d_out).sum((0, 2, 3)).detach()  # (C,) sum over batch and positions
    gate = net.bn.weight.detach() * d_gamma
    alone = bn_gate_scores(net, batches, {0: [ScorePoint("conv", list(range(4)))]})[0]
    mixed = bn_gate_scores(net, batches, {0: [ScorePoint("conv", list(range(4))), *ALL_BN[0]]})[0]
    torch.testing.assert_close(alone.score, activation**2, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(mixed.score, (activation + gate) ** 2, rtol=1e-5, atol=1e-12)


def test_a_gate_listed_twice_counts_once_and_a_frozen_gate_falls_back():
    net = TwoBranch()
    once = bn_gate_scores(net, random_batches(), ALL_BN)[0]
    twice = bn_gate_scores(net, random_batches(), {0: ALL_BN[0] * 2})[0]
    torch.testing.assert_close(twice.score, once.score)
    net.bn.weight.requires_grad_(False)
    frozen = bn_gate_scores(net, random_batches(), ALL_BN)[0]
    # At the BN output, y * dL/dy = gamma dL/dgamma + beta dL/dbeta: the gate term plus beta's.
    assert frozen.score[0] == 0.0 and not torch.allclose(frozen.score, once.score)


@pytest.mark.parametrize("name", sorted(IMPORTANCE))
def test_every_group_of_a_resnet_is_scored_and_a_dead_channel_is_last(name):
    net = tiny_resnet()
    with torch.no_grad():
        net.layer1[0].bn1.weight[0] = 0.0
        net.layer1[0].bn1.bias[0] = 0.0
    data = colour_blobs(64, size=8)
    x = data.images.float() / 255
    points = score_points(graph.trace_channels(net, (x[:2],)))
    scores = IMPORTANCE[name](net, [(x[:32], data.labels[:32]), (x[32:], data.labels[32:])], points, None)
    assert scores.keys() == points.keys()
    for gid, pts in points.items():
        assert scores[gid].score.shape == (len(pts[0].indices),)
        assert torch.isfinite(scores[gid].score).all() and (scores[gid].score >= 0).all()
    inner = next(gid for gid, pts in points.items() if pts[0].module == "layer1.0.bn1")
    assert scores[inner].score[0] == 0.0 and (scores[inner].score[1:] > 0).all()


def _score_shard(rank: int, init_file: str, out: str) -> None:
    """One of two gloo ranks: score the rank's half of every mini-batch."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        shards = [(x[rank * 8:(rank + 1) * 8], y[rank * 8:(rank + 1) * 8]) for x, y in random_batches()]
        torch.save({name: scorer(TwoBranch(), shards, ALL_BN, None)[0] for name, scorer in IMPORTANCE.items()},
                   f"{out}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_scoring_halves_of_each_batch_match_one_process(tmp_path):
    mp.spawn(_score_shard, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    for rank in range(2):
        ranked = torch.load(tmp_path / f"{rank}.pt", weights_only=False)
        for name, scorer in IMPORTANCE.items():
            one = scorer(TwoBranch(), random_batches(), ALL_BN, None)[0]
            torch.testing.assert_close(ranked[name].score, one.score, rtol=1e-5, atol=1e-12)
            torch.testing.assert_close(ranked[name].loss_change, one.loss_change, rtol=1e-5, atol=1e-12)
            assert ranked[name].examples == one.examples


def _scores(*rows):
    return {gid: ChannelScores(torch.tensor(row, dtype=torch.float64), -torch.tensor(row, dtype=torch.float64), 10)
            for gid, row in enumerate(rows)}


def test_l2_gives_unit_norm_per_group_and_keeps_zero_groups_zero():
    raw = _scores([3.0, 4.0], [0.0, 0.0, 0.0], [1e-30, 0.0])
    out = normalize_per_layer(raw, "l2")
    assert torch.linalg.vector_norm(out[0].score) == pytest.approx(1.0)
    assert torch.linalg.vector_norm(out[2].score) == pytest.approx(1.0)
    assert torch.equal(out[1].score, torch.zeros(3, dtype=torch.float64))
    assert all(torch.equal(out[g].loss_change, raw[g].loss_change) for g in raw)  # loss units kept
    assert torch.equal(raw[0].score, torch.tensor([3.0, 4.0], dtype=torch.float64))  # input untouched


def test_max_and_none():
    raw = _scores([1.0, 2.0, 4.0], [0.0, 0.0])
    assert torch.equal(normalize_per_layer(raw, "max")[0].score, torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64))
    assert torch.equal(normalize_per_layer(raw, "max")[1].score, torch.zeros(2, dtype=torch.float64))
    assert all(torch.equal(normalize_per_layer(raw, "none")[g].score, raw[g].score) for g in raw)
    assert set(NORMALIZATIONS) == {"none", "l2", "max"}
    with pytest.raises(InputError, match="l2"):
        normalize_per_layer(raw, "L2")


def test_the_registry_names_both_scorers():
    assert IMPORTANCE == {"taylor": taylor_scores, "bn-gate": bn_gate_scores}


@pytest.mark.parametrize("name", sorted(IMPORTANCE))
def test_an_in_place_relu_after_the_bn_changes_nothing(name):
    class InPlace(TwoBranch):
        def forward(self, x):
            return self.fc(F.adaptive_avg_pool2d(F.relu_(self.bn(self.conv(x))), 1).flatten(1))

    plain = IMPORTANCE[name](TwoBranch(), random_batches(), ALL_BN, None)[0]
    in_place = IMPORTANCE[name](InPlace(), random_batches(), ALL_BN, None)[0]
    torch.testing.assert_close(in_place.score, plain.score)
