"""Decoded images kept as .npy files in the cache directory, so the second load is a memory map,
not a decode. Nothing is ever written beside the user's files.

An entry is a folder ``<cache dir>/arrays/<source name>.<place>-<content>``. ``content`` is a
sha256 of the source's bytes (for a folder, of every file's path and bytes below it) and of
how it is read, so an entry is used only for exactly the bytes it was decoded from, whatever
their path or modification time; ``place`` (the source's path and reader) lets a new entry
replace the one the same path left. Hashing costs far less than decoding
(benchmarks/results/integrity_cost.json, 2 cores at load average 17): 42-55 ms for the
19.6 MB CIFAR-10 JPEG archive, whose decode took 29 s; 5.0-5.8 s for the same 60,000 JPEGs
as a folder, where opening 60,000 small files dominates. Arrays are .npy files read with
allow_pickle=False (no pickle, no code), opened copy-on-write memory-mapped: nothing is read
until used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..errors import InputError
from .image_data import ImageData

VERSION = 2  # bump when the layout of an entry or the meaning of a reader changes
ENV = "TAYLORPRUNE_DATA"
CHUNK = 1 << 20  # bytes read at a time while hashing
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where data sets and caches live when no path is given: ``$TAYLORPRUNE_DATA``, else the
    platform's user cache folder (``$XDG_CACHE_HOME`` or ~/.cache on Linux) / taylorprune."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    return _user_cache_dir() / "taylorprune"


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: relative values are ignored


def cached(
    source: Path, reader: Mapping[str, object], build: Callable[[], dict[str, ImageData]]
) -> dict[str, ImageData]:
    """``build()``'s splits for ``source``, from the cache when its bytes were decoded before.

    ``reader`` names how the source is read (reader name, image size, ...): a
    different reader gets a different entry.
    """
    how = [VERSION, reader]
    place = hashlib.sha256(json.dumps([*how, str(source.resolve())]).encode()).hexdigest()[:10]
    prefix = f"{source.name}.{place}-"
    entry = cache_dir() / "arrays" / f"{prefix}{_content_digest(source, how)}"
    splits = _load(entry)
    if splits is None:
        splits = build()
        # f"{source.name}.taylorprune-*": what version 1 wrote in the cache dir
        _save(splits, entry, stale=(prefix, f"{source.name}.taylorprune-"))
    return splits


def _content_digest(source: Path, how: list[object]) -> str:
    """sha256 of how the source is read, then of each file (its path below the source, its size,
    its bytes) in path order."""
    digest = hashlib.sha256(json.dumps(how).encode())
    files = [(source, "")] if source.is_file() else [
        (Path(e.path), e.path[len(str(source)) + 1:]) for e in sorted(_walk(source), key=lambda e: e.path)]
    for path, relative in files:
        with open(path, "rb") as f:
            digest.update(f"\0{relative}\0{os.fstat(f.fileno()).st_size}\0".encode())
            while block := f.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def _walk(top: Path) -> Iterator[os.DirEntry[str]]:
    """Every file below ``top``, hidden ones included: any change must be noticed."""
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_dir():
                yield from _walk(Path(entry.path))
            else:
                yield entry


def _load(entry: Path) -> dict[str, ImageData] | None:
    """The splits stored in ``entry``, or None when it is absent, unreadable or not what we write."""
    if not entry.is_dir():
        return None
    try:
        return {
            path.name.removesuffix(".images.npy"): ImageData(
                torch.from_numpy(_array(path, mmap_mode="c")),  # (N, C, H, W)
                torch.from_numpy(_array(_sibling(path, "labels"), mmap_mode="c")),  # (N,)
                tuple(_array(_sibling(path, "classes")).tolist()),
            )
            for path in sorted(entry.glob("*.images.npy"))
        }
    except (OSError, ValueError, InputError):  # InputError: ImageData refused the arrays' shapes
        return None


def _array(path: Path, mmap_mode: Literal["c"] | None = None) -> np.ndarray:
    return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)  # an object array would be a pickle


def _sibling(images: Path, kind: str) -> Path:
    return images.with_name(images.name.replace(".images.", f".{kind}."))


def _save(splits: dict[str, ImageData], entry: Path, stale: tuple[str, ...]) -> None:
    """Write the entry, drop the entries whose names start with one of ``stale`` (older ones of the
    same source and reader), and say where it went."""
    folder = entry.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_entry(splits, folder, entry.name)
    except OSError as error:
        warnings.warn(f"decoded images not cached, the next load decodes again (cannot write {folder}: "
                      f"{error.strerror or error}; set {ENV} to a writable folder)", stacklevel=3)
        return
    for old in folder.iterdir():
        if old.name.startswith(stale) and old.name != entry.name:
            shutil.rmtree(old, ignore_errors=True)
    size = sum(f.stat().st_size for f in entry.iterdir())
    log.warning("taylorprune: cached the decoded images (%.3g MB) in %s; delete that folder to free "
                "the space (all caches: %s)", size / 1e6, entry, folder)


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
        np.save(folder / f"{split}.images.npy", data.images.contiguous().numpy(), allow_pickle=False)
        np.save(folder / f"{split}.labels.npy", data.labels.numpy(), allow_pickle=False)
        np.save(folder / f"{split}.classes.npy", np.array(data.classes, dtype=str), allow_pickle=False)
