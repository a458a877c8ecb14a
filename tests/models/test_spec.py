import pytest
import torch
from torch import nn

from taylorprune.errors import InputError
from taylorprune.models import InputNormalized, load_model
from taylorprune.models.spec import build_model


def small_factory(num_classes: int = 4) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, num_classes))


def test_torchvision_spec_wraps_with_normalisation():
    net = build_model("torchvision:resnet18", num_classes=5)
    assert isinstance(net, InputNormalized)
    assert net.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 5)


def test_unknown_torchvision_model_names_the_problem():
    with pytest.raises(InputError, match="torchvision has no classification model 'resnet7'"):
        build_model("torchvision:resnet7")


def test_factory_spec_imports_a_builder():
    net = build_model("tests.models.test_spec:small_factory", num_classes=3)
    assert net(torch.rand(2, 3, 4, 4)).shape == (2, 3)
    with pytest.raises(InputError, match="cannot import factory"):
        build_model("no_such_module_xyz:build")


def test_unknown_spec_lists_choices():
    with pytest.raises(InputError, match="unknown model 'lenet'.*cifarnet"):
        load_model("lenet")


def test_missing_bundled_weights_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setattr("taylorprune.models.spec.PRETRAINED_DIR", tmp_path)
    with pytest.raises(InputError, match="no bundled pretrained weights for 'resnet56'"):
        load_model("resnet56", pretrained=True)
