import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from taylorprune.data import cache_dir, load_data, load_image_folder, sources

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
    return sorted(p.name for p in folder.glob("*.*-*") if p.is_dir())


def files_of(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_second_load_comes_from_the_cache(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar, reads
) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    first = load_data(archive)
    second = load_data(archive)
    assert len(reads) == 1
    assert len(entries(private_cache_dir / "arrays")) == 1
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert a.classes == b.classes


@pytest.mark.parametrize("kind", ["archive", "folder"])
def test_nothing_is_written_beside_the_source(tmp_path: Path, cifar: TinyCifar, kind: str) -> None:
    """The source's folder is writable, and still gains no file: caches live in the cache dir."""
    data = tmp_path / "user"
    tree = write_image_tree(data / "src", cifar)
    source = tar_gz(tree, data / "tree.tar.gz") if kind == "archive" else tree
    before = files_of(data)
    load_data(source)
    load_data(source)
    assert files_of(data) == before


def test_the_cache_says_once_where_it_went(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar, caplog
) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    with caplog.at_level(logging.WARNING, logger="taylorprune"):
        load_data(archive)
        load_data(archive)
    (note,) = caplog.messages
    (entry,) = (private_cache_dir / "arrays").iterdir()
    assert f"MB) in {entry}; delete that folder to free the space" in note and "\n" not in note


def test_changed_archive_is_read_again(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar, reads
) -> None:
    tree = write_image_tree(tmp_path / "src", cifar)
    archive = tar_gz(tree, tmp_path / "tree.tar.gz")
    load_data(archive)
    old = entries(private_cache_dir / "arrays")
    image = next((tree / "test").rglob("*.png"))
    image.write_bytes(next((tree / "train").rglob("*.png")).read_bytes())
    tar_gz(tree, archive)
    load_data(archive)
    assert len(reads) == 2
    now = entries(private_cache_dir / "arrays")
    assert len(now) == 1 and now != old  # the stale entry is gone


def _bmp_folder(folder: Path, cifar: TinyCifar) -> list[Path]:
    """Class folders of BMP images: every file the same size, whatever its pixels."""
    paths = []
    for i, (image, label) in enumerate(zip(cifar.test.images, cifar.test.labels, strict=True)):
        path = folder / f"c{label}" / f"{i}.bmp"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.transpose(1, 2, 0)).save(path)
        paths.append(path)
    return paths


def test_changed_pixels_are_read_again_whatever_the_size_and_time(
    tmp_path: Path, cifar: TinyCifar
) -> None:
    """Same size, same modification time, other pixels (a restored backup, a copy that keeps
    times): the content key notices where a size-and-time key served the stale images."""
    folder = tmp_path / "pets"
    path = _bmp_folder(folder, cifar)[0]
    first = load_image_folder(folder)
    stat = path.stat()
    pixels = np.asarray(Image.open(path)).copy()  # (H, W, 3)
    pixels[0, 0] ^= 0xFF
    Image.fromarray(pixels).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    again = load_image_folder(folder)
    assert int((again.images != first.images).sum()) == 3  # one pixel, three channels


def test_changed_file_in_a_folder_is_read_again(tmp_path: Path, cifar: TinyCifar, reads) -> None:
    folder = write_image_tree(tmp_path, cifar)
    load_data(folder)
    image = next((folder / "test").rglob("*.png"))
    image.write_bytes(next((folder / "train").rglob("*.png")).read_bytes())
    load_data(folder)
    load_data(folder)
    assert len(reads) == 2


def test_a_touched_archive_is_still_cached(tmp_path: Path, cifar: TinyCifar, reads) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    load_data(archive)
    os.utime(archive, ns=(0, 0))  # another time, same bytes: the content decides
    load_data(archive)
    assert len(reads) == 1


def test_unwritable_cache_dir_still_loads(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar
) -> None:
    folder = tmp_path / "pets"
    write_class_folders(folder, cifar.test)
    private_cache_dir.write_text("a file where the cache dir should be")  # unwritable, even for root
    before = files_of(tmp_path)
    with pytest.warns(UserWarning, match="not cached, the next load decodes again"):
        first = load_image_folder(folder)
    assert first.images.shape[0] == len(cifar.test.labels)
    assert files_of(tmp_path) == before


def test_reader_options_get_their_own_entry(tmp_path: Path, cifar: TinyCifar) -> None:
    folder = tmp_path / "pets"
    write_class_folders(folder, cifar.test)
    assert load_image_folder(folder, image_size=(8, 8)).images.shape[2:] == (8, 8)
    assert load_image_folder(folder).images.shape[2:] == (32, 32)
    assert load_image_folder(folder, image_size=(8, 8)).images.shape[2:] == (8, 8)


def test_damaged_entry_is_rebuilt(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar, reads
) -> None:
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    first, _ = load_data(archive)
    (entry,) = (private_cache_dir / "arrays").iterdir()
    (entry / "train.images.npy").write_bytes(b"garbage")
    again, _ = load_data(archive)
    assert len(reads) == 2
    np.testing.assert_array_equal(again.images.numpy(), first.images.numpy())


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_in_the_cache_is_never_loaded(
    tmp_path: Path, private_cache_dir: Path, cifar: TinyCifar, reads
) -> None:
    """Cache files are plain .npy read with allow_pickle=False: an object array is a damaged entry."""
    archive = tar_gz(write_image_tree(tmp_path / "src", cifar), tmp_path / "tree.tar.gz")
    load_data(archive)
    (entry,) = (private_cache_dir / "arrays").iterdir()
    marker = tmp_path / "code-ran"
    hostile = np.array([_RunsCode(marker)], dtype=object)
    np.save(entry / "train.classes.npy", hostile, allow_pickle=True)
    load_data(archive)
    assert len(reads) == 2 and not marker.exists()


def test_cached_images_are_writable_without_touching_the_cache(
    tmp_path: Path, cifar: TinyCifar
) -> None:
    folder = write_image_tree(tmp_path, cifar)
    load_data(folder)
    train, _ = load_data(folder)  # memory-mapped copy-on-write
    train.images.zero_()
    fresh, _ = load_data(folder)
    assert fresh.images.any()


@pytest.mark.parametrize(("env", "expected"), [
    ({"TAYLORPRUNE_DATA": "/data/tp", "XDG_CACHE_HOME": "/xdg"}, "/data/tp"),
    ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/taylorprune"),
    ({"XDG_CACHE_HOME": "relative/xdg"}, "{home}/.cache/taylorprune"),  # the XDG spec ignores it
    ({}, "{home}/.cache/taylorprune"),
])
def test_cache_dir_is_the_users_cache_folder(monkeypatch, tmp_path: Path, env, expected) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("TAYLORPRUNE_DATA", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cache_dir() == Path(expected.format(home=tmp_path))
