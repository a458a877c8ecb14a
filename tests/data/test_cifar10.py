from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
from PIL import Image

from taylorprune.data import CIFAR10_CLASSES, cifar10, load_cifar10, load_data
from taylorprune.errors import InputError

from .helpers import (
    Split,
    TinyCifar,
    one_line_error,
    sorted_by_label,
    tar_gz,
    write_class_folders,
    write_image_tree,
    write_python_version,
)


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "tar.gz"])
def test_image_tree_round_trip(tmp_path: Path, cifar: TinyCifar, packed: bool) -> None:
    folder = write_image_tree(tmp_path, cifar)
    root = tar_gz(folder, tmp_path / "cifar10-png.tar.gz") if packed else folder
    for loaded, expected in zip(load_cifar10(root), (cifar.train, cifar.test), strict=True):
        expected = sorted_by_label(expected)
        np.testing.assert_array_equal(loaded.images.numpy(), expected.images)
        np.testing.assert_array_equal(loaded.labels.numpy(), expected.labels)
        assert loaded.classes == CIFAR10_CLASSES


def test_no_root_reads_the_cache_dir(private_cache_dir: Path, cifar: TinyCifar) -> None:
    tar_gz(
        write_python_version(private_cache_dir / "src", cifar),
        private_cache_dir / "cifar-10-python.tar.gz",
    )
    train, test = load_cifar10()
    np.testing.assert_array_equal(test.images.numpy(), cifar.test.images)
    assert len(train) == len(cifar.train.labels)


def test_offline_download_fails_in_one_line(private_cache_dir: Path, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar10, "download_and_extract_archive", offline)
    with pytest.raises(InputError) as excinfo:
        load_cifar10()
    one_line_error(
        excinfo,
        str(private_cache_dir),
        "cifar-10-python.tar.gz",
        "TAYLORPRUNE_DATA",
        "--data PATH",
        "name resolution",
    )


def test_download_goes_to_the_cache_dir(
    private_cache_dir: Path, cifar: TinyCifar, monkeypatch
) -> None:
    def fake_download(url, download_root, filename, md5):
        assert (url, filename, md5) == (cifar10.URL, "cifar-10-python.tar.gz", cifar10.MD5)
        write_python_version(Path(download_root), cifar)

    monkeypatch.setattr(cifar10, "download_and_extract_archive", fake_download)
    train, _ = load_cifar10()
    np.testing.assert_array_equal(train.labels.numpy(), cifar.train.labels)


def test_no_download_means_no_download(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        load_cifar10(tmp_path, download=False)
    one_line_error(excinfo, str(tmp_path), "--data PATH")


def test_missing_archive_is_not_a_download_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        load_cifar10(tmp_path / "cifar-10-pyhton.tar.gz")
    one_line_error(excinfo, "cifar-10-pyhton.tar.gz", "no such file or folder")
    assert not (tmp_path / "cifar-10-pyhton.tar.gz").exists()


def other_data_set(parent: Path) -> Path:
    rng = np.random.default_rng(1)
    folder = parent / "pets"
    for split, n in [("train", 6), ("test", 3)]:
        images = rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
        write_class_folders(folder / split, Split(images, np.arange(n) % 3), ("cat", "dog", "emu"))
    return folder


def test_load_data_takes_any_image_tree_but_load_cifar10_does_not(tmp_path: Path) -> None:
    folder = other_data_set(tmp_path)
    train, test = load_data(folder)
    assert (len(train), len(test), train.classes) == (6, 3, ("cat", "dog", "emu"))
    assert train.images.shape[1:] == (3, 8, 8)
    with pytest.raises(InputError) as excinfo:
        load_cifar10(folder)
    one_line_error(excinfo, str(folder), "not CIFAR-10", "load_data")


def test_test_split_is_resized_to_train_size(tmp_path: Path) -> None:
    folder = other_data_set(tmp_path)
    for path in (folder / "test").rglob("*.png"):
        Image.open(path).resize((16, 12)).save(path)
    _, test = load_data(folder)
    assert test.images.shape[1:] == (3, 8, 8)


def test_test_classes_must_be_train_classes(tmp_path: Path) -> None:
    folder = other_data_set(tmp_path)
    (folder / "test" / "yak").mkdir()
    with pytest.raises(InputError) as excinfo:
        load_data(folder)
    one_line_error(excinfo, "yak", "train/")


@pytest.mark.parametrize("what", ["missing", "empty folder", "other file"])
def test_load_data_names_unusable_paths(tmp_path: Path, what: str) -> None:
    path = {
        "missing": tmp_path / "nope",
        "empty folder": tmp_path,
        "other file": tmp_path / "x.txt",
    }[what]
    if what == "other file":
        path.write_text("hello")
    with pytest.raises(InputError) as excinfo:
        load_data(path)
    one_line_error(excinfo, str(path))


def test_load_data_reads_cifar_formats_from_a_parent_folder(
    tmp_path: Path, cifar: TinyCifar
) -> None:
    write_python_version(tmp_path, cifar)
    train, test = load_data(tmp_path)
    np.testing.assert_array_equal(test.labels.numpy(), cifar.test.labels)
