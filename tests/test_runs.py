"""Run folders (runs.py) at their edges: a run stopped before anything was measured."""

import json

import pytest

import taylorprune.prune.steps
from taylorprune.cli import main
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

