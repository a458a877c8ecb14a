import pytest
import torch

from taylorprune.train import evaluate
from taylorprune.train.device import inference_batch
from taylorprune.train.evaluate import check_network_input
from taylorprune.train.sources import InMemory
from tests.fixtures import colour_blobs
from tests.train.test_loop import tiny_net


def test_a_cpu_evaluates_in_training_sized_batches_and_a_gpu_in_large_ones():
    assert inference_batch(torch.device("cpu")) == 128
    assert inference_batch(torch.device("cuda")) == 1000


def test_evaluate_takes_the_devices_batch_unless_told_and_the_figures_do_not_depend_on_it(monkeypatch):
    data, net = colour_blobs(300), tiny_net()
    sizes = []
    batches = InMemory.batches

    def spy(self, order, batch_size, **kwargs):
        sizes.append(batch_size)
        return batches(self, order, batch_size, **kwargs)

    monkeypatch.setattr(InMemory, "batches", spy)
    default = evaluate(net, data, device=torch.device("cpu"))
    large = evaluate(net, data, mini_batch_size=1000, device=torch.device("cpu"))
    assert sizes == [128, 1000]
    assert default["accuracy"] == large["accuracy"]
    assert default["loss"] == pytest.approx(large["loss"], rel=1e-5)


def test_a_source_on_another_device_is_checked_on_the_networks():
    """The loop puts in-memory data on the GPU before it moves the network there ("meta" stands in
    for the other device on a machine without one)."""
    net = tiny_net().to("meta")
    out = check_network_input(net, InMemory(colour_blobs(8), torch.device("cpu")))
    assert out.device.type == "meta"
