"""MATLAB's recipe, Torch-Pruning and each option of ours, row by row, on the same data.

    python benchmarks/compare_matlab.py --data ../shared/data/cifar10-jpeg.tar.gz          # every row
    python benchmarks/compare_matlab.py --data ... --rows matlab-recipe,ours --time-limit 300
    python benchmarks/compare_matlab.py --data ... --scenario 2 --foreign ../shared/models/akamaster-resnet56.th

Scenario 1: the bundled cifarnet, floor 85%. Scenario 2: a foreign network (default ResNet-56
with zero-padding shortcuts) is first fine-tuned on the training split (`taylorprune train`,
best validation) to recover from the JPEG shift; the floor is its validation accuracy minus
one point, and the Torch-Pruning row leaves the residual convs alone (it breaks them).

Each row is one `taylorprune prune` run in its own process (so a time limit is a Ctrl-C:
the run returns its best network so far, marked "Stopped by the user."), reading the
result.json of its run folder; the torch-pruning-taylor row runs benchmarks/tp_loop.py
instead (Torch-Pruning 1.6.1, pip install '.[bench]'), which writes the same result.json.
Validation is a 5,000-image split of the training data; the test set is scored once per
row, at the end. Writes
benchmarks/results/compare_matlab.json with the command, seed, git commit, torch version
and hardware.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from provenance import write_result  # beside this script

RESULTS = Path(__file__).parent / "results" / "compare_matlab.json"
MATLAB_PUBLISHED = {"learnables_reduction": 0.215, "test_accuracy": 85.15, "baseline_test_accuracy": 90.24,
                    "note": "MATLAB R2026a example as published, not re-run"}
COMMON = ["--increment", "0.05", "--batch-size", "128"]
ROWS = {
    # MATLAB's recipe: sgdm at 0.1 with a piecewise drop, fixed 5% steps, stop at the first failure.
    "matlab-recipe": ["--lr", "0.1", "--learn-rate-schedule", "piecewise", "--learn-rate-drop-period", "2",
                      "--learn-rate-drop-factor", "0.1", "--min-increment", "none", "--distill", "0"],
    "matlab-stop-rule": ["--min-increment", "none", "--distill", "0"],  # our fine-tuning, MATLAB's stop rule
    "ours": [],  # defaults: lr 0.01 cosine, distillation 0.5, adaptive steps down to 0.5%
    "ours-matlab-budget": [],  # defaults, total fine-tuning epochs capped at what matlab-recipe spent
    "ours-no-distill": ["--distill", "0"],  # the defaults without distillation (before 2026-11-30: "ours")
    "ours-distill-0.9": ["--distill", "0.9"],  # almost only the teacher's soft targets
    "ours-distill-t2": ["--distill-temperature", "2"],  # sharper soft targets
    "ours-multiple-8": ["--channel-multiple", "8"],  # GPU-friendly widths: what compression costs
    "ours-bn-gate": ["--importance", "bn-gate"],  # Molchanov 2019 instead of MATLAB's criterion
    "ours-taylor-l2": ["--normalization", "l2"],  # per-layer normalised scores (Molchanov 2017)
    "ours-macs": ["--cost", "macs"],  # steps, goal and ranking in MACs
    # steps, goal and ranking in time measured on this device (at batch 128 a GPU is launch-bound)
    "ours-latency": ["--cost", "latency", "--latency-batch", "1024"],
    "ours-final-10": ["--final-epochs", "10"],  # a 10-epoch recovery fine-tuning of the result
    # Torch-Pruning 1.6.1's TaylorImportance, global pruning, in MATLAB's loop with our fine-tuning
    "torch-pruning-taylor": [],
}
SCRIPTS = {"torch-pruning-taylor": Path(__file__).parent / "tp_loop.py"}  # rows run by a script, not the CLI
BUDGET_FROM = {"ours-matlab-budget": "matlab-recipe"}  # rows whose epoch budget another row's run sets


def budget_flags(name: str, done: list[dict], args: argparse.Namespace) -> list[str]:
    """--budget-epochs for a row capped at another row's fine-tuning epochs (run earlier, or --budget-epochs)."""
    if name not in BUDGET_FROM:
        return []
    if args.budget_epochs:
        return ["--budget-epochs", str(args.budget_epochs)]
    source = next(r for r in done if r["row"] == BUDGET_FROM[name])  # main() checked the order
    if "fine_tuning_epochs" not in source:
        sys.exit(f"row {BUDGET_FROM[name]} has no result ({source.get('error')}), so row {name} has no budget")
    return ["--budget-epochs", str(round(source["fine_tuning_epochs"]))]


