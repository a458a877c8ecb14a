"""A small pruned network saved as an artifact, shared by the export and benchmark tests."""

import random

import pytest
import torch

from taylorprune import graph
from taylorprune.artifacts import save_network
from taylorprune.models import load_model


@pytest.fixture(scope="session")
def pruned(tmp_path_factory):
    """resnet20 at quarter width with a random plan (BN statistics made non-trivial), saved."""
    torch.manual_seed(0)
    net = load_model("resnet20", width=0.25).eval()
    x = torch.rand(2, 3, 32, 32)
    rng = random.Random(0)
    plan = {g.id: rng.sample(range(g.size), g.size // 2) for g in graph.trace_channels(net, (x,)).prunable}
    net = graph.prune(net, (x,), plan)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("export") / "pruned.safetensors"
    save_network(net, path, "resnet20", kwargs={"width": 0.25}, plans=[plan])
    return net, path
