import pytest
import torch
import torch.nn.functional as F

from taylorprune.errors import InputError
from taylorprune.losses import LOSSES, check_loss, resolve_loss

LOGITS, TARGETS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), torch.tensor([0, 1])
CROSS_ENTROPY = [name for name in LOSSES if "cross" in name]


@pytest.mark.parametrize("name", CROSS_ENTROPY)
def test_every_cross_entropy_name_keeps_its_smoothing(name):
    assert torch.equal(resolve_loss(name)(LOGITS, TARGETS), F.cross_entropy(LOGITS, TARGETS))
    smoothed = resolve_loss(name, label_smoothing=0.1)(LOGITS, TARGETS)
    assert torch.equal(smoothed, F.cross_entropy(LOGITS, TARGETS, label_smoothing=0.1))


def test_named_losses_read_the_main_output():
    logits, y = torch.randn(4, 3, 5, 5), torch.randint(0, 3, (4, 5, 5))
    loss = resolve_loss("crossentropy")
    assert loss({"out": logits, "aux": logits * 0}, y) == pytest.approx(F.cross_entropy(logits, y).item())
    assert loss((logits, None), y) == pytest.approx(F.cross_entropy(logits, y).item())


def test_regression_losses_do_not_broadcast_one_output_against_n_targets():
    pred, y = torch.tensor([[1.0], [3.0]]), torch.tensor([1.0, 1.0])
    assert resolve_loss("mse")(pred, y).item() == pytest.approx(2.0)  # broadcasting would give 3.0
    assert resolve_loss("mae")(pred, y).item() == pytest.approx(1.0)
    assert resolve_loss("huber")(pred, y).item() == pytest.approx((0 + 1.5) / 2)


def test_a_callable_is_used_as_given():
    def mine(outputs, targets):
        return outputs["aux"].sum()

    assert resolve_loss(mine) is mine
    assert mine({"aux": torch.ones(2)}, None).item() == 2.0


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(InputError, match="unknown loss 'hinge'; use one of crossentropy"):
        check_loss("hinge")
