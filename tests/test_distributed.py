"""Under torchrun (2 CPU processes, gloo): the same pruning decisions as one process; failures end the job."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import taylorprune
from taylorprune.cli import main

ROOT = Path(__file__).resolve().parents[1]
# The sources these tests import come first, so torchrun's processes run the same code, not an installed copy.
PYTHONPATH = os.pathsep.join([str(Path(taylorprune.__file__).parents[1]), str(ROOT)])
PRUNE = ["prune", "--data", "{folder}", "--min-accuracy", "0", "--goal", "0.3", "--increment", "0.1",
         "--epochs", "2", "--batch-size", "32", "--validation", "60", "--score-iterations", "2", "--quiet",
         "--execution-environment", "cpu"]


def _torchrun(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1", "TAYLORPRUNE_COLLECTIVE_TIMEOUT": "60"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "taylorprune", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _args(folder, out, model="tests.fixtures:tiny_resnet"):
    return [a.format(folder=folder) for a in PRUNE] + ["--model", model, "--out", str(out)]


def test_two_processes_prune_the_same_channels_as_one(folder, tmp_path):
    # MATLAB's rule: all 60 validation images pick epochs. The default (a 95% bound on an
    # acceptance split) would leave 12 to pick them, and on this tiny set one image's difference,
    # which the per-rank BN statistics below can make, flips an epoch and then channel choices.
    plain = ["--confidence", "0"]
    assert main(_args(folder, tmp_path / "one") + plain) == 0
    run = _torchrun(_args(folder, tmp_path / "two") + plain)
    assert run.returncode == 0, run.stderr[-8000:]
    one, two = (json.loads((tmp_path / d / "history.json").read_text()) for d in ("one", "two"))
    assert [r["learnables"] for r in two["pruning_history"]] == [r["learnables"] for r in one["pruning_history"]]
    assert two["pruned_layers"] == one["pruned_layers"] and two["plans"] == one["plans"]
    # BN statistics come from each rank's half of the batch, so training differs a little.
    assert two["pruning_history"][-1]["validation_metric"] == pytest.approx(
        one["pruning_history"][-1]["validation_metric"], abs=10)
    assert run.stdout.count("Compressed network has") == 1  # only rank 0 prints


def test_two_processes_decide_together_on_an_acceptance_split(folder, tmp_path):
    """Every rank evaluates its share of the acceptance split and gets the gathered figure, so all
    make the same decisions: ranks that disagreed would stall in a collective or fail."""
    run = _torchrun(_args(folder, tmp_path / "two"))
    assert run.returncode == 0, run.stderr[-8000:]
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert history["acceptance"] == {"images": 48, "confidence": 0.95, "decision_confidence": pytest.approx(0.99),
                                     "max_failed_steps": 4, "selection_images": 12}
    assert all(r["validation_low"] is not None for r in history["pruning_history"])


def test_a_failing_rank_ends_the_job_quickly(folder, tmp_path):
    start = time.monotonic()
    run = _torchrun(_args(folder, tmp_path / "fail", model="tests.fixtures:fails_on_rank_one"), timeout=120)
    assert run.returncode != 0
    assert "rank 1 was told to fail" in run.stderr
    assert time.monotonic() - start < 90


def test_a_batch_that_does_not_split_is_one_line(folder, tmp_path):
    run = _torchrun(_args(folder, tmp_path / "odd") + ["--batch-size", "31"], timeout=120)
    assert run.returncode != 0
    assert "does not split evenly over 2 processes" in run.stderr


def test_two_processes_train_and_only_rank_zero_writes(folder, tmp_path):
    args = ["train", "--model", "tests.fixtures:tiny_resnet", "--data", str(folder), "--epochs", "2",
            "--batch-size", "32", "--validation", "60", "--quiet", "--execution-environment", "cpu",
            "--out", str(tmp_path / "t")]
    run = _torchrun(args)
    assert run.returncode == 0, run.stderr[-8000:]
    assert sum(line.startswith("accuracy:") for line in run.stdout.splitlines()) == 1  # only rank 0 prints
    history = json.loads((tmp_path / "t" / "history.json").read_text())
    assert len(history["training_history"]) == 2 * (180 // 32) and 0 <= history["test_accuracy"] <= 100


def test_ranks_agree_on_latency_decisions(folder, tmp_path):
    """Each rank times on its own; the averaged timings must give every rank the same plan, or DDP
    would fail on mismatched shapes when it broadcasts the pruned network."""
    args = _args(folder, tmp_path / "latency", model="tests.fixtures:wide_convnet")
    run = _torchrun(args + ["--cost", "latency", "--latency-batch", "256"])
    assert run.returncode == 0, run.stderr[-8000:]
    history = json.loads((tmp_path / "latency" / "history.json").read_text())
    assert history["stop_reason"] in ("Latency reduction goal reached.", "Nothing left to prune.")  # not a crash
    assert history["pruning_history"][0]["latency_ms"] > 0 and len(history["plans"]) >= 1
