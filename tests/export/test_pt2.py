"""torch.export .pt2: one file, dynamic batch, the loaded program matches PyTorch."""

import pytest
import torch

from taylorprune.errors import InputError
from taylorprune.export import TOLERANCE, check_parity, export_network, export_pt2
from tests.fixtures import DataDependent


@pytest.fixture(scope="module")
def exported(pruned, tmp_path_factory):
    """The pruned network and its .pt2 file, written by export_network."""
    net, _ = pruned
    path = tmp_path_factory.mktemp("pt2") / "net.pt2"
    report = export_network(net, path, (3, 32, 32), fmt="pt2")
    return net, path, report


@pytest.mark.parametrize("batch", [1, 3])
def test_loaded_program_matches_pytorch_at_any_batch_size(exported, batch):
    net, path, _ = exported
    program = torch.export.load(str(path)).module()
    x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        expected, got = net.eval()(x), program(x)
    assert got.shape == expected.shape == (batch, 10)
    assert (got - expected).abs().max() < TOLERANCE
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_export_network_checks_the_program_on_random_inputs(exported):
    _, path, report = exported
    assert report.passed and [c.runtime for c in report.checks] == ["torch.export"]
    assert report.lines()[0].startswith(f"wrote {path}")
    assert report.lines()[1].startswith("8 random inputs: max |torch.export - pytorch| = ")


def test_a_failed_parity_check_is_reported(exported):
    net, path, _ = exported
    result = check_parity(net, path, torch.rand(2, 3, 32, 32), "random", fmt="pt2", tolerance=0.0)
    assert not result.passed and result.line().endswith("FAILED")


def test_export_leaves_training_mode_alone(pruned, tmp_path):
    net = pruned[0].train()
    try:
        export_pt2(net, tmp_path / "x.pt2", (3, 32, 32))
        assert net.training
    finally:
        net.eval()


def test_other_extensions_are_refused(pruned, tmp_path):
    with pytest.raises(InputError, match=r"x\.bin: name a torch\.export file with the \.pt2 extension"):
        export_pt2(pruned[0], tmp_path / "x.bin", (3, 32, 32))


def test_unknown_format_is_one_line(pruned, tmp_path):
    with pytest.raises(InputError, match=r"unknown export format 'tflite'; choose from onnx, pt2"):
        export_network(pruned[0], tmp_path / "x.tflite", (3, 32, 32), fmt="tflite")


def test_untraceable_network_is_one_line(tmp_path):
    with pytest.raises(InputError, match=r"cannot export DataDependent with torch\.export \(.*\); --debug") as err:
        export_pt2(DataDependent(), tmp_path / "x.pt2", (3, 4, 4))
    assert "\n" not in str(err.value) and not (tmp_path / "x.pt2").exists()
