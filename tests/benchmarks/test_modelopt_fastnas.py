"""modelopt_fastnas.py: our run's three-way split rebuilt the way the loop builds it, and its
deadline under a time budget reserved the way ours reserves its end (ModelOpt itself is imported
only by the search, so these run without it)."""

import argparse

import pytest
import torch
from torch import nn

from taylorprune.data import ImageData
from taylorprune.prune import budget


@pytest.fixture
def script(benchmark_script):
    return benchmark_script("modelopt_fastnas")


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


def test_deadline_leaves_the_end_of_the_run_and_the_last_evaluation(script):
    selection = ImageData(torch.zeros(20, 3, 4, 4, dtype=torch.uint8), torch.arange(20) % 2, classes=["a", "b"])
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 2))
    deadline, held = script.deadline_after(net, 600.0, clock_start=100.0, selection=selection, report=1000)
    safety = max(budget.SAFETY_SHARE * 600.0, budget.SAFETY_MIN_S)
    assert held["reserved_s"] == pytest.approx(safety + (1000 + 20) * held["eval_image_s"])
    assert deadline == pytest.approx(100.0 + 600.0 - held["reserved_s"])
