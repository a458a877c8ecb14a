import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from taylorprune.data import CIFAR10_CLASSES, load_cifar10
from taylorprune.errors import InputError

from .helpers import TinyCifar, one_line_error, tar_gz, write_python_version


def assert_same(loaded, expected) -> None:
    np.testing.assert_array_equal(loaded.images.numpy(), expected.images)
    np.testing.assert_array_equal(loaded.labels.numpy(), expected.labels)
    assert loaded.classes == CIFAR10_CLASSES


@pytest.mark.parametrize("point_at", ["batches folder", "its parent", "tar.gz"])
def test_round_trip(tmp_path: Path, cifar: TinyCifar, point_at: str) -> None:
    folder = write_python_version(tmp_path / "data", cifar)
    root = {
        "batches folder": lambda: folder,
        "its parent": lambda: folder.parent,
        "tar.gz": lambda: tar_gz(folder, tmp_path / "cifar-10-python.tar.gz"),
    }[point_at]()
    train, test = load_cifar10(root, download=False)
    assert_same(train, cifar.train)
    assert_same(test, cifar.test)


def test_python_3_pickles(tmp_path: Path, cifar: TinyCifar) -> None:
    """numpy 2 names numpy._core; protocol 2 pickles bytes through _codecs.encode."""
    folder = write_python_version(tmp_path, cifar, dumps=lambda r: pickle.dumps(r, protocol=2))
    train, test = load_cifar10(folder, download=False)
    assert_same(train, cifar.train)
    assert_same(test, cifar.test)


def test_python_3_pickles_with_str_keys(tmp_path: Path, cifar: TinyCifar) -> None:
    """Protocol 5 rebuilds arrays through numpy's _frombuffer."""

    def dumps(record: dict) -> bytes:
        return pickle.dumps({k.decode(): v for k, v in record.items()}, protocol=5)

    train, test = load_cifar10(write_python_version(tmp_path, cifar, dumps=dumps), download=False)
    assert_same(train, cifar.train)
    assert_same(test, cifar.test)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused(tmp_path: Path, cifar: TinyCifar) -> None:
    folder = write_python_version(tmp_path, cifar)
    marker = tmp_path / "code-ran"
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": _RunsCode(marker)}))
    with pytest.raises(InputError) as excinfo:
        load_cifar10(folder, download=False)
    one_line_error(excinfo, "data_batch_2", "refusing to load")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        (
            lambda p: p.write_bytes(p.read_bytes()[:100]),
            ["test_batch", "not a CIFAR-10 python batch"],
        ),
        (lambda p: p.write_text("hello"), ["test_batch", "not a CIFAR-10 python batch"]),
        (
            lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)})),
            ["test_batch", "missing 'labels'"],
        ),
        (
            lambda p: p.write_bytes(
                pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]})
            ),
            ["test_batch", "N x 3072"],
        ),
        (
            lambda p: p.write_bytes(
                pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]})
            ),
            ["test_batch", "labels outside 0..9"],
        ),
        (lambda p: p.unlink(), ["test_batch", "not found"]),
    ],
    ids=["truncated", "not a pickle", "no labels", "wrong shape", "bad label", "missing"],
)
def test_broken_batch_is_named(tmp_path: Path, cifar: TinyCifar, damage, needles) -> None:
    folder = write_python_version(tmp_path, cifar)
    damage(folder / "test_batch")
    with pytest.raises(InputError) as excinfo:
        load_cifar10(folder, download=False)
    one_line_error(excinfo, *needles)


def test_corrupt_archive_is_named(tmp_path: Path, cifar: TinyCifar) -> None:
    archive = tar_gz(write_python_version(tmp_path, cifar), tmp_path / "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(InputError) as excinfo:
        load_cifar10(archive, download=False)
    one_line_error(excinfo, str(archive), "not a readable tar archive")


def test_archive_member_named_in_errors(tmp_path: Path, cifar: TinyCifar) -> None:
    folder = write_python_version(tmp_path / "src", cifar)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"num_vis": 3072}))
    archive = tar_gz(folder, tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(InputError) as excinfo:
        load_cifar10(archive, download=False)
    one_line_error(excinfo, f"{archive}:cifar-10-batches-py/batches.meta", "missing 'label_names'")
    assert tarfile.is_tarfile(archive)
