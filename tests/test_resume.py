"""A pruning run that is killed, interrupted or runs out of disk keeps its work and resumes exactly."""

import copy
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import taylorprune
from taylorprune.artifacts import load_network, read_manifest
from taylorprune.cli import main
from taylorprune.prune import (
    FineTuneCheckpoint,
    PruningCheckpoint,
    PruningInfo,
    compress_network_using_taylor_pruning,
    default_fine_tuning_options,
)
from taylorprune.train import TrainingState
from tests.fixtures import colour_blobs, tiny_resnet
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


def _same_weights(a, b):
    """Same data, same seed, same kernels: bit for bit in practice. The tolerance only admits a
    kernel that sums in another order (a loaded tensor with other strides), never a decision."""
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


def _start(argv):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    return subprocess.Popen([sys.executable, "-m", "taylorprune", *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_like_a_terminal_job)


def _like_a_terminal_job():
    """Ctrl-C reaches a process in the terminal's foreground with SIGINT at its default. A shell
    starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt
    handler: a test suite started that way (a CI runner may) would see its SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(path, proc, timeout=120.0, ready=lambda path: True):
    end = time.monotonic() + timeout
    while not (path.exists() and ready(path)):
        assert proc.poll() is None, f"run ended before {path.name} was ready: {proc.communicate()}"
        assert time.monotonic() < end, f"{path} was not ready in time"
        time.sleep(0.02)


def _has_pruned(path):
    """The checkpoint holds at least one accepted pruning iteration (not only the baseline)."""
    return bool(read_manifest(path)["plans"])


def _same_run(out, reference):
    assert _outcome(out) == _outcome(reference)
    _same_weights(load_file(out / "model.safetensors"), load_file(reference / "model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert main(_argv(folder, out)) == 0
    return out


def test_checkpointing_every_epoch_changes_nothing(folder, tmp_path, uninterrupted):
    """The wall clock decides when a fine-tuning state is saved (--checkpoint-minutes): saving must
    not touch what is computed. The default of 5 minutes never fires in these short runs."""
    out = tmp_path / "every-epoch"
    assert main([*_argv(folder, out), "--checkpoint-minutes", "0"]) == 0
    _same_run(out, uninterrupted)


def test_sigkill_then_resume_reaches_the_same_network(folder, tmp_path, uninterrupted):
    out = tmp_path / "killed"
    proc = _start(_argv(folder, out))
    _wait_for(out / "checkpoint.safetensors", proc, ready=_has_pruned)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = read_manifest(out / "checkpoint.safetensors")["plans"]
    assert 1 <= len(done_before) < len(_outcome(uninterrupted)[2]) - 1, "the kill must land mid-run"
    assert main([*_argv(folder, out), "--resume"]) == 0
    _same_run(out, uninterrupted)


def test_sigkill_inside_a_fine_tuning_resumes_from_its_last_epoch(folder, tmp_path):
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
    _same_run(out, whole)
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


def _saved(state: TrainingState) -> bytes:
    """A fine-tuning state as runs.py keeps it: torch.save of plain tensors and containers."""
    buffer = io.BytesIO()
    torch.save(state.to_dict(), buffer)
    return buffer.getvalue()


def _loaded(saved: bytes) -> TrainingState:
    return TrainingState(**torch.load(io.BytesIO(saved), weights_only=True))


def test_resuming_from_any_checkpoint_reaches_the_same_network():
    """Wherever a run stops (after an accepted iteration, after any epoch of a fine-tuning, the last
    one included), resuming from what was saved there gives the uninterrupted network: neither when
    the wall clock lets a checkpoint be written nor when the run dies can change the result."""
    data = colour_blobs(120, seed=1)
    options = default_fine_tuning_options(max_epochs=2, mini_batch_size=16, verbose=False,
                                          execution_environment="cpu")
    request = dict(validation_threshold=0, learnables_reduction_goal=0.3, learnables_reduction_increment=0.1,
                   num_importance_score_iterations=2)
    points = []  # (network, info as JSON, fine-tuning point or None), as the run folder would hold them
    accepted = {}

    def on_iteration(iteration, best, info):
        accepted.update(network=copy.deepcopy(best), info=json.dumps(info.to_dict()))
        points.append((accepted["network"], accepted["info"], None))

    def on_epoch(point):
        points.append((accepted["network"], accepted["info"], (point.iteration, point.plan, _saved(point.state))))

    whole, info = compress_network_using_taylor_pruning(tiny_resnet(), data, options=options, on_iteration=on_iteration,
                                                        on_fine_tune_epoch=on_epoch, **request)
    assert len(info.plans) >= 2
    # After the first accepted iteration, then in the second one's fine-tuning after its first and
    # its last epoch (points also come in that order in later iterations; each resume costs a run).
    chosen = [p for p in points if (p[2] is None and len(json.loads(p[1])["plans"]) == 1)
              or (p[2] is not None and p[2][0] == 2)]
    assert [_loaded(p[2][2]).epoch if p[2] else 0 for p in chosen] == [0, 1, 2]
    for network, saved_info, fine_tune in chosen:
        checkpoint = PruningCheckpoint(copy.deepcopy(network), PruningInfo.from_dict(json.loads(saved_info)),
                                       fine_tune and FineTuneCheckpoint(*fine_tune[:2], _loaded(fine_tune[2])))
        resumed, again = compress_network_using_taylor_pruning(tiny_resnet(), data, options=options,
                                                               resume_from=checkpoint, **request)
        where = f"resumed after iteration {len(checkpoint.info.pruning_history) - 1}" + (
            f", fine-tuning epoch {checkpoint.fine_tune.state.epoch}" if fine_tune else "")
        assert again.plans == info.plans, where
        assert [r.learnables for r in again.pruning_history] == [r.learnables for r in info.pruning_history], where
        _same_weights(resumed.state_dict(), whole.state_dict())
