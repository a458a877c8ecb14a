"""The command line end to end on a tiny image folder and a tiny network."""

import contextlib
import json
import subprocess
import sys

import pytest
import torch

from taylorprune.artifacts import load_network
from taylorprune.cli import main
from taylorprune.errors import InputError

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
    report = (out / "report.md").read_text()
    assert "MACs per example" in report
    # The default rule: a 95% lower bound on an acceptance split; the test figure, never a decision's.
    assert "lower bound (Wilson) of its accuracy" in report and "% bounds " in report
    assert f"Test accuracy of the returned network: {result['test_accuracy']:.4g}%. The test data was never used " \
        "for a decision." in report
    assert [t["batch"] for t in result["latency"]] == [1, 128]
    assert all(t["before_ms"] > 0 and t["after_ms"] > 0 for t in result["latency"])
    history = json.loads((out / "history.json").read_text())
    net = load_network(out / "model.safetensors", trust_code=True)
    assert sum(p.numel() for p in net.parameters()) == history["learnables"] < history["original_learnables"]
    assert net.eval()(torch.rand(2, 3, 8, 8)).shape == (2, 3)


def test_a_budgeted_prune_reports_its_budget_and_time_split(folder, tmp_path):
    out = tmp_path / "budgeted"
    assert main(["prune", "--model", TINY, "--data", str(folder), "--min-accuracy", "0", "--goal", "0.3",
                 "--batch-size", "32", "--validation", "30", "--score-iterations", "2", "--time-budget", "8s",
                 "--out", str(out), "--quiet", "--execution-environment", "cpu"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["time_budget_s"] == 8.0 and result["stop_reason"]
    assert "s of a 8 s budget (" in (out / "report.md").read_text()


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


def _subparser(name):
    from taylorprune.cli import build_parser

    return build_parser()._subparsers._group_actions[0].choices[name]


def _flags(parser) -> dict[str, object]:
    return {a.dest: a for a in parser._actions if a.option_strings}


def test_prune_choices_are_the_registries():
    from taylorprune.importance import IMPORTANCE, NORMALIZATIONS
    from taylorprune.prune import COSTS

    flags = _flags(_subparser("prune"))
    assert flags["importance"].choices == tuple(IMPORTANCE)
    assert flags["normalization"].choices == tuple(NORMALIZATIONS)
    assert flags["cost"].choices == tuple(COSTS)


@pytest.mark.parametrize("command", ["prune", "train"])
def test_every_options_field_is_a_flag_with_its_default(command):
    """Options are the single source: a field added to a dataclass is a flag of its subcommand."""
    import dataclasses

    from taylorprune.cli import prune, train
    from taylorprune.prune import FINE_TUNING, PruningOptions
    from taylorprune.train import TrainingOptions

    flags = _flags(_subparser(command))
    sources = [(TrainingOptions(), train.NOT_FLAGS, train.OVERRIDES)] if command == "train" else [
        (FINE_TUNING, train.NOT_FLAGS, train.OVERRIDES), (None, frozenset(), prune.OVERRIDES)]
    for base, skipped, overrides in sources:
        for f in dataclasses.fields(base or PruningOptions):
            if f.name in skipped:
                continue
            action = flags[f.name]
            assert f"--{f.name.replace('_', '-')}" in action.option_strings
            default = overrides[f.name].default if f.name in overrides else getattr(base, f.name, f.default)
            assert action.default == default, f.name


def test_pruning_flags_build_the_same_options_as_python():
    from taylorprune.cli.flags import options_from_args
    from taylorprune.prune import PruningOptions

    args = _subparser("prune").parse_args([
        "--min-accuracy", "70", "--goal", "0.4", "--increment", "0.1", "--min-increment", "none",
        "--layers", "layer1.0.conv1,layer2.0.conv1", "--budget-epochs", "12", "--cost", "macs",
        "--distill", "0", "--validation", "300", "--time-budget", "2m30s", "--confidence", "0.9",
        "--acceptance-share", "0.5", "--validation-seed", "3"])
    assert options_from_args(PruningOptions, args) == PruningOptions(
        validation_threshold=70.0, learnables_reduction_goal=0.4, learnables_reduction_increment=0.1,
        min_increment=None, layer_names=("layer1.0.conv1", "layer2.0.conv1"), fine_tuning_budget_epochs=12,
        cost="macs", distillation_weight=0.0, validation_split=300.0, time_budget_s=150.0, confidence=0.9,
        acceptance_share=0.5, validation_seed=3)


@pytest.mark.parametrize("flag, value, field", [("--confidence", "1", "confidence"),
                                                ("--acceptance-share", "0", "acceptance_share"),
                                                ("--validation-seed", "-1", "validation_seed"),
                                                ("--time-budget", "0", "time budget")])
def test_a_budget_or_confidence_flag_out_of_range_is_one_error_line(flag, value, field, capsys):
    with pytest.raises(SystemExit) if flag == "--time-budget" else contextlib.nullcontext():
        assert main(["prune", flag, value, "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err


def test_a_bad_flag_value_names_the_type(capsys):
    with pytest.raises(SystemExit):
        main(["prune", "--budget-epochs", "many"])
    assert "'many' is not int or none" in capsys.readouterr().err


@pytest.mark.parametrize("text, seconds", [("15m", 900.0), ("900s", 900.0), ("1h30m", 5400.0), ("none", None)])
def test_the_time_budget_takes_durations(text, seconds):
    assert _subparser("prune").parse_args(["--time-budget", text]).time_budget_s == seconds


def test_a_bad_time_budget_says_how_to_write_one(capsys):
    with pytest.raises(SystemExit):
        main(["prune", "--time-budget", "15 minutes"])
    assert "write e.g. 15m, 900s or 1h30m" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["prune", "train"])
def test_the_default_validation_split_fits_a_small_data_set_and_is_said(command, folder, tmp_path, capsys):
    """240 training images: the old default of 5,000 validation images could not be carved."""
    argv = [command, "--model", TINY, "--data", str(folder), "--epochs", "1", "--batch-size", "32", "--quiet",
            "--execution-environment", "cpu", "--out", str(tmp_path / "run")]
    if command == "prune":
        argv += ["--min-accuracy", "0", "--goal", "0.1", "--increment", "0.1", "--score-iterations", "1"]
    assert main(argv) == 0
    assert "validation: 60 of 240 training images (default: 10% capped at 5,000" in capsys.readouterr().out


def test_every_command_that_loads_a_model_takes_trust_code():
    from taylorprune.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    loading = [name for name, p in commands.items() if "--model" in p._option_string_actions]
    assert set(loading) >= {"train", "test", "prune", "analyze", "export", "benchmark"}
    for name in loading:
        flag = commands[name]._option_string_actions.get("--trust-code")
        assert flag is not None and flag.default is False and flag.const is True, name


@pytest.mark.parametrize("size, seed, pretrained, images, leaks", [
    (None, 0, True, 50_000, False),  # the default split: the images the bundled weights were trained without
    (2_000, 0, True, 50_000, False),  # fewer of them
    (None, 3, True, 50_000, True),  # another seed: images they were trained on
    (6_000, 0, True, 50_000, True),  # more than they were trained without
    (None, 3, False, 50_000, False),  # no bundled weights, nothing to check
    (None, 3, True, 40_000, False),  # not the training set they came from
])
def test_validation_on_images_the_bundled_weights_were_trained_on_is_refused(size, seed, pretrained, images, leaks):
    import argparse

    from taylorprune.cli.common import carve_validation
    from taylorprune.data import ImageData

    labels = torch.arange(images) % 10
    data = ImageData(torch.zeros(images, 1, 1, 1, dtype=torch.uint8), labels, [str(k) for k in range(10)])
    args = argparse.Namespace(model="cifarnet", pretrained=pretrained)
    if leaks:
        with pytest.raises(InputError, match="ones the bundled cifarnet weights were trained on.*--validation-seed 0"):
            carve_validation(data, size, seed, args)
    else:
        assert len(carve_validation(data, size, seed, args)[1]) == (size or min(images // 10, 5_000))
