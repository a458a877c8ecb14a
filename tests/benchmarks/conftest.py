"""A benchmark script imported as a module, and dropped again so other tests never see it."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def benchmark_script(monkeypatch):
    """``benchmark_script(name)`` imports benchmarks/NAME.py (its helpers from beside it)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    imported = []

    def load(name: str):
        imported.append(name)
        return importlib.import_module(name)

    yield load
    for name in (*imported, "provenance"):
        sys.modules.pop(name, None)
