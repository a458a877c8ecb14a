import itertools
import math

import pytest
import torch

from taylorprune import graph
from taylorprune.analysis import count_macs
from taylorprune.models import load_model
from taylorprune.prune import StopReason
from taylorprune.prune.costs import macs_per_channel
from taylorprune.prune.latency import LatencyMeter
from taylorprune.prune.select import Candidate, select_channels
from tests.prune.helpers import run_pruning

X = torch.zeros(1, 3, 32, 32)


def _macs(net, size: int = 8) -> float:
    return float(count_macs(graph.trace_channels(net, (torch.zeros(1, 3, size, size),)).gm).total)


def _clock(monkeypatch, size: int, loads=(1.0,)) -> None:
    """Latency that is the network's MACs on size x size images (one ns each) times a machine load
    that changes between measurements: deterministic, with savings known from macs_per_channel."""
    cycle = itertools.cycle(loads)
    monkeypatch.setattr(LatencyMeter, "times_ns",
                        lambda self, nets: [_macs(n, size) * load for load in [next(cycle)] for n in nets])


@pytest.fixture
def macs_clock(monkeypatch):
    _clock(monkeypatch, 8, loads=(1.0, 3.0, 0.5, 2.0))


def test_probes_find_what_each_channel_saves(monkeypatch):
    _clock(monkeypatch, 32)
    net = load_model("cifarnet").eval()
    cg = graph.trace_channels(net, (X,))
    groups = [g.id for g in cg.prunable]
    costs = LatencyMeter(X).per_channel(net, cg, groups, count_macs(cg.gm).total)
    expected = macs_per_channel(cg)
    assert set(costs) == set(groups)
    for gid in groups:
        assert costs[gid].shape == (cg.group(gid).size,) and bool((costs[gid] >= 0).all())
        # a quarter of the group removed at once saves about that many times one channel's share
        assert float(costs[gid].mean()) == pytest.approx(float(expected[gid].mean()), rel=0.05), gid


def test_measured_time_grows_with_the_batch():
    net = load_model("cifarnet").eval()
    # 128x the work and the fastest of 7 calls each: a load spike on a shared machine would have
    # to slow every one of the seven small calls past the fastest large one to break this.
    small, = LatencyMeter(X, batch=1, repeats=7).times_ns([net])
    large, = LatencyMeter(X, batch=128, repeats=7).times_ns([net])
    assert 0 < small < large and math.isfinite(large)


def test_cost_in_latency_counts_steps_and_goal_in_time(trained, macs_clock):
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.15,
                     learnables_reduction_goal=0.3, cost="latency")
    assert info.stop_reason == StopReason.LATENCY_GOAL
    times = [r.latency_ms for r in info.pruning_history]
    assert times[0] == pytest.approx(_macs(trained) / 1e6) and all(a > b for a, b in zip(times, times[1:], strict=False))
    for r in info.pruning_history:  # every later time is relative to the unpruned network's: load cancels
        assert r.latency_ms == pytest.approx(r.macs / info.original_macs * times[0])
    assert 1 - times[-1] / times[0] >= 0.3
    assert info.time_split["latency"] >= 0


def test_nothing_left_when_no_channel_saves_time(trained, monkeypatch):
    monkeypatch.setattr(LatencyMeter, "times_ns", lambda self, nets: [1e6 for _ in nets])
    pruned, info = run_pruning(trained, validation_threshold=0.0, cost="latency", latency_batch_size=16)
    assert info.stop_reason == StopReason.NOTHING_LEFT and len(info.pruning_history) == 1
    assert "no longer saves measurable time at 16 images per call" in info.stop_detail


def test_the_step_is_sized_by_measuring_it_not_by_the_estimates(monkeypatch):
    _clock(monkeypatch, 32)
    net = load_model("cifarnet").eval()
    cg = graph.trace_channels(net, (X,))
    costs = macs_per_channel(cg)
    scores = {gid: torch.rand(len(c), generator=torch.Generator().manual_seed(gid)) for gid, c in costs.items()}
    # estimates 4x too low: asking for the target alone would remove about 4x too much
    low = {gid: Candidate(scores[gid], c / 4) for gid, c in costs.items()}
    asked = []

    def choose(amount):
        asked.append(amount)
        return select_channels(low, amount)[0]

    target = 0.1 * count_macs(cg.gm).total
    pruned, plan = LatencyMeter(X).sized_step(net, cg, choose, target, count_macs(cg.gm).total)
    saved = count_macs(cg.gm).total - count_macs(graph.trace_channels(pruned, (X,)).gm).total
    assert 0.8 * target <= saved <= 1.25 * target and len(asked) >= 2 and asked[1] < asked[0]
    assert plan and set(plan) <= set(costs)
