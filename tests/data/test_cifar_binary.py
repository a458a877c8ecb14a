from pathlib import Path

import numpy as np
import pytest

from taylorprune.data import CIFAR10_CLASSES, load_cifar10
from taylorprune.errors import InputError

from .helpers import TinyCifar, one_line_error, tar_gz, write_binary_version


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "tar.gz"])
def test_round_trip(tmp_path: Path, cifar: TinyCifar, packed: bool) -> None:
    folder = write_binary_version(tmp_path, cifar)
    root = tar_gz(folder, tmp_path / "cifar-10-binary.tar.gz") if packed else folder
    train, test = load_cifar10(root, download=False)
    for loaded, expected in [(train, cifar.train), (test, cifar.test)]:
        np.testing.assert_array_equal(loaded.images.numpy(), expected.images)
        np.testing.assert_array_equal(loaded.labels.numpy(), expected.labels)
        assert loaded.classes == CIFAR10_CLASSES


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-1]), ["data_batch_3.bin", "3073-byte records"]),
        (lambda p: p.write_bytes(b""), ["data_batch_3.bin", "3073-byte records"]),
        (
            lambda p: p.write_bytes(bytes([12]) + bytes(3072)),
            ["data_batch_3.bin", "labels outside 0..9"],
        ),
        (lambda p: p.unlink(), ["data_batch_3.bin", "not found"]),
    ],
    ids=["short", "empty", "bad label", "missing"],
)
def test_broken_batch_is_named(tmp_path: Path, cifar: TinyCifar, damage, needles) -> None:
    folder = write_binary_version(tmp_path, cifar)
    damage(folder / "data_batch_3.bin")
    with pytest.raises(InputError) as excinfo:
        load_cifar10(folder, download=False)
    one_line_error(excinfo, *needles)


def test_meta_that_is_not_text_is_named(tmp_path: Path, cifar: TinyCifar) -> None:
    folder = write_binary_version(tmp_path, cifar)
    (folder / "batches.meta.txt").write_bytes(bytes(range(128, 256)))
    with pytest.raises(InputError) as excinfo:
        load_cifar10(folder, download=False)
    one_line_error(excinfo, "batches.meta.txt", "class names")
