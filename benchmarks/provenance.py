"""Where a benchmark's numbers came from: one block every result file carries.

    from provenance import write_result   # beside the benchmark scripts
    write_result(path, {"rows": rows}, seed=0)

writes ``{"provenance": {...}, **payload}``: the command line, the seed, the git commit (and
whether the working tree had uncommitted changes), library versions, the machine (CPU,
cores, threads, load average at the end of the run) and the GPU, if one was used.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

import taylorprune
from taylorprune.benchmark.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "torchvision", "numpy", "onnxruntime", "torch-pruning", "nvidia-modelopt")  # as installed, where they are


def provenance(seed: int | None) -> dict[str, Any]:
    """The command, seed, commit, versions and machine of this process's run."""
    # A tree copied to another machine (a GPU's) names its commit in BENCHMARK_COMMIT: a .git
    # travelling with it may be older than the files, so git cannot tell there.
    named = os.environ.get("BENCHMARK_COMMIT")
    return {
        "command": " ".join(["python", _script(), *sys.argv[1:]]),
        "seed": seed,
        "git_commit": named or _git("rev-parse", "HEAD"),
        "git_dirty": None if named else _dirty(),
        "versions": {"taylorprune": taylorprune.__version__,
                     **{name: version for name in PACKAGES if (version := _version(name))}},
        "machine": describe_machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_result(path: Path, payload: dict[str, Any], *, seed: int | None) -> Path:
    """Write ``payload`` with its provenance as indented JSON; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"provenance": provenance(seed), **payload}, indent=1) + "\n")
    return path


def hardware(prov: dict[str, Any]) -> str:
    """One phrase for the machine of a provenance block (older result files said it in "hardware")."""
    if "hardware" in prov:
        return prov["hardware"]
    machine = prov["machine"]
    return f"{machine['cpu']}, {machine['cores']} CPU cores" + (f", {prov['gpu']}" if prov.get("gpu") else "")


def _script() -> str:
    script = Path(sys.argv[0]).resolve()
    return str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _dirty() -> bool | None:
    """Whether tracked files differ from the commit (None when git is not at hand)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
