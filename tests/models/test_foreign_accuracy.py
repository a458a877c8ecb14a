"""Real foreign networks score what their providers measured (needs ../shared)."""

import pytest

from taylorprune.data import load_data
from taylorprune.models import load_model
from taylorprune.train import test_net
from tests.fixtures import shared_file


@pytest.mark.parametrize("name, expected", [("resnet20", 81.03)])
def test_akamaster_checkpoint_scores_its_jpeg_accuracy(name, expected):
    weights = shared_file(f"models/akamaster-{name}.th")
    _, test = load_data(shared_file("data/cifar10-jpeg.tar.gz"))
    net = load_model(name, weights=weights)
    assert test_net(net, test, execution_environment="cpu") == pytest.approx(expected, abs=0.2)
