"""The main job in a 15-minute budget on this machine, and the tools it is compared with at that budget.

    python benchmarks/compare_budget.py --data ../shared/data/cifar10-jpeg.tar.gz --seeds 0,1,2 \\
        --rows ours,ours-matlab-rule,torch-pruning,modelopt --budget 15m

Rows, each on the bundled cifarnet, CIFAR-10 JPEGs, floor 85%, every test accuracy on all
10,000 test images (never used for a decision):

- ``ours``: exactly what ``make prune`` runs (``taylorprune prune --time-budget``, defaults),
  timed from process start to exit; ``--seed`` varies training, while ``--validation-seed 0``
  keeps the 5,000 validation images the bundled cifarnet was trained without;
- ``ours-matlab-rule``: the same with ``--confidence 0`` (MATLAB's plain rule on the whole
  validation split);
- ``torch-pruning``: Torch-Pruning 1.6.1's global Taylor pruning replaying the ``ours`` run of
  the same seed (``benchmarks/tp_loop.py --like``): the same learnables after every step, the
  same fine-tuning images per step and at the end, so equal size and equal training;
- ``modelopt``: NVIDIA ModelOpt 0.47 FastNAS to the learnables the ``ours`` run of the same seed
  reached, fine-tuned on as many images (``benchmarks/modelopt_fastnas.py``);
- ``modelopt-budget``: the same, held to the wall time of the ``ours`` rows from process start
  (``modelopt_fastnas.py --time-budget``): the search, then as many of those images as fit, in
  bf16 where ours fine-tunes in bf16;
- MATLAB's published row (not re-run: R2026a example, 21.5% fewer learnables, 85.15% test).

The machine is shared: the 1-minute load average is sampled every 15 s during each row and
stored with it (an unloaded 2-core machine has a load near 2 while a run trains), with the CPU
seconds the row's process used and their share of what the machine's cores gave in its wall
time (an unloaded machine gives a run close to 1).
Writes benchmarks/results/compare_budget.json with the command, commit, versions and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from provenance import write_result  # beside this script

RESULTS = Path(__file__).parent / "results" / "compare_budget.json"
REPLAYS = ("torch-pruning", "modelopt", "modelopt-budget")  # rows that replay the ours row of their seed
HERE = Path(__file__).parent
MATLAB_PUBLISHED = {"row": "matlab-published", "learnables_reduction": 0.215, "test_accuracy": 85.15,
                    "baseline_test_accuracy": 90.24, "note": "MATLAB R2026a example as published, not re-run"}


def command(row: str, seed: int, args: argparse.Namespace, out: Path) -> list[str]:
    ours = Path(args.out) / f"ours-seed{seed}"
    if row == "torch-pruning":
        return [sys.executable, str(HERE / "tp_loop.py"), "--data", args.data, "--like", str(ours),
                "--seed", str(seed), "--out", str(out)]
    if row in ("modelopt", "modelopt-budget"):
        held = ["--time-budget", args.budget] if row == "modelopt-budget" else []
        return [sys.executable, str(HERE / "modelopt_fastnas.py"), "--data", args.data, "--like", str(ours),
                "--seed", str(seed), *held, "--out", str(out), "--json", str(out / "provenance.json")]
    extra = (["--confidence", "0"] if row == "ours-matlab-rule" else []) + shlex.split(args.prune_args)
    return [sys.executable, "-m", "taylorprune", "prune", "--model", "cifarnet", "--pretrained", "--data", args.data,
            "--time-budget", args.budget, "--seed", str(seed), "--validation-seed", "0", *extra, "--out", str(out),
            "--force", "--quiet"]


def run_row(row: str, seed: int, args: argparse.Namespace) -> dict:
    """One row's process, timed from start to exit, with the load sampled while it runs."""
    out = Path(args.out) / f"{row}-seed{seed}"
    cmd = command(row, seed, args, out)
    loads: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(15):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    start, used = time.perf_counter(), _children_cpu_s()
    sampler.start()
    process = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu_s() - used
    done.set()
    result_file = out / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    # The row's own fields last: a script's result naming itself ("modelopt-fastnas") must not rename the
    # row, or a later run of the row would not replace this one.
    row_result = {**result, "row": row, "seed": seed, "command": " ".join(cmd[1:]), "wall_s": wall,
                  "exit": process.returncode, "cpu_s": cpu, "cpu_share_of_machine": cpu / (wall * (os.cpu_count() or 1)),
                  "load_1min": {"samples": loads, "mean": sum(loads) / len(loads) if loads else None},
                  "stdout_tail": process.stdout[-2000:], "stderr_tail": process.stderr[-2000:]}
    keys = ("row", "seed", "learnables_reduction", "test_accuracy", "wall_s", "exit")
    print(json.dumps({k: row_result.get(k) for k in keys} | {"load": row_result["load_1min"]["mean"]}), flush=True)
    return row_result


def _children_cpu_s() -> float:
    """User + system CPU seconds of the finished child processes: the row's share of a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds of every row")
    parser.add_argument("--rows", default="ours,ours-matlab-rule,torch-pruning,modelopt")
    parser.add_argument("--budget", default="15m", help="--time-budget of the ours rows")
    parser.add_argument("--prune-args", default="", help="more flags for the ours rows (a lever to measure), "
                        "e.g. '--distillation-weight 0'")
    parser.add_argument("--out", default="runs/compare-budget")
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    rows = args.rows.split(",")
    replays = [r for r in rows if r in REPLAYS]
    if replays and "ours" in rows and rows.index("ours") > rows.index(replays[0]):
        parser.error("torch-pruning and the modelopt rows replay the ours row of the same seed: put ours before them")
    path = Path(args.json)
    previous = json.loads(path.read_text())["rows"] if path.exists() else []
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for row in rows:
            results.append(run_row(row, seed, args))
            done = {(r["row"], r["seed"]) for r in results}
            kept = [r for r in previous if (r["row"], r.get("seed")) not in done and r["row"] != "matlab-published"]
            # Written after every row: a killed benchmark keeps the rows it finished.
            write_result(path, {"rows": [*kept, *results, MATLAB_PUBLISHED]}, seed=None)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
