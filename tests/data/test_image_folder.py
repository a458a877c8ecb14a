import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from taylorprune.data import CIFAR10_CLASSES, decode, load_image_folder
from taylorprune.errors import InputError

from .helpers import (
    TinyCifar,
    one_line_error,
    sorted_by_label,
    tar_gz,
    write_class_folders,
    write_image_tree,
)


def write_zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as packed:
        for path in sorted(folder.rglob("*")):
            packed.write(path, path.relative_to(folder.parent).as_posix())
    return archive


@pytest.mark.parametrize("packed", ["folder", "tar.gz", "tar.gz without wrapper", "zip"])
def test_round_trip_png(tmp_path: Path, cifar: TinyCifar, packed: str) -> None:
    folder = tmp_path / "flowers"
    write_class_folders(folder, cifar.train)
    path = {
        "folder": lambda: folder,
        "tar.gz": lambda: tar_gz(folder, tmp_path / "flowers.tar.gz"),
        "tar.gz without wrapper": lambda: tar_gz(folder, tmp_path / "top.tar.gz", wrap=False),
        "zip": lambda: write_zip(folder, tmp_path / "flowers.zip"),
    }[packed]()
    data = load_image_folder(path)
    expected = sorted_by_label(cifar.train)
    np.testing.assert_array_equal(data.images.numpy(), expected.images)
    np.testing.assert_array_equal(data.labels.numpy(), expected.labels)
    assert data.classes == CIFAR10_CLASSES


def test_pillow_alone_gives_the_same_pixels(
    tmp_path: Path, cifar: TinyCifar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow is the decoder left when torchvision drops its own (deprecated in 0.29)."""
    write_class_folders(tmp_path / "a", cifar.test)
    write_class_folders(tmp_path / "b", cifar.test)
    fast = load_image_folder(tmp_path / "a")
    monkeypatch.setattr(decode, "DECODERS", dict.fromkeys(decode.DECODERS, decode._decode_pillow))
    assert torch.equal(load_image_folder(tmp_path / "b").images, fast.images)


def save(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_sizes_and_modes_become_one_rgb_size(tmp_path: Path) -> None:
    save(tmp_path / "a" / "1.png", Image.new("RGB", (20, 10), (255, 0, 0)))
    save(tmp_path / "a" / "2.png", Image.new("L", (20, 10), 77))  # grayscale
    save(tmp_path / "b" / "3.png", Image.new("RGBA", (20, 10), (1, 2, 3, 4)))
    save(tmp_path / "b" / "4.bmp", Image.new("RGB", (40, 30), (9, 9, 9)))  # other size, Pillow
    save(tmp_path / "b" / "5.gif", Image.new("P", (20, 10), 0))
    data = load_image_folder(tmp_path)
    assert data.images.shape == (5, 3, 10, 20)  # the most common size, (H, W)
    assert data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 0, 1, 1, 1]
    assert data.images[1, :, 0, 0].tolist() == [77, 77, 77]
    assert data.images[2, :, 0, 0].tolist() == [1, 2, 3]
    assert data.images[3, :, 0, 0].tolist() == [9, 9, 9]  # a flat colour survives resizing
    resized = load_image_folder(tmp_path, image_size=(8, 16))
    assert resized.images.shape == (5, 3, 8, 16)


def test_classes_pick_and_order_folders(tmp_path: Path) -> None:
    for name, value in [("cat", 1), ("dog", 2), ("emu", 3)]:
        save(tmp_path / name / "x.png", Image.new("L", (4, 4), value))
    data = load_image_folder(tmp_path, classes=["emu", "cat"])
    assert data.classes == ("emu", "cat")
    assert data.images[:, 0, 0, 0].tolist() == [3, 1]
    with pytest.raises(InputError) as excinfo:
        load_image_folder(tmp_path, classes=["cat", "yak"])
    one_line_error(excinfo, "yak", str(tmp_path))


def test_hidden_and_other_files_are_skipped(tmp_path: Path) -> None:
    save(tmp_path / "cat" / "x.png", Image.new("L", (4, 4), 5))
    (tmp_path / "cat" / "._x.png").write_bytes(b"macOS resource fork")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    assert len(load_image_folder(tmp_path)) == 1


def test_images_in_sub_folders_of_a_class_count(tmp_path: Path) -> None:
    save(tmp_path / "cat" / "indoor" / "x.png", Image.new("L", (4, 4), 5))
    save(tmp_path / "dog" / "y.png", Image.new("L", (4, 4), 6))
    assert load_image_folder(tmp_path).labels.tolist() == [0, 1]


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    save(tmp_path / "cat" / "good.png", Image.new("L", (4, 4), 5))
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputError) as excinfo:
        load_image_folder(tmp_path)
    one_line_error(excinfo, str(tmp_path / "dog" / "bad.jpg"), "not a readable image")


def test_corrupt_image_in_archive_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    save(folder / "cat" / "good.png", Image.new("L", (4, 4), 5))
    (folder / "cat" / "bad.png").write_bytes(b"\x89PNG broken")
    archive = tar_gz(folder, tmp_path / "set.tar.gz")
    with pytest.raises(InputError) as excinfo:
        load_image_folder(archive)
    one_line_error(excinfo, f"{archive}:set/cat/bad.png", "not a readable image")


def test_jpeg_decodes_close_to_original(tmp_path: Path) -> None:
    gradient = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # (32, 32)
    rgb = np.stack([gradient, gradient.T, 255 - gradient], axis=-1)  # (32, 32, 3)
    save(tmp_path / "a" / "x.jpg", Image.fromarray(rgb))
    decoded = load_image_folder(tmp_path).images[0].permute(1, 2, 0).numpy()  # (32, 32, 3)
    assert np.abs(decoded.astype(int) - rgb).mean() < 4


@pytest.mark.parametrize(
    ("layout", "needles"),
    [
        ("empty", ["no class folder"]),
        ("no images", ["no image files"]),
        ("train/test", ["train/ and test/", "load_data"]),
    ],
)
def test_unusable_folders(tmp_path: Path, cifar: TinyCifar, layout: str, needles) -> None:
    if layout == "no images":
        (tmp_path / "cat").mkdir()
        (tmp_path / "cat" / "readme.txt").write_text("no images here")
    if layout == "train/test":
        write_image_tree(tmp_path, cifar, name="tree")
        tmp_path = tmp_path / "tree"
    with pytest.raises(InputError) as excinfo:
        load_image_folder(tmp_path)
    one_line_error(excinfo, *needles)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        load_image_folder(tmp_path / "nope")
    one_line_error(excinfo, "no such file or folder")


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "photo.rar").write_bytes(b"Rar!")
    with pytest.raises(InputError) as excinfo:
        load_image_folder(tmp_path / "photo.rar")
    one_line_error(excinfo, "photo.rar", "neither a folder nor an archive")


@pytest.mark.parametrize("size", [(32,), (0, 4), (4.5, 4)])
def test_bad_image_size(tmp_path: Path, size) -> None:
    save(tmp_path / "cat" / "x.png", Image.new("L", (4, 4), 5))
    with pytest.raises(InputError) as excinfo:
        load_image_folder(tmp_path, image_size=size)
    one_line_error(excinfo, "(height, width)")
