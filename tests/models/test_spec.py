import re

import pytest
import torch
from torch import nn

from taylorprune.errors import InputError
from taylorprune.models import InputNormalized, load_model
from taylorprune.models.spec import build_model, untrusted_code


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


@pytest.mark.parametrize("name", ["fasterrcnn_resnet50_fpn", "quantized_resnet18", "ResNet18", "../os"])
def test_torchvision_specs_name_classifiers_only(name, monkeypatch):
    """Detection builders would fetch backbone weights and are no classifiers: refused by name,
    before torchvision builds anything."""
    import torchvision

    monkeypatch.setattr(torchvision.models, "get_model", lambda *a, **k: pytest.fail("a builder ran"))
    with pytest.raises(InputError, match=f"torchvision has no classification model '{re.escape(name)}'"):
        build_model(f"torchvision:{name}")


@pytest.mark.parametrize(("spec", "kwargs", "problem"), [
    ("cifarnet", {"num_classes": 10}, None),
    ("resnet20", {"width": 0.25, "num_classes": 3}, None),
    ("torchvision:resnet18", {"num_classes": 5, "zero_init_residual": True}, None),
    ("no_such_model", {}, None),  # building it fails with the list of names, and runs nothing
    ("os:system", {"command": "true"}, "names the builder 'os:system', code loading would import and run"),
    ("tests.fixtures:tiny_resnet", {}, "names the builder 'tests.fixtures:tiny_resnet'"),
    ("torchvision:fasterrcnn_resnet50_fpn", {}, None),  # refused by build_model, see above
    ("cifarnet", {"num_classes": {"a": 1}}, "keyword 'num_classes' of the manifest is {'a': 1}, not a plain JSON"),
    ("torchvision:resnet18", {"norm_layer": [[1], {}]}, "keyword 'norm_layer'"),
])
def test_untrusted_code_names_what_a_spec_would_run(spec, kwargs, problem):
    found = untrusted_code(spec, kwargs, source="the manifest")
    assert found == problem if problem is None else problem in found
