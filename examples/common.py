"""What the examples share: provenance for their result files, and process-tree memory sampling."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from taylorprune.benchmark.machine import describe_machine


def provenance() -> dict[str, Any]:
    """The command, git commit, versions and machine a result came from."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or None
    return {"command": "python " + " ".join(sys.argv), "git_commit": commit, "torch": torch.__version__,
            "machine": describe_machine()}


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The arguments every example takes: seed, threads, verbosity, where the result goes."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; on a machine "
                   "other jobs load, 1 avoids threads spinning on each other)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--out", help="JSON result file (with provenance)")


def outcome(info: Any, prune_s: float) -> dict[str, Any]:
    """What every example reports of its pruning run (a PruningInfo)."""
    return {"learnables": [info.original_learnables, info.learnables],
            "iterations": len(info.pruning_history) - 1, "stop_reason": info.stop_reason.value,
            "stop_detail": info.stop_detail, "prune_s": round(prune_s, 1)}


def write_result(path: str | Path | None, result: dict[str, Any]) -> None:
    """Print the result and, when ``path`` is given, write it as JSON with its provenance."""
    result = {**result, **provenance()}
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1, default=str))
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=1, default=str) + "\n")


class TreeMemory:
    """Peak memory of this process and its children (loader workers), sampled every ``period`` s.

    Linux only (/proc). ``rss`` sums the processes' resident sets, which counts pages the
    forked workers share with the parent once per process: an upper bound. ``pss`` shares
    those pages out (proportional set size): the memory the tree really holds.
    """

    def __init__(self, period: float = 0.2) -> None:
        self.period, self.peak_rss, self.peak_pss = period, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for pid in _tree(os.getpid()):
                r, p = _memory(pid)
                rss, pss = rss + r, pss + p
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            time.sleep(self.period)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes from /proc/PID/smaps_rollup; (0, 0) if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in text.splitlines()[1:]
              if line.split()[-1] == "kB"}
    return fields.get("Rss", 0), fields.get("Pss", 0)
