"""Which format a data path holds, and reading its train and test splits (cached).

A format is recognised by a marker at the top of a folder or archive, or one folder
down (the archives wrap their files in ``cifar-10-batches-py/`` and the like).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from . import cifar_binary, cifar_python
from .cache import cached
from .image_data import ImageData
from .image_folder import SPLITS, read_train_test
from .trees import DirTree, Tree, open_tree


@dataclass(frozen=True)
class Format:
    detect: Callable[[Tree, str], bool]  # (tree, folder) -> whether the folder is a root of it
    read: Callable[[Tree, str], dict[str, ImageData]]  # (tree, root) -> {"train": .., "test": ..}


def _has_file(name: str) -> Callable[[Tree, str], bool]:
    return lambda tree, root: tree.isfile(posixpath.join(root, name))


def _has_splits(tree: Tree, root: str) -> bool:
    return all(tree.isdir(posixpath.join(root, split)) for split in SPLITS)


# tried in this order at each candidate root
FORMATS = {
    "CIFAR-10 python version": Format(_has_file(cifar_python.MARKER), cifar_python.read_python),
    "CIFAR-10 binary version": Format(_has_file(cifar_binary.MARKER), cifar_binary.read_binary),
    "image-folder tree": Format(_has_splits, read_train_test),
}
# archive names looked for inside a data folder (the official downloads and ../shared's)
KNOWN_ARCHIVES = ("cifar-10-python.tar.gz", "cifar-10-binary.tar.gz", "cifar10-jpeg.tar.gz")
ACCEPTED = (
    "cifar-10-python.tar.gz, cifar-10-binary.tar.gz, an extracted cifar-10-batches-py/ or "
    "cifar-10-batches-bin/, or a train/<class>/ test/<class>/ image-folder tree (or a .tar.gz of one)"
)


def locate(folder: Path) -> Path | None:
    """The data source in ``folder``: itself, a sub-folder holding a format, or a known archive."""
    if not folder.is_dir():
        return folder
    found = _find(DirTree(folder))
    if found is not None:
        return folder / found[1]
    return next((folder / n for n in KNOWN_ARCHIVES if (folder / n).is_file()), None)


def load_source(source: Path) -> dict[str, ImageData]:
    """The train and test splits of a folder or archive, decoded once and then cached."""
    return cached(source, {"reader": "train-test"}, lambda: read_source(open_tree(source)))


def read_source(tree: Tree) -> dict[str, ImageData]:
    found = _find(tree)
    if found is None:
        raise InputError(f"{tree.where('')} holds no data set I can read; expected {ACCEPTED}")
    fmt, root = found
    return fmt.read(tree, root)


def _find(tree: Tree) -> tuple[Format, str] | None:
    """The first format found at the top of ``tree`` or in one of its folders, and where."""
    for root in ["", *(name for name in tree.listdir("") if tree.isdir(name))]:
        for fmt in FORMATS.values():
            if fmt.detect(tree, root):
                return fmt, root
    return None
