"""Image-folder data sets: one folder per class, as torchvision's ImageFolder and MATLAB's
imageDatastore(..., LabelSource="foldernames") read them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import InputError
from .cache import cached
from .decode import decode_images, is_image
from .image_data import ImageData
from .trees import Tree, existing, open_tree

SPLITS = ("train", "test")  # the sub-folders of a train/test tree


def load_image_folder(
    path: str | Path,
    image_size: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
) -> ImageData:
    """Load ``path/<class>/<image>`` (a folder, or an archive of one) as RGB uint8 images.

    ``image_size``: (height, width) in pixels to resize every image to; None keeps the
    most common size and resizes the rest. ``classes``: which class folders to load,
    in label order; None loads all, sorted by name. Images inside a class folder may
    sit in sub-folders; hidden files and non-image files are skipped. Grayscale,
    palette and RGBA images become RGB (alpha is dropped).
    """
    source = existing(Path(path).expanduser())
    size = _image_size(image_size) if image_size is not None else None
    names = tuple(classes) if classes is not None else None
    reader = {"reader": "image-folder", "image_size": size, "classes": names}

    def build() -> dict[str, ImageData]:
        return {"all": read_image_folder(open_tree(source), size, names)}

    return cached(source, reader, build)["all"]


def _image_size(value: Sequence[int]) -> tuple[int, int]:
    if len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise InputError(
            f"image_size must be (height, width) in pixels, got {value!r}; e.g. (32, 32)"
        )
    return value[0], value[1]


def read_image_folder(
    tree: Tree, image_size: tuple[int, int] | None, classes: tuple[str, ...] | None
) -> ImageData:
    """Class folders at the top of ``tree``, or inside its only folder (an archive's wrapper)."""
    root = ""
    tops = class_folders(tree, "")
    if len(tops) == 1 and class_folders(tree, tops[0]) and not _images(tree, "", recursive=False):
        root = tops[0]
    if set(SPLITS) <= set(class_folders(tree, root)):
        raise InputError(
            f"{tree.where(root)} holds train/ and test/ folders, not class folders; "
            "load it with load_data(PATH), or point load_image_folder at one of them"
        )
    return read_class_folders(tree, root, image_size, classes)


def read_train_test(tree: Tree, root: str) -> dict[str, ImageData]:
    """``root/train/<class>/*`` and ``root/test/<class>/*``; test is resized to train's size."""
    train_root, test_root = (posixpath.join(root, split) for split in SPLITS)
    train = read_class_folders(tree, train_root, None, None)
    extra = sorted(set(class_folders(tree, test_root)) - set(train.classes))
    if extra:
        raise InputError(
            f"{tree.where(test_root)} has class folders {extra} that train/ lacks; "
            "give train/ and test/ the same class folders"
        )
    size = (train.images.shape[2], train.images.shape[3])
    test = read_class_folders(tree, test_root, size, train.classes)
    return {"train": train, "test": test}


def read_class_folders(
    tree: Tree, root: str, image_size: tuple[int, int] | None, classes: tuple[str, ...] | None
) -> ImageData:
    found = class_folders(tree, root)
    order = classes if classes is not None else tuple(found)
    missing = [name for name in order if name not in found]
    if not found or missing:
        raise InputError(
            f"{tree.where(root)} has no class folder {missing or '<class>'}; "
            f"expected {tree.where(root)}/<class>/<image> for every class"
        )
    names: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(order):
        files = _images(tree, posixpath.join(root, name), recursive=True)
        names += files
        labels += [label] * len(files)
    if not names:
        raise InputError(
            f"{tree.where(root)} has no image files in its class folders; "
            "put .jpg or .png images in <class>/ folders"
        )
    images = decode_images(tree, names, image_size)  # (N, 3, H, W)
    return ImageData(images, torch.tensor(labels, dtype=torch.int64), order)


def class_folders(tree: Tree, root: str) -> list[str]:
    """Sorted names of the (non-hidden) folders directly in ``root``."""
    if not tree.isdir(root):
        return []
    return [name for name in tree.listdir(root) if tree.isdir(posixpath.join(root, name))]


def _images(tree: Tree, root: str, *, recursive: bool) -> list[str]:
    if recursive:
        return [name for name in tree.files_under(root) if is_image(name)]
    return [posixpath.join(root, n) for n in tree.listdir(root) if is_image(n)]
