"""Run folders (runs.py) at their edges: a run stopped before anything was measured."""

import json
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import taylorprune.prune.steps
from taylorprune.cli import main
from taylorprune.runs import latency_seconds, report_images
from tests.fixtures import colour_blobs
from tests.test_cli import TINY


def test_ctrl_c_during_the_baseline_ends_cleanly_with_what_there_is(folder, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(taylorprune.prune.steps, "evaluate", interrupted)
    monkeypatch.setattr("taylorprune.runs.test_net", lambda *a, **k: pytest.fail("the test set was scored"))
    monkeypatch.setattr("taylorprune.runs._latency", lambda *a, **k: pytest.fail("latency was benchmarked"))
    out = tmp_path / "run"
    code = main(["prune", "--model", TINY, "--data", str(folder), "--validation", "30", "--quiet",
                 "--execution-environment", "cpu", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0 and "Traceback" not in printed.err
    assert "Stop reason: Stopped by the user." in printed.out
    history = json.loads((out / "history.json").read_text())
    assert history["stop_reason"] == "Stopped by the user." and history["pruning_history"] == []
    result = json.loads((out / "result.json").read_text())
    assert result["test_accuracy"] is None and result["latency"] == [] and result["validation_metric"] == [None, None]
    assert result["iterations"] == 0 and result["accepted"] == 0
    assert "Nothing was measured." in (out / "report.md").read_text()
    assert not (out / "model.safetensors").exists()



def test_a_budget_keeps_time_for_every_test_example_however_the_test_data_comes():
    """A DataLoader of 40 examples in batches of 16 is 40 examples to evaluate, not 3."""
    pairs = TensorDataset(torch.rand(40, 3, 4, 4), torch.zeros(40, dtype=torch.long))
    assert report_images(None) == 0
    assert report_images(pairs) == report_images(DataLoader(pairs, batch_size=16)) == 40
    assert report_images(colour_blobs(24)) == 24


class _TenMillisecondsPerCall(nn.Module):
    def forward(self, x):
        time.sleep(0.01)
        return x.mean((2, 3))


def test_a_budget_keeps_the_latency_tables_time_as_timed_on_the_unpruned_network():
    """The table makes 13 calls per network (3 warm-up, 10 timed), two networks, at batch 1 and
    128: a network whose every call takes at least 10 ms needs at least 0.52 s of it."""
    assert latency_seconds(_TenMillisecondsPerCall(), (3, 4, 4), "cpu") >= 2 * 13 * 2 * 0.01
