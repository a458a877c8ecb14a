"""Every bad input is one line on stderr starting with 'error:', exit code 2, nothing damaged."""

import pickle
import shutil

import pytest
import torch

from taylorprune.cli import main
from tests.test_cli import TINY

PRUNE = ["prune", "--model", TINY, "--validation", "30", "--epochs", "1", "--quiet", "--execution-environment", "cpu"]


def _corrupt_jpeg(root):
    bad = root / "train" / "c0" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return bad.name


def _mismatched_classes(root):
    shutil.move(root / "test" / "c2", root / "test" / "other")
    return "other"


def _bad_pickle(root):
    batches = root.parent / "cifar-10-batches-py"
    batches.mkdir()
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (batches / name).write_bytes(pickle.dumps({"nothing": 1})[:10])
    (batches / "batches.meta").write_bytes(b"")
    return "cifar-10-batches-py"


def _hostile_manifest(root):
    """A taylorprune file whose manifest asks to run a shell command while the network is rebuilt."""
    import json

    from safetensors.torch import save_file

    from taylorprune.artifacts import MANIFEST_KEY

    manifest = {"format": 1, "spec": "os:system", "kwargs": {"command": f"touch {root.parent / 'code-ran'}"},
                "plans": [], "input_shape": [3, 8, 8]}
    save_file({"w": torch.zeros(1)}, str(root.parent / "evil.safetensors"),
              metadata={MANIFEST_KEY: json.dumps(manifest)})
    return "names the builder 'os:system', code loading would import and run; pass --trust-code"


def _other_weights(root):
    path = root.parent / "wide.pt"
    from taylorprune.models import create_model

    torch.save(create_model("resnet20").state_dict(), path)
    return "in the file, (4,) in the model"


CASES = {
    "data path missing": (["test", "--model", TINY, "--data", "{tmp}/nowhere"], "nowhere", None),
    "empty directory": (["test", "--model", TINY, "--data", "{tmp}/empty"], "empty", "mkdir"),
    "train/test classes differ": (["test", "--model", TINY, "--data", "{data}"], None, _mismatched_classes),
    "corrupt JPEG": (["test", "--model", TINY, "--data", "{data}"], None, _corrupt_jpeg),
    "truncated CIFAR pickle": (["test", "--model", TINY, "--data", "{tmp}/cifar-10-batches-py"], None, _bad_pickle),
    "labels beyond the outputs": (["test", "--model", "tests.fixtures:two_class_net", "--data", "{data}"],
                                  "labels go up to 2", None),
    "image size the model cannot take": (["test", "--model", "tests.fixtures:flat_net_32", "--data", "{data}"],
                                         "cannot take images of shape (3, 8, 8)", None),
    "model spec names nothing": (["test", "--model", "no_such_model", "--data", "{data}"], "unknown model", None),
    "hostile manifest": (["test", "--model", "{tmp}/evil.safetensors", "--data", "{data}"], None,
                         _hostile_manifest),
    "checkpoint of another architecture": (["test", "--model", TINY, "--weights", "{tmp}/wide.pt",
                                            "--data", "{data}"], None, _other_weights),
    "untraceable network": ([*PRUNE, "--model", "tests.fixtures:DataDependent", "--data", "{data}",
                             "--out", "{tmp}/o"], "trace", None),
    "threshold above 100": ([*PRUNE, "--data", "{data}", "--min-accuracy", "101", "--out", "{tmp}/o"], "0..100", None),
    "increment zero": ([*PRUNE, "--data", "{data}", "--increment", "0", "--out", "{tmp}/o"], "increment", None),
    "goal above one": ([*PRUNE, "--data", "{data}", "--goal", "1.5", "--out", "{tmp}/o"], "goal", None),
    "latency batch zero": ([*PRUNE, "--data", "{data}", "--cost", "latency", "--latency-batch", "0",
                            "--out", "{tmp}/o"], "latency_batch_size", None),
    "budget zero": ([*PRUNE, "--data", "{data}", "--budget-epochs", "0", "--out", "{tmp}/o"], "budget", None),
    "validation larger than the data": ([*PRUNE, "--data", "{data}", "--validation", "5000", "--out", "{tmp}/o"],
                                        "gives 5000 of 240 images", None),
    "validation split zero": ([*PRUNE, "--data", "{data}", "--validation", "0", "--out", "{tmp}/o"],
                              "validation_split=0.0", None),
    "negative epochs": ([*PRUNE, "--data", "{data}", "--epochs", "-1", "--out", "{tmp}/o"], "max_epochs", None),
    "negative batch size": ([*PRUNE, "--data", "{data}", "--batch-size", "-8", "--out", "{tmp}/o"],
                            "mini_batch_size", None),
    "unwritable out folder": ([*PRUNE, "--data", "{data}", "--out", "/dev/null/run"], "/dev/null/run", None),
    "existing out folder": ([*PRUNE, "--data", "{data}", "--out", "{tmp}/keep"], "--resume", "keep"),
}
if not torch.cuda.is_available():
    CASES["CUDA on a machine without it"] = (["test", "--model", TINY, "--data", "{data}",
                                              "--execution-environment", "cuda"], "no CUDA GPU", None)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_table(case, folder, tmp_path, capsys):
    argv, expected, prepare = CASES[case]
    data = tmp_path / "data"
    shutil.copytree(folder, data)
    if prepare == "mkdir":
        (tmp_path / "empty").mkdir()
    elif prepare == "keep":
        (tmp_path / "keep").mkdir()
        (tmp_path / "keep" / "model.safetensors").write_text("earlier work")
    elif prepare is not None:
        expected = prepare(data)
    code = main([a.format(tmp=tmp_path, data=data) for a in argv])
    err = capsys.readouterr().err.strip()
    print(f"{case}: {err}")
    assert code == 2
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert expected in err
    if prepare == "keep":
        assert (tmp_path / "keep" / "model.safetensors").read_text() == "earlier work"
    assert not (tmp_path / "code-ran").exists()
