from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import TinyCifar, tiny_cifar


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep ~/.cache and $TAYLORPRUNE_DATA untouched: each test gets its own cache dir."""
    folder = tmp_path / "cache-dir"
    monkeypatch.setenv("TAYLORPRUNE_DATA", str(folder))
    return folder


@pytest.fixture
def cifar() -> TinyCifar:
    return tiny_cifar()
