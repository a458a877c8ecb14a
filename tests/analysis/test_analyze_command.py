"""`taylorprune analyze` end to end through cli.main (a thin wrapper: load, analyse, render)."""

import json
import time

import pytest

from taylorprune.cli import main


def test_prints_headline_and_tables_and_writes_files(tmp_path, capsys):
    start = time.perf_counter()
    code = main(
        [
            "analyze",
            "--model",
            "cifarnet",
            "--json",
            str(tmp_path / "a.json"),
            "--markdown",
            str(tmp_path / "a.md"),
        ]
    )
    elapsed = time.perf_counter() - start
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("The trained network takes up 1.0 MB of memory. Pruning can reduce")
    assert "layer3.2.conv2" in out and "Channel groups" in out
    assert json.loads((tmp_path / "a.json").read_text())["learnables"] == 272_474
    assert (tmp_path / "a-memory.png").is_file() and f"saved {tmp_path / 'a.md'}" in out
    assert elapsed < 15  # target 3 s on an idle CPU; generous here for shared CI machines


def test_input_size_is_honoured(capsys):
    assert main(["analyze", "--model", "resnet20", "--input-size", "3,64,64"]) == 0
    assert "input 3x64x64" in capsys.readouterr().out


def test_bad_input_size_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--model", "cifarnet", "--input-size", "3x32"])
    assert "not a size like 3,32,32" in capsys.readouterr().err


def test_unknown_model_is_one_line_error(capsys):
    assert main(["analyze", "--model", "no_such_net"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
