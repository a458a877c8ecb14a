"""Ours against each peer, seed by seed, from the rows compare_budget.py wrote.

    python benchmarks/peer_pairs.py [FILES ...] [--peers modelopt-budget,torch-pruning] \\
        [--json benchmarks/results/peer_pairs-zen4.json]

A peer row (ModelOpt held to the same 15 minutes, Torch-Pruning replaying ours' sizes and
images) is sized from one ``ours`` run: its command names that run's folder with ``--like``,
and the ours row names the same folder with ``--out``. This pairs them across every result
file given (default: the Zen 4 files, ``results/compare_budget-zen4*.json``), so the figures
the docs quote over many rounds are computed, not tallied by hand.

"Equal learnables" is only approximate: ModelOpt's channel grid lands up to a few points
smaller than the size it is asked for. So each peer also gets a straight line of its test accuracy
against its reduction over all its rows, and two readings that use it:

- **size-adjusted difference**: ours' test accuracy minus what the line says the peer would
  reach at ours' size (its own figure moved along the slope to ours' reduction);
- **fewer learnables at equal accuracy**: ours' reduction minus the reduction at which the
  line says the peer would match ours' test accuracy, in points of the original learnables
  (only where the slope is negative). It divides by a slope measured with noise, so its
  spread is wider than its standard error says, which leaves the slope's own error out.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

from provenance import write_result  # beside this script

RESULTS = Path(__file__).parent / "results"
DEFAULT_FILES = "compare_budget-zen4*.json"
PEERS = ("modelopt-budget", "torch-pruning")


def folder(row: dict[str, Any], flag: str) -> str | None:
    """The run folder a row's command names with ``--out`` or ``--like``."""
    found = re.search(rf"--{flag} (\S+)", row.get("command") or "")
    return found.group(1) if found else None


def pairs(files: list[Path], peer: str) -> list[dict[str, Any]]:
    """Every ``peer`` row with the ours row it was sized from, in the order of ``files``."""
    rows = [(f.name, r) for f in files for r in json.loads(f.read_text())["rows"]]
    ours: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
    for name, r in rows:
        if r["row"] == "ours":
            ours.setdefault(folder(r, "out"), []).append((name, r))
    found = []
    for name, r in rows:
        if r["row"] != peer:
            continue
        like = folder(r, "like")
        if like not in ours:
            raise SystemExit(f"error: {name}: the {peer} row of seed {r['seed']} was sized from {like}, "
                             "which no ours row in the files given ran; add its result file")
        if len(ours[like]) > 1:
            raise SystemExit(f"error: {name}: {' and '.join(f for f, _ in ours[like])} both ran into {like}, "
                             f"so its {peer} row of seed {r['seed']} cannot be paired; pass only one of them")
        ours_file, mine = ours[like][0]
        target = r.get("target_learnables")
        if target is not None and target != mine["learnables"][1]:
            raise SystemExit(f"error: {name}: the {peer} row of seed {r['seed']} aimed at {target:,} learnables, "
                             f"but {ours_file}'s run in {like} returned {mine['learnables'][1]:,}; "
                             "the folder was reused, so pair these files separately")
        found.append({"seed": r["seed"], "ours_file": ours_file, "peer_file": name, "run": like,
                      "ours_reduction": 100 * mine["learnables_reduction"], "ours_test": mine["test_accuracy"],
                      "peer_reduction": 100 * r["learnables_reduction"], "peer_test": r["test_accuracy"],
                      "difference": mine["test_accuracy"] - r["test_accuracy"]})
    return found


def line(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least squares ys = intercept + slope * xs, with the slope's standard error."""
    fit = statistics.linear_regression(xs, ys)
    residual = sum((y - fit.intercept - fit.slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    spread = sum((x - statistics.fmean(xs)) ** 2 for x in xs)
    return {"slope": fit.slope, "intercept": fit.intercept,
            "slope_standard_error": math.sqrt(residual / (len(xs) - 2) / spread)}


def mean(values: list[float]) -> dict[str, float | None]:
    """Mean, its standard error (None for a single value), and the range."""
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "standard_error": error, "min": min(values), "max": max(values)}


def summary(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The pairs' differences as measured, and moved along the peer's line to ours' size."""
    diffs = [p["difference"] for p in found]
    out: dict[str, Any] = {
        "pairs": len(found), "difference": mean(diffs),
        "ours_ahead": sum(d > 0 for d in diffs), "ours_ahead_by_a_point": sum(d >= 1 for d in diffs),
        "peer_more_pruned_by": mean([p["peer_reduction"] - p["ours_reduction"] for p in found])}
    if len(found) < 3:
        return out
    fit = line([p["peer_reduction"] for p in found], [p["peer_test"] for p in found])
    out["peer_line"] = fit
    out["size_adjusted_difference"] = mean(
        [p["ours_test"] - p["peer_test"] - fit["slope"] * (p["ours_reduction"] - p["peer_reduction"]) for p in found])
    if fit["slope"] < 0:
        out["fewer_learnables_at_equal_accuracy"] = mean(
            [p["ours_reduction"] - p["peer_reduction"] - (p["ours_test"] - p["peer_test"]) / fit["slope"]
             for p in found])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help=f"compare_budget result files (default: {DEFAULT_FILES})")
    parser.add_argument("--peers", default=",".join(PEERS), help="peer rows to pair with ours, comma-separated")
    parser.add_argument("--json", type=Path, default=RESULTS / "peer_pairs.json", help="where to write the result")
    args = parser.parse_args()
    files = args.files or sorted(RESULTS.glob(DEFAULT_FILES))
    result = {}
    for peer in args.peers.split(","):
        found = pairs(files, peer)
        result[peer] = {"summary": summary(found) if found else None, "pairs": found}
        if found:
            s = result[peer]["summary"]
            error = s["difference"]["standard_error"]
            print(f"{peer}: {s['pairs']} pairs, ours minus peer {s['difference']['mean']:+.2f}"
                  f"{'' if error is None else f' (standard error {error:.2f})'}, ahead in {s['ours_ahead']}")
    write_result(args.json, {"files": [f.name for f in files], "peers": result}, seed=None)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
