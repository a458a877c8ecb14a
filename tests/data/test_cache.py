import os
from pathlib import Path

import numpy as np
import pytest
import torch

from taylorprune.data import load_data, load_image_folder, sources

from .helpers import TinyCifar, tar_gz, write_class_folders, write_image_tree


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each time a source is really read (decoded) rather than taken from the cache."""
    calls: list[object] = []
    read_source = sources.read_source

    def counting(tree):
        calls.append(tree)
        return read_source(tree)

    monkeypatch.setattr(sources, "read_source", counting)
    return calls


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.taylorprune-*"))


def test_second_load_comes_from_the_cache(tmp_path: Path, cifar: TinyCifar, reads) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    first = load_data(archive)
    second = load_data(archive)
    assert len(reads) == 1
    assert len(entries(tmp_path)) == 1  # beside the source
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert a.classes == b.classes


def test_changed_archive_is_read_again(tmp_path: Path, cifar: TinyCifar, reads) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    load_data(archive)
    old = entries(tmp_path)
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_data(archive)
    assert len(reads) == 2
    assert len(entries(tmp_path)) == 1 and entries(tmp_path) != old  # the stale entry is gone


def test_changed_file_in_a_folder_is_read_again(tmp_path: Path, cifar: TinyCifar, reads) -> None:
    folder = write_image_tree(tmp_path, cifar)
    load_data(folder)
    image = next((folder / "test").rglob("*.png"))
    image.write_bytes(next((folder / "train").rglob("*.png")).read_bytes())
    stat = image.stat()  # a newer time even where the clock is coarse
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_data(folder)
    load_data(folder)
    assert len(reads) == 2


def test_read_only_folder_caches_in_the_cache_dir(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar
) -> None:
    folder = tmp_path / "pets"
    write_class_folders(folder, cifar.test)
    tmp_path.chmod(0o555)  # marked read-only (root could still write: it must not)
    try:
        first = load_image_folder(folder)
        assert entries(tmp_path) == []
        assert len(entries(private_cache_dir / "arrays")) == 1
        assert torch.equal(load_image_folder(folder).images, first.images)
    finally:
        tmp_path.chmod(0o755)


def test_reader_options_get_their_own_entry(tmp_path: Path, cifar: TinyCifar) -> None:
    folder = tmp_path / "pets"
    write_class_folders(folder, cifar.test)
    assert load_image_folder(folder, image_size=(8, 8)).images.shape[2:] == (8, 8)
    assert load_image_folder(folder).images.shape[2:] == (32, 32)
    assert load_image_folder(folder, image_size=(8, 8)).images.shape[2:] == (8, 8)


def test_damaged_entry_is_rebuilt(tmp_path: Path, cifar: TinyCifar, reads) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    first, _ = load_data(archive)
    (entry,) = tmp_path.glob("*.taylorprune-*")
    (entry / "train.images.npy").write_bytes(b"garbage")
    again, _ = load_data(archive)
    assert len(reads) == 2
    np.testing.assert_array_equal(again.images.numpy(), first.images.numpy())


def test_cached_images_are_writable_without_touching_the_cache(
    tmp_path: Path, cifar: TinyCifar
) -> None:
    folder = write_image_tree(tmp_path, cifar)
    load_data(folder)
    train, _ = load_data(folder)  # memory-mapped copy-on-write
    train.images.zero_()
    fresh, _ = load_data(folder)
    assert fresh.images.any()
