"""The whole shared CIFAR-10 JPEG set: decoded once, then read from the real cache dir."""

import os
import time
from pathlib import Path

import pytest
import torch

from taylorprune.data import CIFAR10_CLASSES, load_cifar10

ARCHIVE = Path(__file__).parents[2] / ".." / "shared" / "data" / "cifar10-jpeg.tar.gz"
USER_CACHE_DIR = os.environ.get("TAYLORPRUNE_DATA")  # as set before the autouse fixture


@pytest.mark.shared
def test_shared_jpeg_set(monkeypatch: pytest.MonkeyPatch) -> None:
    if not ARCHIVE.is_file():
        pytest.skip(f"{ARCHIVE} is absent (the shared data folder is not mounted)")
    if USER_CACHE_DIR is None:  # keep the decoded set between runs: use the real cache dir
        monkeypatch.delenv("TAYLORPRUNE_DATA")
    else:
        monkeypatch.setenv("TAYLORPRUNE_DATA", USER_CACHE_DIR)
    load_cifar10(ARCHIVE, download=False)  # decodes on the first run ever, a few seconds
    start = time.perf_counter()
    train, test = load_cifar10(ARCHIVE, download=False)
    seconds = time.perf_counter() - start
    assert seconds < 1.0, f"cached load took {seconds:.2f} s"
    assert train.images.shape == (50_000, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (10_000, 3, 32, 32)
    assert train.classes == test.classes == CIFAR10_CLASSES
    assert train.labels.bincount().tolist() == [5000] * 10
    assert test.labels.bincount().tolist() == [1000] * 10
