"""Fixtures shared across test folders (helpers without fixtures live in tests/fixtures.py)."""

import os

import pytest
import torch
from PIL import Image

from tests.fixtures import colour_blobs

# Tests that take more than a few seconds on a 2-core CPU: subprocesses, torchrun, whole
# pruning runs through the CLI, torchvision networks, exports, the shared-data accuracy
# checks. They carry the "slow" marker: `make test` runs them, `make check` leaves them out.
SLOW = (
    "tests/test_resume.py",
    "tests/test_distributed.py",
    "tests/models/test_pretrained.py",
    "tests/models/test_foreign_accuracy.py",
    "tests/export/",
    "tests/graph/test_zoo.py::test_torchvision",
    "tests/graph/test_zoo.py::test_convnext",
    "tests/analysis/test_compression.py::test_torchvision_networks",
    "tests/importance/test_variants.py::test_two_ranks",
    "tests/test_artifacts.py::test_round_trip_in_a_fresh_process",
    "tests/test_cli.py::test_help_lists_every_subcommand",
    "tests/test_cli.py::test_a_pruned_network_can_be_trained_and_pruned_further",
    "tests/test_cli.py::test_prune_min_increment_none_is_matlabs_rule",
    "tests/test_cli.py::test_the_default_validation_split_fits_a_small_data_set_and_is_said",
    "tests/test_cli.py::test_a_budgeted_prune_reports_its_budget_and_time_split",
    "tests/prune/test_latency.py::test_cost_in_latency_counts_steps_and_goal_in_time",
)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test`: a worker per core) each worker gets its share of the cores,
    so that the workers' thread pools do not fight over them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max((os.cpu_count() or 1) // workers, 1))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def folder(tmp_path_factory):
    """train/ and test/ image folders of the colour-blob classes, 8x8 PNG."""
    root = tmp_path_factory.mktemp("blobs")
    for split, n, seed in (("train", 240, 1), ("test", 60, 2)):
        data = colour_blobs(n, size=8, seed=seed)
        for i, (img, label) in enumerate(zip(data.images, data.labels, strict=True)):
            path = root / split / data.classes[label] / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
    return root
