"""Decoded images kept as .npy files, so the second load is a memory map, not a decode.

An entry is a folder ``<source name>.taylorprune-<reader>-<fingerprint>`` next to the
source, or in ``<cache dir>/arrays`` when the source's folder is read-only. The
fingerprint covers the size and modification time of the source (of every file
below it, for a folder), so a changed source misses and its old entry is removed.
Arrays are opened copy-on-write memory-mapped: nothing is read until used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from .image_data import ImageData

VERSION = 1  # bump when the layout of an entry or the meaning of a reader changes
ENV = "TAYLORPRUNE_DATA"


def cache_dir() -> Path:
    """Where data sets and caches live when no path is given: ``$TAYLORPRUNE_DATA`` or ~/.cache."""
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "taylorprune").expanduser()


def cached(
    source: Path, reader: Mapping[str, object], build: Callable[[], dict[str, ImageData]]
) -> dict[str, ImageData]:
    """``build()``'s splits for ``source``, from the cache when ``source`` is unchanged.

    ``reader`` names how the source is read (reader name, image size, ...): a
    different reader gets a different entry.
    """
    tag = _digest([VERSION, str(source.resolve()), reader])[:10]
    name = f"{source.name}.taylorprune-{tag}-{_digest(_fingerprint(source))[:12]}"
    folders = _folders(source)
    for folder in folders:
        splits = _load(folder / name)
        if splits is not None:
            return splits
    splits = build()
    _save(splits, folders, name, prefix=f"{source.name}.taylorprune-{tag}-")
    return splits


def _folders(source: Path) -> list[Path]:
    """Where an entry may live: beside the source, then the cache dir."""
    return [source.resolve().parent, cache_dir() / "arrays"]


def _writable(folder: Path) -> bool:
    """Write access, and a folder not marked read-only (root may write anywhere, but should not)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _fingerprint(source: Path) -> list[object]:
    if source.is_file():
        info = source.stat()
        return [info.st_size, info.st_mtime_ns]
    top = len(str(source)) + 1  # cut "<source>/" from every path
    return [
        [entry.path[top:], info.st_size, info.st_mtime_ns]
        for entry in sorted(_walk(source), key=lambda e: e.path)
        for info in [entry.stat()]
    ]


def _walk(top: Path) -> Iterator[os.DirEntry[str]]:
    """Every file below ``top``, hidden ones included: any change must be noticed."""
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_dir():
                yield from _walk(Path(entry.path))
            else:
                yield entry


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def _load(entry: Path) -> dict[str, ImageData] | None:
    """The splits stored in ``entry``, or None when it is absent or unreadable."""
    if not entry.is_dir():
        return None
    try:
        return {
            path.name.removesuffix(".images.npy"): ImageData(
                torch.from_numpy(np.load(path, mmap_mode="c")),  # (N, C, H, W)
                torch.from_numpy(np.load(_sibling(path, "labels"), mmap_mode="c")),  # (N,)
                tuple(np.load(_sibling(path, "classes")).tolist()),
            )
            for path in sorted(entry.glob("*.images.npy"))
        }
    except (OSError, ValueError):
        return None


def _sibling(images: Path, kind: str) -> Path:
    return images.with_name(images.name.replace(".images.", f".{kind}."))


def _save(splits: dict[str, ImageData], folders: list[Path], name: str, prefix: str) -> None:
    """Write the entry in the first writable folder and drop older entries of the source."""
    failure = ""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not _writable(folder):
                continue
            _write_entry(splits, folder, name)
        except OSError as error:
            failure = f": {error}"
            continue
        for stale in folder.glob(f"{prefix}*"):
            if stale.name != name:
                shutil.rmtree(stale, ignore_errors=True)
        return
    warnings.warn(
        f"decoded images not cached, the next load decodes again (no writable folder among "
        f"{', '.join(map(str, folders))}{failure})",
        stacklevel=3,
    )


def _write_entry(splits: dict[str, ImageData], folder: Path, name: str) -> None:
    """Write into a temporary folder, then rename: readers never see half an entry."""
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    try:
        _write(splits, temporary)
        os.replace(temporary, folder / name)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        if not (folder / name).is_dir():  # else another process wrote the same entry first
            raise


def _write(splits: dict[str, ImageData], folder: Path) -> None:
    folder.mkdir()
    for split, data in splits.items():
        np.save(folder / f"{split}.images.npy", data.images.contiguous().numpy())
        np.save(folder / f"{split}.labels.npy", data.labels.numpy())
        np.save(folder / f"{split}.classes.npy", np.array(data.classes, dtype=str))
