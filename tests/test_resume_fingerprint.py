"""--resume continues only the run a folder holds: the same starting weights, the same data, and
a checkpoint that rebuilds the run's own architecture (never code its manifest names)."""

import json
import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from taylorprune import fingerprints
from taylorprune.artifacts import MANIFEST_KEY, read_manifest
from taylorprune.cli import main
from taylorprune.data import ImageData
from taylorprune.errors import InputError
from tests.fixtures import colour_blobs, tiny_resnet
from tests.test_cli import TINY


def _argv(data, out, *extra):
    return ["prune", "--model", TINY, "--data", str(data), "--min-accuracy", "0", "--goal", "0.1",
            "--increment", "0.1", "--epochs", "1", "--batch-size", "32", "--validation", "30",
            "--score-iterations", "1", "--out", str(out), "--quiet", "--execution-environment", "cpu", *extra]


@pytest.fixture(scope="module")
def finished(folder, tmp_path_factory):
    """A short pruning run's folder, complete with its checkpoint and fingerprints."""
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(_argv(folder, out)) == 0
    return out


@pytest.fixture
def run(finished, tmp_path):
    """A private copy of the finished run, for a test to resume."""
    return shutil.copytree(finished, tmp_path / "run")


def _resume_error(argv, capsys) -> str:
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def _what_differs(err: str) -> str:
    return err.removeprefix("error: --resume: ").split(" differ from ")[0]


def test_the_run_folder_records_what_the_run_started_from(finished, folder):
    recorded = json.loads((finished / fingerprints.FILE).read_text())
    assert set(recorded) == {"weights", "train", "validation"}
    assert all(len(v) == 64 for v in recorded.values())


def test_resume_with_other_starting_weights_is_refused(run, folder, tmp_path, capsys):
    torch.manual_seed(1)
    other = tiny_resnet()
    torch.nn.init.normal_(other.linear.weight)
    torch.save(other.state_dict(), tmp_path / "other.pt")
    err = _resume_error(_argv(folder, run, "--weights", str(tmp_path / "other.pt")), capsys)
    assert _what_differs(err) == "the starting weights" and "--force" in err


def test_resume_with_other_data_of_the_same_size_is_refused(run, folder, tmp_path, capsys):
    changed = shutil.copytree(folder, tmp_path / "changed")
    image = sorted((changed / "train").rglob("*.png"))[0]
    pixels = Image.open(image)
    pixels.transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(90).save(image)  # same size, other content
    err = _resume_error(_argv(changed, run), capsys)
    assert _what_differs(err) in ("the training data", "the validation data") and "--force" in err


def test_resume_from_a_copy_of_the_same_data_is_accepted(run, folder, tmp_path, capsys):
    """Content, not the path, identifies the data: a copy elsewhere resumes."""
    copy = shutil.copytree(folder, tmp_path / "copy")
    assert main([*_argv(copy, run), "--resume"]) == 0


def test_a_checkpoint_naming_other_code_is_never_rebuilt(run, folder, tmp_path, capsys):
    """The checkpoint is a file in a folder: its manifest may name code, which resuming never runs."""
    marker = tmp_path / "code-ran"
    path = run / "checkpoint.safetensors"
    manifest = read_manifest(path)
    manifest.update(spec="os:system", kwargs={"command": f"touch {marker}"})
    save_file(load_file(str(path)), str(path), metadata={MANIFEST_KEY: json.dumps(manifest)})
    err = _resume_error(_argv(folder, run), capsys)
    assert "'os:system'" in err and TINY in err and "--force" in err
    assert not marker.exists()


def test_a_hostile_fine_tune_state_runs_no_code(run, tmp_path):
    """fine-tune-state.pt is read with weights_only=True: a pickle that runs code is ignored."""
    from taylorprune import runs

    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    iteration = len(read_manifest(run / runs.CHECKPOINT)["run"]["info"]["pruning_history"])
    torch.save({"iteration": iteration, "plan": {}, "state": RunsCode()}, run / runs.FINE_TUNE)
    assert runs._fine_tune_checkpoint(run, iteration) is None
    assert not marker.exists()


# ---------------------------------------------------------------- the fingerprints themselves


def _data(seed: int = 0) -> ImageData:
    return colour_blobs(40, seed=seed)


def test_data_fingerprint_sees_one_pixel_one_label_and_the_class_names():
    data = _data()
    base = fingerprints.data_sha256(data)
    images = data.images.clone()
    images[7, 1, 3, 4] ^= 1
    labels = data.labels.clone()
    labels[3] = (labels[3] + 1) % len(data.classes)
    changed = [ImageData(images, data.labels, data.classes), ImageData(data.images, labels, data.classes),
               ImageData(data.images, data.labels, ("x", *data.classes[1:])),
               data.subset(slice(0, 39))]
    digests = [fingerprints.data_sha256(d) for d in changed]
    assert base not in digests and len(set(digests)) == len(digests)


def test_data_fingerprint_depends_on_content_not_storage():
    data = _data()
    strided = data.images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # same values, NHWC memory
    assert fingerprints.data_sha256(ImageData(strided, data.labels.clone(), data.classes)) == \
        fingerprints.data_sha256(data)


def test_weights_fingerprint_sees_every_tensor():
    net = tiny_resnet()
    base = fingerprints.fingerprint_run(net, _data(), None).weights
    with torch.no_grad():
        next(iter(net.parameters())).view(-1)[0] += 1e-6
    assert fingerprints.fingerprint_run(net, _data(), None).weights != base


def test_check_names_each_difference_in_one_line(tmp_path):
    recorded = fingerprints.fingerprint_run(tiny_resnet(), _data(0), _data(1))
    fingerprints.record(tmp_path, recorded)
    fingerprints.check_resume(tmp_path, recorded)  # the same run: no complaint
    other = fingerprints.fingerprint_run(tiny_resnet(num_classes=3), _data(2), None)
    with pytest.raises(InputError) as err:
        fingerprints.check_resume(tmp_path, other)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / fingerprints.FILE) in message
    assert message.startswith("--resume: the training data and the validation data differ from ")


def test_a_folder_without_fingerprints_resumes_unchecked(tmp_path):
    """Run folders written before fingerprints were recorded still resume."""
    fingerprints.check_resume(tmp_path, fingerprints.fingerprint_run(tiny_resnet(), _data(), None))


@pytest.mark.parametrize("saved", [
    {"iteration": "{iteration}", "plan": {}, "state": {"no_such_field": 1}},
    {"iteration": "{iteration}", "plan": [], "state": {}},
    ["not", "a", "dict"],
])
def test_a_malformed_fine_tune_state_only_costs_the_part_done_fine_tuning(run, saved):
    """Tensors and plain containers that are not what was saved: ignored, never a traceback."""
    from taylorprune import runs

    iteration = len(read_manifest(run / runs.CHECKPOINT)["run"]["info"]["pruning_history"])
    if isinstance(saved, dict):
        saved = {**saved, "iteration": iteration}
    torch.save(saved, run / runs.FINE_TUNE)
    assert runs._fine_tune_checkpoint(run, iteration) is None
