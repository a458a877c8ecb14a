import pytest
import torch

from taylorprune import graph
from taylorprune.analysis import count_macs
from taylorprune.models import load_model
from taylorprune.prune.costs import macs_per_channel

X = torch.zeros(1, 3, 32, 32)


@pytest.mark.parametrize("model", ["cifarnet", "resnet20"])
def test_macs_per_channel_predicts_what_removing_a_channel_saves(model):
    net = load_model(model).eval()
    cg = graph.trace_channels(net, (X,))
    before = count_macs(cg.gm).total
    costs = macs_per_channel(cg)
    for g in cg.prunable[:: max(len(cg.prunable) // 6, 1)]:
        k = g.size // 2
        after = count_macs(graph.trace_channels(graph.prune(net, (X,), {g.id: [k]}), (X,)).gm).total
        assert float(costs[g.id][k]) == pytest.approx(before - after, rel=0.01), g.id  # residual adds uncounted
