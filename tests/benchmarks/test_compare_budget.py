"""compare_budget.py: each row's command line (running a row takes 15 minutes, so only the commands here)."""

import argparse
from pathlib import Path

import pytest


@pytest.fixture
def script(benchmark_script):
    return benchmark_script("compare_budget")


def args(**kw):
    return argparse.Namespace(**{"data": "d.tar.gz", "budget": "15m", "out": "o", "prune_args": "", **kw})


def test_the_ours_rows_run_make_prunes_command_with_the_lever_to_measure(script, tmp_path):
    plain = script.command("ours", 2, args(), tmp_path)
    assert plain[plain.index("--time-budget") + 1] == "15m" and plain[plain.index("--seed") + 1] == "2"
    lever = script.command("ours", 0, args(prune_args="--distillation-weight 0"), tmp_path)
    assert lever[lever.index("--distillation-weight") + 1] == "0"
    matlab = script.command("ours-matlab-rule", 0, args(prune_args="--seed-free"), tmp_path)
    assert matlab[matlab.index("--confidence") + 1] == "0" and "--seed-free" in matlab


def test_the_replays_take_the_ours_run_of_their_seed_and_not_its_levers(script, tmp_path):
    for row in script.REPLAYS:
        cmd = script.command(row, 1, args(prune_args="--distillation-weight 0"), tmp_path)
        assert cmd[cmd.index("--like") + 1] == str(Path("o") / "ours-seed1")
        assert "--distillation-weight" not in cmd
