"""The bundled cifarnet weights score what their model card says."""

import pytest

from taylorprune.data import load_data
from taylorprune.models import load_model
from taylorprune.train import test_net
from tests.fixtures import shared_file

CARD_TEST_ACCURACY = 88.50  # src/taylorprune/models/pretrained/cifarnet.md


def test_bundled_cifarnet_scores_its_model_card_figure():
    _, test = load_data(shared_file("data/cifar10-jpeg.tar.gz"))
    net = load_model("cifarnet", pretrained=True)
    assert test_net(net, test, execution_environment="cpu") == pytest.approx(CARD_TEST_ACCURACY, abs=0.05)
