"""What the integrity checks cost on CIFAR-10 (60,000 images): the decoded-image cache key (of
the archive, and of the same JPEGs extracted to a folder), the --resume data and weights
fingerprints, beside what they guard (a cached load, a decode).

    python benchmarks/integrity_cost.py [--archive ../shared/data/cifar10-jpeg.tar.gz] [--repeats 7]

Each measurement is repeated, interleaved with the others (A, B, C, A, B, C, ...), so a load
that comes and goes on a shared machine touches all alike; medians and minima are reported,
with the load average before and after. The decode is timed once, into a fresh cache dir.
Writes benchmarks/results/integrity_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from taylorprune import fingerprints
from taylorprune.artifacts import weights_sha256
from taylorprune.data import load_cifar10, split_validation
from taylorprune.data.cache import VERSION, _content_digest
from taylorprune.models import create_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "integrity_cost.json"
ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
READER = {"reader": "train-test"}  # as data.sources reads a train/test source


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as extracted:
        os.environ["TAYLORPRUNE_DATA"] = cache
        with tarfile.open(args.archive) as tar:
            tar.extractall(extracted, filter="data")
        (folder,) = Path(extracted).iterdir()
        decode_s = _seconds(lambda: load_cifar10(args.archive, download=False))  # the miss: a decode
        train, test = load_cifar10(args.archive, download=False)
        fit, validation = split_validation(train, 5000, seed=0)
        net = create_model("cifarnet")
        cases = {
            "cache key: sha256 of the archive": lambda: _content_digest(args.archive, [VERSION, READER]),
            "cache key: the same JPEGs as a folder (60,000 files)": lambda: _content_digest(folder,
                                                                                          [VERSION, READER]),
            "cached load (cache key + memory map)": lambda: load_cifar10(args.archive, download=False),
            "data fingerprint: 45,000 train + 5,000 validation images": lambda: (
                fingerprints.data_sha256(fit), fingerprints.data_sha256(validation)),
            "data fingerprint: all 60,000 images": lambda: (
                fingerprints.data_sha256(train), fingerprints.data_sha256(test)),
            "weights fingerprint: cifarnet": lambda: weights_sha256(net.state_dict()),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, fn in cases.items():
                times[name].append(_seconds(fn))
    rows = [{"what": name, "median_ms": 1000 * statistics.median(t), "min_ms": 1000 * min(t),
             "repeats": len(t)} for name, t in times.items()]
    for row in rows:
        print(f"{row['what']}: median {row['median_ms']:.1f} ms, min {row['min_ms']:.1f} ms")
    print(f"decode (first load, fresh cache dir): {decode_s:.1f} s")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "provenance": {
            "command": " ".join(["python", "benchmarks/integrity_cost.py", *sys.argv[1:]]),
            "git_commit": commit, "torch": torch.__version__, "python": platform.python_version(),
            "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
            "archive": {"name": args.archive.name, "bytes": args.archive.stat().st_size},
            "load_average_before_after": [load_before, os.getloadavg()],
            "note": "shared machine: measurements interleaved, medians and minima",
        },
        "decode_first_load_s": decode_s,
        "rows": rows,
    }, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
