"""The CUDA-graph training step: same training as eager, on pruned networks too. Needs a GPU."""

import random
import warnings

import pytest
import torch

from taylorprune import graph
from taylorprune.importance import ScorePoint, taylor_scores
from taylorprune.models import load_model
from taylorprune.train import TrainingOptions, train_network
from taylorprune.train.batches import iterate_batches
from tests.fixtures import colour_blobs, tiny_resnet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (graphs are CUDA-only)")


def _train(net, data, **changes):
    base = dict(max_epochs=3, mini_batch_size=32, verbose=False, precision="fp32", execution_environment="cuda",
                initial_learn_rate=0.05, learn_rate_schedule="cosine")
    opts = TrainingOptions(**{**base, **changes})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed capture must fail the test
        return train_network(net, data, "crossentropy", opts)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic = False


@pytest.mark.parametrize("solver", ["sgdm", "adam"])
def test_graphed_training_matches_eager(solver):
    data = colour_blobs(320, size=16)
    lr = 0.05 if solver == "sgdm" else 0.005
    eager, e_info = _train(tiny_resnet(), data, solver=solver, initial_learn_rate=lr, cuda_graphs=False)
    graphed, g_info = _train(tiny_resnet(), data, solver=solver, initial_learn_rate=lr, cuda_graphs=True)
    e_loss = torch.tensor([r.loss for r in e_info.training_history])
    g_loss = torch.tensor([r.loss for r in g_info.training_history])
    assert len(e_loss) == len(g_loss) == 30
    torch.testing.assert_close(g_loss, e_loss, rtol=1e-3, atol=1e-4)  # the schedule's lr reached the graph
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values(), strict=True):
        torch.testing.assert_close(b.float(), a.float(), rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize("model", ["cifarnet", "resnet20"])
def test_graphs_capture_physically_pruned_networks(model):
    net = load_model(model).eval()
    x = torch.zeros(1, 3, 32, 32)
    cg = graph.trace_channels(net, (x,))
    rng = random.Random(0)
    plan = {g.id: rng.sample(range(g.size), g.size // 2 + 1) for g in cg.prunable}
    pruned = graph.prune(net, (x,), plan)
    data = colour_blobs(512, classes=10, size=32)
    _, info = _train(pruned, data, precision="bf16", cuda_graphs=True)
    losses = [r.loss for r in info.training_history]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_taylor_scores_on_the_gpu_match_the_cpu():
    net = tiny_resnet().double()
    data = colour_blobs(64, size=16)
    x = data.images.double() / 255
    points = {0: [ScorePoint("bn1", list(range(net.bn1.num_features)))]}
    cpu = taylor_scores(net, [(x, data.labels)], points)[0]
    gpu = taylor_scores(net.cuda(), [(x.cuda(), data.labels.cuda())], points)[0]
    torch.testing.assert_close(gpu.score.double(), cpu.score, rtol=1e-5, atol=1e-9)  # float32 products


def test_batches_stay_on_the_device():
    data = colour_blobs(100, size=8)
    images, labels = data.images.cuda(), data.labels.cuda()
    batches = list(iterate_batches(images, labels, torch.randperm(100), 32, augment=True,
                                   generator=torch.Generator().manual_seed(0), drop_last=True))
    assert len(batches) == 3 and all(x.is_cuda and y.is_cuda for x, y in batches)