def row_command(name: str, flags: list[str], args: argparse.Namespace, out: Path) -> list[str]:
    """`taylorprune prune`, or the row's script, given the same data, budget and seed."""
    shared = ["--model", args.model, "--data", args.data, "--epochs", str(args.epochs),
              "--validation", str(args.validation), "--goal", str(args.goal), "--seed", str(args.seed), *COMMON,
              *flags, "--out", str(out)]
    if name in SCRIPTS:
        residual = ["--ignore-residual"] if args.scenario == 2 else []
        return [sys.executable, str(SCRIPTS[name]), "--floor", str(args.floor), *shared, *residual]
    return [sys.executable, "-m", "taylorprune", "prune", "--min-accuracy", str(args.floor), *shared, "--force",
            "--quiet", *(["--pretrained"] if args.model == "cifarnet" else [])]


def run_row(name: str, flags: list[str], args: argparse.Namespace) -> dict:
    out = Path(args.out) / name
    command = row_command(name, flags, args, out)
    start = time.perf_counter()
    process = subprocess.Popen(command)
    try:
        process.wait(timeout=args.time_limit)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # the run keeps its best network and writes its folder
        process.wait()
    wall = time.perf_counter() - start
    result_file = out / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {"error": f"exit {process.returncode}"}
    row = {"row": name, "flags": flags, "wall_s": wall, **result}
    print(json.dumps({k: row.get(k) for k in ("row", "learnables_reduction", "macs_reduction", "test_accuracy",
                                              "stop_reason", "fine_tuning_epochs", "wall_s")}), flush=True)
    return row


def recover(args: argparse.Namespace) -> tuple[str, float, dict]:
    """Scenario 2: fine-tune the foreign network first; its file, floor and training figures."""
    out = Path(args.out) / "recovered"
    command = [sys.executable, "-m", "taylorprune", "train", "--model", args.arch, "--weights", args.foreign,
               "--data", args.data, "--validation", str(args.validation), "--epochs", str(args.recover_epochs),
               "--lr", "0.01", "--learn-rate-schedule", "cosine", "--objective-metric-name", "accuracy",
               "--output-network", "best-validation", "--seed", str(args.seed), "--out", str(out), "--force",
               "--quiet"]
    subprocess.run(command, check=True)
    history = json.loads((out / "history.json").read_text())
    best = max(r["accuracy"] for r in history["validation_history"])
    figures = {"command": " ".join(command[1:]), "validation_accuracy": best,
               "test_accuracy": history["test_accuracy"], "elapsed_s": history["elapsed_s"]}
    return str(out / "model.safetensors"), best - 1.0, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--scenario", type=int, choices=(1, 2), default=1)
    parser.add_argument("--model", default="cifarnet", help="scenario 1: network to prune (bundled cifarnet)")
    parser.add_argument("--foreign", help="scenario 2: the foreign checkpoint to recover and prune")
    parser.add_argument("--arch", default="resnet56", help="scenario 2: the checkpoint's architecture")
    parser.add_argument("--recover-epochs", type=int, default=10, help="scenario 2: fine-tuning epochs first")
    parser.add_argument("--floor", type=float, help="validation accuracy floor (scenario 1: 85; "
                                                     "scenario 2: the recovered accuracy minus 1)")
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs per pruning iteration")
    parser.add_argument("--validation", type=int, default=5000, help="validation images carved from train")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {', '.join(ROWS)}")
    parser.add_argument("--goal", type=float, default=1.0,
                        help="learnables reduction goal of every row (1: prune until the floor stops it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run")
    parser.add_argument("--budget-epochs", type=int,
                        help="fine-tuning epochs of the ours-matlab-budget row (default: what matlab-recipe spent)")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds per row before Ctrl-C")
    parser.add_argument("--out", default="runs/compare-matlab")
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    names = args.rows.split(",")
    unknown = set(names) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}")
    for name, source in BUDGET_FROM.items():  # fail now, not after the rows before it have run
        if name in names and not args.budget_epochs and source not in names[: names.index(name)]:
            parser.error(f"row {name} needs the {source} row earlier in --rows, or --budget-epochs N")
    recovered = None
    if args.scenario == 2:
        if not args.foreign:
            parser.error("--scenario 2 needs --foreign CHECKPOINT")
        args.model, floor, recovered = recover(args)
        args.floor = floor if args.floor is None else args.floor
    elif args.floor is None:
        args.floor = 85.0
    rows: list[dict] = []
    for name in names:
        rows.append(run_row(name, ROWS[name] + budget_flags(name, rows, args), args))
    result = {"scenario": args.scenario, "floor": args.floor, "recovered": recovered,
              "matlab_as_published": MATLAB_PUBLISHED if args.scenario == 1 else None, "rows": rows,
              "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    write_result(Path(args.json), result, seed=args.seed)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
