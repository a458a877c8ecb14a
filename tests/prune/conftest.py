import pytest

from taylorprune.train import train_network
from tests.fixtures import tiny_resnet
from tests.prune.helpers import TRAIN, tiny_options


@pytest.fixture(scope="module")
def trained():
    """The tiny ResNet trained a few epochs: what the loop tests prune."""
    net, _ = train_network(tiny_resnet(), TRAIN, options=tiny_options(max_epochs=4, initial_learn_rate=0.05))
    return net
