"""modelopt_fastnas.py's data: our run's three-way split, rebuilt the way the loop builds it."""

import argparse
import sys
from pathlib import Path

import pytest
import torch

from taylorprune.data import ImageData

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def script(monkeypatch):
    pytest.importorskip("modelopt")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import modelopt_fastnas

    yield modelopt_fastnas
    for name in ("modelopt_fastnas", "provenance"):
        sys.modules.pop(name, None)


def test_splits_partition_the_held_out_images_like_the_loop(script, monkeypatch):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (60, 3, 4, 4), dtype=torch.uint8, generator=g)
    data = ImageData(images, torch.arange(60) % 3, classes=["a", "b", "c"])
    monkeypatch.setattr(script, "load_data", lambda path: (data, data.subset(torch.arange(6))))
    args = argparse.Namespace(data="x", validation=20, split_seed=0, acceptance_share=0.8, seed=1)
    train, selection, acceptance, test = script.splits(args)
    assert (len(train), len(selection), len(acceptance), len(test)) == (40, 4, 16, 6)
    seen = torch.cat([train.images, selection.images, acceptance.images]).flatten(1)
    assert len(torch.unique(seen, dim=0)) == 60  # every image in exactly one part
