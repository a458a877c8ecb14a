import pytest
import torch
import torch.nn.functional as F

from taylorprune.errors import InputError
from taylorprune.losses import LOSSES, check_loss, resolve_loss

LOGITS, TARGETS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), torch.tensor([0, 1])


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_name_is_cross_entropy_with_its_smoothing(name):
    assert torch.equal(resolve_loss(name)(LOGITS, TARGETS), F.cross_entropy(LOGITS, TARGETS))
    smoothed = resolve_loss(name, label_smoothing=0.1)(LOGITS, TARGETS)
    assert torch.equal(smoothed, F.cross_entropy(LOGITS, TARGETS, label_smoothing=0.1))


def test_a_callable_is_used_as_given():
    def mine(outputs, targets):
        return outputs.sum()

    assert resolve_loss(mine) is mine


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(InputError, match="unknown loss 'hinge'; use one of crossentropy"):
        check_loss("hinge")
