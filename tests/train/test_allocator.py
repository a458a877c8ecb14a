import importlib
import platform
import subprocess
import sys

import pytest
import torch

from taylorprune.train import TrainingOptions, allocator, evaluate, train_network
from tests.fixtures import colour_blobs
from tests.train.test_loop import tiny_net

loop_module = importlib.import_module("taylorprune.train.loop")
evaluate_module = importlib.import_module("taylorprune.train.evaluate")

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")

# Twenty training steps of a small convolutional network on 128 images of 32x32 (8 MB activations,
# as cifarnet's first stage); print the minor page faults they took.
FAULTS = """
import resource, sys, torch
from torch import nn
from taylorprune.train.allocator import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                    nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
def step():
    nn.functional.cross_entropy(net(x), y).backward()
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", FAULTS, mode], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1])


@pytest.mark.slow  # two fresh interpreters
@glibc
def test_kept_memory_is_not_faulted_back_in_for_every_mini_batch():
    default, kept = _faults("default"), _faults("kept")
    assert default > 40_000  # glibc as it comes: freed activations go back to the OS, and fault in again
    assert kept < default / 10


def test_other_c_libraries_are_left_as_they_are(monkeypatch):
    allocator.keep_freed_memory.cache_clear()
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    try:
        assert allocator.keep_freed_memory() is False
    finally:
        allocator.keep_freed_memory.cache_clear()


def test_training_and_evaluating_on_the_cpu_keep_freed_memory(monkeypatch):
    calls = []
    for module in (loop_module, evaluate_module):
        monkeypatch.setattr(module, "keep_freed_memory", lambda: calls.append(1) or True)
    data = colour_blobs(64)
    net, _ = train_network(tiny_net(), data, options=TrainingOptions(max_epochs=1, mini_batch_size=32, verbose=False,
                                                                     execution_environment="cpu"))
    assert calls
    calls.clear()
    evaluate(net, data, device=torch.device("cpu"))
    assert calls
