import pytest
import torch

from taylorprune.errors import InputError
from taylorprune.models import create_model, list_models
from taylorprune.models.cifar_resnet import CifarResNet


@pytest.mark.parametrize("name, params", [("resnet20", 269_722), ("resnet56", 853_018), ("cifarnet", 272_474)])
def test_parameter_counts(name, params):
    # resnet20/56 match the akamaster checkpoints' learnables; cifarnet adds the two projections.
    assert sum(p.numel() for p in create_model(name).parameters()) == params


@pytest.mark.parametrize("name", ["resnet20", "resnet32_projection", "cifarnet"])
def test_forward_shape_and_width(name):
    net = create_model(name, num_classes=7, width=0.5).eval()
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    assert net.conv1.out_channels == 8 and net.linear.in_features == 32


def test_zero_pad_shortcut_pads_channels_with_zeros():
    block = create_model("resnet20").layer2[0]
    x = torch.rand(1, 16, 8, 8)
    out = block.shortcut(x)
    assert out.shape == (1, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_bad_depth_and_shortcut_are_clear_errors():
    with pytest.raises(InputError, match="6n\\+2"):
        CifarResNet(21)
    with pytest.raises(InputError, match="shortcut"):
        CifarResNet(20, shortcut="option-b")


def test_registry_lists_the_zoo():
    names = list_models()
    assert {"cifarnet", "resnet20", "resnet56", "resnet110", "resnet20_projection"} <= set(names)
    with pytest.raises(InputError, match="choose one of"):
        create_model("resnet21")
