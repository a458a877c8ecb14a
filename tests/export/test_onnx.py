"""ONNX export: one self-contained file, dynamic batch, onnxruntime matches PyTorch."""

import sys

import numpy as np
import pytest
import torch

from taylorprune.data import ImageData, load_data
from taylorprune.errors import InputError
from taylorprune.export import (
    OPSET,
    TOLERANCE,
    check_parity,
    export_network,
    export_onnx,
    onnx_session,
)
from tests.fixtures import DataDependent, shared_file


@pytest.fixture(scope="module")
def exported(pruned, tmp_path_factory):
    """The pruned network and its ONNX file, written by export_network with 12 images checked."""
    net, _ = pruned
    images = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    data = ImageData(images, torch.zeros(20, dtype=torch.long), ("a",))
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    report = export_network(net, path, (3, 32, 32), data=data, images=12)
    return net, path, report


def test_file_is_self_contained_with_a_dynamic_batch_axis(exported):
    import onnx

    _, path, _ = exported
    assert [p.name for p in path.parent.iterdir()] == ["net.onnx"]  # no external .data file
    model = onnx.load(str(path))
    assert model.opset_import[0].version == OPSET
    for value in (model.graph.input[0], model.graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_parity_on_random_inputs_at_any_batch_size(exported, batch):
    net, path, _ = exported
    x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        expected = net(x).numpy()
    got = onnx_session(path).run(None, {"images": x.numpy()})[0]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOLERANCE
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_export_network_reports_parity_on_random_inputs_and_images(exported):
    _, path, report = exported
    assert report.passed
    assert [c.count for c in report.checks] == [8, 12]
    assert report.lines()[0].startswith(f"wrote {path}")
    assert all(line.endswith(": ok") for line in report.lines()[1:])


def test_parity_on_real_cifar_test_images(exported):
    net, path, _ = exported
    _, test = load_data(shared_file("data/cifar10-jpeg.tar.gz"))
    x = test.images[:100].float() / 255  # (100, 3, 32, 32) in [0, 1]
    with torch.no_grad():
        expected = net(x).numpy()
    got = onnx_session(path).run(None, {"images": x.numpy()})[0]
    assert np.abs(got - expected).max() < TOLERANCE
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_a_failed_parity_check_is_reported(exported):
    net, path, _ = exported
    result = check_parity(net, path, torch.rand(4, 3, 32, 32), "random", tolerance=0.0)
    assert not result.passed and result.line().endswith("FAILED")


def test_missing_optional_package_says_how_to_install(monkeypatch, pruned, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import now raises ImportError
    with pytest.raises(InputError, match=r"onnxscript is not installed.*pip install 'taylorprune\[export\]'"):
        export_onnx(pruned[0], tmp_path / "x.onnx", (3, 32, 32))


def test_untraceable_network_is_one_line(tmp_path):
    with pytest.raises(InputError, match=r"cannot export DataDependent to ONNX \(.*\); --debug") as err:
        export_onnx(DataDependent(), tmp_path / "x.onnx", (3, 4, 4))
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)
