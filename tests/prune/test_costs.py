import pytest
import torch

from taylorprune import graph
from taylorprune.importance import ChannelScores
from taylorprune.models import load_model
from taylorprune.prune import COSTS, Cost, CostContext, PruningRecord, StopReason
from taylorprune.prune.candidates import candidates_from_graph
from taylorprune.prune.costs import Learnables, macs_per_channel

X = torch.zeros(1, 3, 32, 32)
RECORD = PruningRecord(1, learnables=1000, learnables_reduction=0.5, validation_metric=80.0, meets_threshold=True,
                       macs=50_000, latency_ms=2.5)


@pytest.fixture(scope="module")
def cg():
    return graph.trace_channels(load_model("resnet20").eval(), (X,))


def test_each_cost_reads_its_size_and_goal_from_the_record():
    sizes = {name: cls(CostContext(X, None)).size(RECORD) for name, cls in COSTS.items()}
    assert sizes == {"learnables": 1000, "macs": 50_000, "latency": 2.5e6}  # latency in ns per call
    assert [c.goal_reason for c in COSTS.values()] == [StopReason.GOAL, StopReason.MACS_GOAL, StopReason.LATENCY_GOAL]


def test_counted_costs_per_channel(cg):
    groups = [g.id for g in cg.prunable]
    learnables = COSTS["learnables"](CostContext(X, None)).per_channel(None, cg, groups, RECORD)
    assert all(torch.equal(learnables[g.id], torch.tensor(g.params_per_channel, dtype=torch.float64))
               for g in cg.prunable)
    macs = COSTS["macs"](CostContext(X, None)).per_channel(None, cg, groups[:3], RECORD)
    assert set(macs) == set(groups[:3]) and all(torch.equal(macs[g], macs_per_channel(cg)[g]) for g in macs)


def test_candidates_need_the_costs_spelled_out(cg):
    """No silent fallback to learnables: the caller's cost always says what a channel saves."""
    g = cg.prunable[0]
    scores = {g.id: ChannelScores(torch.ones(g.size), torch.zeros(g.size), 1)}
    with pytest.raises(TypeError):
        candidates_from_graph(cg, scores)  # type: ignore[call-arg]
    costs = {g.id: torch.full((g.size,), 7.0, dtype=torch.float64)}
    assert torch.equal(candidates_from_graph(cg, scores, costs)[g.id].costs, costs[g.id])


class Bytes(Cost):
    """A fourth cost in a few lines: fp16 weight bytes (2 per learnable)."""

    name = "bytes"

    def size(self, record):
        return 2 * record.learnables

    def per_channel(self, net, cg, groups, current):
        return {gid: 2 * torch.tensor(cg.group(gid).params_per_channel, dtype=torch.float64) for gid in groups}


def test_a_new_cost_is_one_class_in_the_table(trained, monkeypatch):
    from taylorprune.cli import build_parser
    from tests.prune.helpers import run_pruning

    monkeypatch.setitem(COSTS, "bytes", Bytes)
    prune = build_parser()._subparsers._group_actions[0].choices["prune"]
    assert "bytes" in next(a for a in prune._actions if a.dest == "cost").choices
    _, info = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.15,
                          learnables_reduction_goal=0.3, cost="bytes")
    _, same = run_pruning(trained, validation_threshold=0.0, learnables_reduction_increment=0.15,
                          learnables_reduction_goal=0.3, cost="learnables")
    assert info.stop_reason == StopReason.GOAL and info.learnables_reduction >= 0.3 * (1 - 1e-6)
    assert info.plans == same.plans  # twice every learnable ranks and steps exactly as learnables do
    assert isinstance(Learnables(CostContext(X, None)), Cost)
