"""A pruning run that is killed, interrupted or runs out of disk keeps its work and resumes exactly."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import taylorprune
from taylorprune.artifacts import load_network, read_manifest
from taylorprune.cli import main
from tests.test_cli import TINY

REPO = Path(__file__).resolve().parents[1]
# The sources these tests import come first, so a killed run is the same code as the one resuming it.
PYTHONPATH = os.pathsep.join([str(Path(taylorprune.__file__).parents[1]), str(REPO)])


def _argv(data, out):
    return ["prune", "--model", TINY, "--data", str(data), "--min-accuracy", "0", "--goal", "0.5",
            "--increment", "0.06", "--epochs", "1", "--batch-size", "32", "--validation", "30",
            "--score-iterations", "2", "--out", str(out), "--quiet", "--execution-environment", "cpu"]


def _outcome(out):
    history = json.loads((out / "history.json").read_text())
    return history["learnables"], history["pruned_layers"], [r["learnables"] for r in history["pruning_history"]]


def _start(argv):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    return subprocess.Popen([sys.executable, "-m", "taylorprune", *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=120.0, ready=lambda path: True):
    end = time.monotonic() + timeout
    while not (path.exists() and ready(path)):
        assert proc.poll() is None, f"run ended before {path.name} was ready: {proc.communicate()}"
        assert time.monotonic() < end, f"{path} was not ready in time"
        time.sleep(0.02)


def _has_pruned(path):
    """The checkpoint holds at least one accepted pruning iteration (not only the baseline)."""
    return bool(read_manifest(path)["plans"])


@pytest.fixture(scope="module")
def uninterrupted(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert main(_argv(folder, out)) == 0
    return _outcome(out)


def test_sigkill_then_resume_reaches_the_same_network(folder, tmp_path, uninterrupted):
    out = tmp_path / "killed"
    proc = _start(_argv(folder, out))
    _wait_for(out / "checkpoint.safetensors", proc, ready=_has_pruned)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = read_manifest(out / "checkpoint.safetensors")["plans"]
    assert 1 <= len(done_before) < len(uninterrupted[2]) - 1, "the kill must land mid-run"
    assert main([*_argv(folder, out), "--resume"]) == 0
    assert _outcome(out) == uninterrupted


def test_sigkill_inside_a_fine_tuning_resumes_from_its_last_epoch(folder, tmp_path, uninterrupted):
    out = tmp_path / "mid"
    argv = [*_argv(folder, out), "--checkpoint-minutes", "0"]
    argv[argv.index("--epochs") + 1] = "2"
    proc = _start(argv)
    _wait_for(out / "fine-tune-state.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(out / "fine-tune-state.pt", weights_only=True)
    done = read_manifest(out / "checkpoint.safetensors")["run"]["info"]["pruning_history"]
    assert state["iteration"] == len(done) and state["state"]["epoch"] == 1
    assert main([*argv, "--resume"]) == 0
    whole = tmp_path / "whole2"
    argv_whole = [*_argv(folder, whole)]
    argv_whole[argv_whole.index("--epochs") + 1] = "2"
    assert main(argv_whole) == 0
    assert _outcome(out) == _outcome(whole)
    assert not (out / "fine-tune-state.pt").exists()


def test_ctrl_c_saves_the_best_network_so_far(folder, tmp_path):
    out = tmp_path / "interrupted"
    argv = [*_argv(folder, out), "--checkpoint-minutes", "0"]
    argv[argv.index("--epochs") + 1] = "3"
    proc = _start(argv)
    # Interrupt inside a fine-tuning after one accepted iteration, not in the last moments of the run.
    _wait_for(out / "checkpoint.safetensors", proc, ready=_has_pruned)
    _wait_for(out / "fine-tune-state.pt", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    history = json.loads((out / "history.json").read_text())
    assert history["stop_reason"] == "Stopped by the user."
    net = load_network(out / "model.safetensors", trust_code=True)
    assert sum(p.numel() for p in net.parameters()) == history["learnables"]


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(folder, tmp_path, monkeypatch, capsys):
    import taylorprune.artifacts as artifacts

    out = tmp_path / "full"
    real_save = artifacts.save_file
    writes = {"n": 0}

    def failing_save(state, filename, metadata=None):
        writes["n"] += 1
        if writes["n"] == 6:  # model + checkpoint of iterations 0 and 1 succeed, iteration 2 fails
            Path(filename).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(state, filename, metadata=metadata)

    monkeypatch.setattr(artifacts, "save_file", failing_save)
    assert main(_argv(folder, out)) == 2
    assert "No space left on device" in capsys.readouterr().err
    manifest = artifacts.read_manifest(out / "checkpoint.safetensors")
    assert len(manifest["plans"]) == 1
    load_network(out / "checkpoint.safetensors", trust_code=True)  # intact and loadable
    assert not list(out.glob("*.tmp"))
    monkeypatch.setattr(artifacts, "save_file", real_save)
    assert main([*_argv(folder, out), "--resume"]) == 0


def test_resume_with_other_options_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "run"
    argv = _argv(folder, out)
    argv[argv.index("--goal") + 1] = "0.12"
    assert main(argv) == 0
    assert main([*_argv(folder, out), "--resume"]) == 2
    assert "learnables_reduction_goal" in capsys.readouterr().err
