"""torch.export .pt2: one file, dynamic batch, the loaded program matches PyTorch."""

import io
import json
import zipfile

import pytest
import torch

from taylorprune.errors import InputError
from taylorprune.export import TOLERANCE, check_parity, export_network, export_pt2, load_pt2
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
    result = check_parity(net, path, torch.rand(2, 3, 32, 32), "random", fmt="pt2", tolerance=0.0, trust_code=True)
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


def _hostile_copy(path, dst, marker):
    """``path`` with its first weight replaced by a pickle that creates ``marker`` when loaded, and
    marked as pickled in the archive's config: what torch.export.load unpickles without weights_only."""

    class RunsCode:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    payload = io.BytesIO()
    torch.save(RunsCode(), payload)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as out:
        config_name = next(n for n in src.namelist() if n.endswith("model_weights_config.json"))
        config = json.loads(src.read(config_name))
        first = next(iter(config["config"].values()))
        first["use_pickle"] = True
        for info in src.infolist():
            data = src.read(info)
            if info.filename == config_name:
                data = json.dumps(config).encode()
            elif info.filename.endswith(f"weights/{first['path_name']}"):
                data = payload.getvalue()
            out.writestr(info.filename, data)
    return dst


def test_loading_a_pt2_needs_trust_because_it_can_run_code(exported, tmp_path):
    """torch.export.load unpickles parts of a .pt2 with weights_only=False: never without trust."""
    net, path, _ = exported
    marker = tmp_path / "code-ran"
    evil = _hostile_copy(path, tmp_path / "evil.pt2", marker)
    for load in (load_pt2, lambda p: check_parity(net, p, torch.rand(1, 3, 32, 32), "random", fmt="pt2")):
        with pytest.raises(InputError, match=r"evil\.pt2: torch\.export\.load unpickles .*trust_code=True") as err:
            load(evil)
        assert "\n" not in str(err.value)
    assert not marker.exists()
    program = load_pt2(path, trust_code=True)
    assert program(torch.rand(2, 3, 32, 32)).shape == (2, 10)
