"""`--task FILE.py` on the command line: run folders, resume, refusals, tests and analyze, torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taylorprune.cli import main

ROOT = Path(__file__).resolve().parents[1]
SEGMENTATION = """
import torchmetrics
from tests.custom_data import DictSegmenter, squares

def network():
    return DictSegmenter(width=8)

def train_data():
    return squares(48)

def validation_data():
    return squares(16, seed=1)

def test_data():
    return squares(16, seed=2)

METRICS = [torchmetrics.JaccardIndex(task="multiclass", num_classes=2), "accuracy"]
"""
REGRESSION = """
from tests.custom_data import regressor, slopes

def network():
    return regressor()

def train_data():
    return slopes(64)

def validation_data():
    return slopes(32, seed=1)

LOSS = "mse"
METRICS = ["rmse"]
"""
QUICK = ["--epochs", "1", "--batch-size", "16", "--goal", "0.2", "--increment", "0.1", "--score-iterations", "2",
         "--distill", "0", "--quiet", "--execution-environment", "cpu"]


def task(tmp_path: Path, text: str, name: str = "task.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_prune_a_segmentation_task_into_a_run_folder_and_test_it(tmp_path, capsys):
    file, out = task(tmp_path, SEGMENTATION), tmp_path / "run"
    assert main(["prune", "--task", file, "--validation-threshold", "0", "--out", str(out), "--lr", "0.05",
                 *QUICK]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["objective_metric"] == "MulticlassJaccardIndex" and result["higher_is_better"]
    assert result["learnables"][1] < result["learnables"][0] and 0 <= result["test_metric"] <= 1
    options = json.loads((out / "options.json").read_text())
    assert options["task_file"] == file and len(options["task_sha256"]) == 64
    assert options["metrics"] == ["MulticlassJaccardIndex", "accuracy"] and options["model"] == "task:task.py"
    assert "a floor on MulticlassJaccardIndex" in (out / "report.md").read_text()
    capsys.readouterr()
    model = str(out / "model.safetensors")
    assert main(["test", "--task", file, "--model", model]) == 0
    printed = capsys.readouterr().out
    assert "MulticlassJaccardIndex: " in printed and "loss: " in printed
    # The file's manifest names the task, and nothing it names is ever imported without --task.
    assert main(["analyze", "--model", model]) == 2
    assert "pass --task with that file" in capsys.readouterr().err


def test_resume_needs_the_same_task_file_again(tmp_path, capsys):
    file, out = task(tmp_path, SEGMENTATION), tmp_path / "run"
    args = ["prune", "--validation-threshold", "0", "--out", str(out), "--lr", "0.05", *QUICK]
    assert main([*args, "--task", file]) == 0
    capsys.readouterr()
    assert main([*args, "--model", "cifarnet", "--resume"]) == 2
    assert "pass --task with it again" in capsys.readouterr().err
    changed = task(tmp_path, SEGMENTATION + "\n# edited\n", "edited.py")
    assert main([*args, "--task", changed, "--resume"]) == 2
    assert "the task file differs" in capsys.readouterr().err
    assert main([*args, "--task", file, "--resume"]) == 0


def test_a_regression_task_is_pruned_to_a_ceiling(tmp_path, capsys):
    file, out = task(tmp_path, REGRESSION), tmp_path / "run"
    assert main(["prune", "--task", file, "--validation-threshold", "100", "--out", str(out), "--solver", "adam",
                 "--lr", "0.01", *QUICK]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["objective_metric"] == "rmse" and not result["higher_is_better"]
    assert "a ceiling on rmse (lower is better)" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["prune", "--task", file, "--out", str(tmp_path / "no"), *QUICK]) == 2
    assert "--task needs --validation-threshold: the ceiling on the task's objective rmse" in capsys.readouterr().err


def test_train_then_analyze_a_task(tmp_path, capsys):
    file, out = task(tmp_path, REGRESSION), tmp_path / "trained"
    assert main(["train", "--task", file, "--out", str(out), "--epochs", "1", "--batch-size", "16", "--quiet",
                 "--execution-environment", "cpu"]) == 0
    assert (out / "model.safetensors").is_file()
    history = json.loads((out / "history.json").read_text())
    assert set(history["validation_history"][-1]["metrics"]) == {"loss", "rmse"}
    capsys.readouterr()
    assert main(["analyze", "--task", file, "--model", str(out / "model.safetensors")]) == 0
    assert "Conv2d" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["prune", "--task", "{missing}"], "is not a .py file"),
    (["prune", "--task", "{bad}", "--validation-threshold", "1"], "task file bad.py failed to load: NameError"),
    (["test", "--task", "{bad}", "--data", "somewhere"], "names its own data; drop --data"),
    (["test"], "give --model NAME"),
])
def test_bad_task_invocations_are_one_line(tmp_path, capsys, args, match):
    bad = task(tmp_path, "def network():\n    return nn.Linear(2, 2)\nx = undefined_name\n", "bad.py")
    argv = [a.format(missing=tmp_path / "missing.py", bad=bad) for a in args]
    if argv[0] == "prune":
        argv += ["--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and match in err


def test_two_processes_prune_a_task_as_one(tmp_path):
    file = task(tmp_path, SEGMENTATION)
    args = ["prune", "--task", file, "--validation-threshold", "0", "--lr", "0.05", *QUICK]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1",
           "TAYLORPRUNE_COLLECTIVE_TIMEOUT": "60"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "taylorprune", *args, "--out", str(tmp_path / "two")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-8000:]
    one, two = (json.loads((tmp_path / d / "history.json").read_text()) for d in ("one", "two"))
    assert [r["learnables"] for r in two["pruning_history"]] == [r["learnables"] for r in one["pruning_history"]]
    assert two["plans"] == one["plans"]
