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


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(value: str) -> bytes:
    return b"X" + len(value).to_bytes(4, "little") + value.encode()


def _sets_attributes(module: str, name: str, attribute: str, value: str) -> bytes:
    """A pickle that fetches an allowed callable, then sets ``attribute`` on it (BUILD with slot
    state calls setattr), and returns it."""
    state = b"N}" + _text(attribute) + _text(value) + b"s\x86"  # (None, {attribute: value})
    return b"\x80\x02" + _global(module, name) + state + b"b."


@pytest.mark.parametrize(("module", "name"), [
    ("_codecs", "encode"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
])
def test_a_pickle_cannot_change_what_later_loads_share(
    tmp_path: Path, cifar: TinyCifar, monkeypatch, module: str, name: str
) -> None:
    """Setting __qualname__ on numpy's _frombuffer would break every later pickle of an array
    in the process; whatever a batch does to the callables it is given stays in that batch."""
    import numpy._core.numeric as numeric

    from taylorprune.data import cifar_python

    shared = [cifar_python._encode, numeric._frombuffer]
    for fn in shared:  # restored after the test, whatever happens
        monkeypatch.setattr(fn, "__qualname__", fn.__qualname__)
    folder = write_python_version(tmp_path, cifar)
    (folder / "data_batch_3").write_bytes(_sets_attributes(module, name, "__qualname__", "system"))
    with pytest.raises(InputError, match="data_batch_3"):
        load_cifar10(folder, download=False)
    assert [fn.__qualname__ for fn in shared] == ["_encode", "_frombuffer"]
    pickle.dumps(np.zeros(3), protocol=5)  # still picklable


def test_a_pickle_cannot_make_an_array_of_uninitialised_memory(tmp_path: Path, cifar: TinyCifar) -> None:
    """numpy.ndarray(shape) hands out memory the file never filled (old heap contents, or a huge
    allocation): arrays are built only from bytes in the file."""
    folder = write_python_version(tmp_path, cifar)
    shape = b"K\x03M\x00\x0c\x86"  # (3, 3072)
    data = _global("numpy", "ndarray") + shape + _text("u1") + b"\x86R"  # ndarray((3, 3072), "u1")
    batch = b"\x80\x02}(" + _text("data") + data + _text("labels") + b"](K\x00K\x00K\x00eu."
    (folder / "test_batch").write_bytes(batch)
    with pytest.raises(InputError) as excinfo:
        load_cifar10(folder, download=False)
    one_line_error(excinfo, "test_batch", "not a CIFAR-10 python batch")
