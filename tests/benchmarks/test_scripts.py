"""Every benchmark script imports: a name it takes from taylorprune that was renamed or removed fails
here, not hours later when someone reruns the benchmark. Optional third-party tools it compares
with (Torch-Pruning, ModelOpt) may be absent; only those are skipped."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their helpers (provenance) from beside them
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] in ("taylorprune", *SCRIPTS):
            raise
        pytest.skip(f"optional tool {error.name} is not installed")
    finally:  # the scripts and their helpers stay out of other tests' imports
        for module in [m for m, v in sys.modules.items() if BENCHMARKS in Path(getattr(v, "__file__", None) or "/").parents]:
            del sys.modules[module]
