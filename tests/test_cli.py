"""The command line end to end on a tiny image folder and a tiny network."""

import json
import subprocess
import sys

import pytest
import torch

from taylorprune.artifacts import load_network
from taylorprune.cli import main

TINY = "tests.fixtures:tiny_resnet"


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "taylorprune", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in ("train", "test", "analyze", "prune", "export"):
        assert name in out.stdout


def test_train_then_test_the_saved_model(folder, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", TINY, "--data", str(folder), "--epochs", "2", "--batch-size", "32",
                 "--lr", "0.05", "--validation", "30", "--out", str(out), "--quiet",
                 "--plots", "training-progress", "--execution-environment", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "accuracy:" in printed
    assert {"model.safetensors", "options.json", "history.json", "training-progress.png"} <= {
        p.name for p in out.iterdir()}
    history = json.loads((out / "history.json").read_text())
    assert len(history["training_history"]) == 2 * (210 // 32)
    capsys.readouterr()
    # The saved manifest names the user's factory: loading it again needs the user's trust.
    assert main(["test", "--model", str(out / "model.safetensors"), "--data", str(folder)]) == 2
    assert "names the builder 'tests.fixtures:tiny_resnet'" in capsys.readouterr().err
    assert main(["test", "--model", str(out / "model.safetensors"), "--data", str(folder), "--trust-code"]) == 0
    assert capsys.readouterr().out.strip() == f"accuracy: {history['test_accuracy']:.2f}"


def test_prune_writes_a_loadable_network_and_its_report(folder, tmp_path, capsys):
    out = tmp_path / "pruned"
    code = main(["prune", "--model", TINY, "--data", str(folder), "--min-accuracy", "0", "--goal", "0.3",
                 "--increment", "0.15", "--epochs", "1", "--batch-size", "32", "--validation", "30",
                 "--score-iterations", "2", "--out", str(out), "--quiet", "--execution-environment", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "fewer learnable parameters" in printed and "Pruning compressed" in printed
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "history.json", "pruning_history.csv", "progress.png", "report.md",
            "result.json"} <= names
    result = json.loads((out / "result.json").read_text())
    assert result["learnables"][1] == json.loads((out / "history.json").read_text())["learnables"]
    assert result["macs"][1] < result["macs"][0] and 0 <= result["test_accuracy"] <= 100
    assert result["fine_tuning_epochs"] == pytest.approx(result["iterations"] * 1, rel=0.01)
    assert "MACs per example" in (out / "report.md").read_text()
    assert [t["batch"] for t in result["latency"]] == [1, 128]
    assert all(t["before_ms"] > 0 and t["after_ms"] > 0 for t in result["latency"])
    history = json.loads((out / "history.json").read_text())
    net = load_network(out / "model.safetensors", trust_code=True)
    assert sum(p.numel() for p in net.parameters()) == history["learnables"] < history["original_learnables"]
    assert net.eval()(torch.rand(2, 3, 8, 8)).shape == (2, 3)


def test_prune_min_increment_none_is_matlabs_rule(folder, tmp_path):
    out = tmp_path / "matlab"
    assert main(["prune", "--model", TINY, "--data", str(folder), "--min-accuracy", "0", "--goal", "0.1",
                 "--increment", "0.1", "--min-increment", "none", "--epochs", "1", "--batch-size", "32",
                 "--validation", "30", "--score-iterations", "1", "--out", str(out), "--quiet",
                 "--execution-environment", "cpu"]) == 0
    assert json.loads((out / "options.json").read_text())["min_increment"] is None
    with pytest.raises(SystemExit):
        main(["prune", "--model", TINY, "--min-increment", "half"])


@pytest.mark.parametrize("argv, message", [
    (["test", "--model", TINY, "--data", "/no/such/data"], "/no/such/data"),
    (["test", "--model", "resnet21", "--data", "{folder}"], "unknown model 'resnet21'"),
    (["prune", "--model", TINY, "--data", "{folder}", "--min-accuracy", "150", "--validation", "30", "--out", "{tmp}/p"], "0..100"),
    (["train", "--model", TINY, "--data", "{folder}", "--epochs", "0", "--out", "{tmp}/t"], "max_epochs"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, folder, tmp_path, capsys):
    argv = [a.format(folder=folder, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and message in err


def test_existing_run_folder_is_never_overwritten(folder, tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["train", "--model", TINY, "--data", str(folder), "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_a_pruned_network_can_be_trained_and_pruned_further(folder, tmp_path):
    first = tmp_path / "first"
    common = ["--data", str(folder), "--epochs", "1", "--batch-size", "32", "--validation", "30", "--quiet",
              "--execution-environment", "cpu"]
    assert main(["prune", "--model", TINY, "--min-accuracy", "0", "--goal", "0.2", "--increment", "0.2",
                 "--score-iterations", "2", "--out", str(first), *common]) == 0
    again = tmp_path / "again"
    assert main(["train", "--model", str(first / "model.safetensors"), "--out", str(again), "--trust-code",
                 *common]) == 0
    more = tmp_path / "more"
    assert main(["prune", "--model", str(again / "model.safetensors"), "--min-accuracy", "0", "--goal", "0.2",
                 "--increment", "0.2", "--score-iterations", "2", "--out", str(more), "--trust-code", *common]) == 0
    sizes = [sum(p.numel() for p in load_network(d / "model.safetensors", trust_code=True).parameters())
             for d in (first, again, more)]
    assert sizes[0] == sizes[1] > sizes[2]


def test_prune_choices_match_the_library():
    from taylorprune.cli import _parser
    from taylorprune.importance import IMPORTANCE, NORMALIZATIONS

    prune = next(a for a in _parser()._subparsers._group_actions[0].choices.items() if a[0] == "prune")[1]
    choices = {a.dest: tuple(a.choices) for a in prune._actions if a.choices}
    assert choices["importance"] == tuple(IMPORTANCE) and choices["normalization"] == tuple(NORMALIZATIONS)


def test_every_command_that_loads_a_model_takes_trust_code():
    from taylorprune.cli import _parser

    commands = _parser()._subparsers._group_actions[0].choices
    loading = [name for name, p in commands.items() if "--model" in p._option_string_actions]
    assert set(loading) >= {"train", "test", "prune", "analyze", "export", "benchmark"}
    for name in loading:
        flag = commands[name]._option_string_actions.get("--trust-code")
        assert flag is not None and flag.default is False and flag.const is True, name
