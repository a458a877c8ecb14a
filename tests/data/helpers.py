"""Tiny data sets in every format taylorprune reads, written the way the originals are;
and the check that an error is one line naming what went wrong."""

from __future__ import annotations

import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from taylorprune.data import CIFAR10_CLASSES

TRAIN_PER_BATCH = 3  # images per data_batch_i (5 batches)
TEST_SIZE = 4


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 3, 32, 32) uint8
    labels: np.ndarray  # (N,) int64


@dataclass(frozen=True)
class TinyCifar:
    train: Split
    test: Split


def tiny_cifar(seed: int = 0) -> TinyCifar:
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        return Split(images, rng.integers(0, 10, n).astype(np.int64))

    return TinyCifar(split(5 * TRAIN_PER_BATCH), split(TEST_SIZE))


def _batches(data: TinyCifar) -> dict[str, Split]:
    """File stem: its images, in the order of the official archives."""
    step = TRAIN_PER_BATCH
    batches = {
        f"data_batch_{i + 1}": Split(
            data.train.images[i * step : (i + 1) * step],
            data.train.labels[i * step : (i + 1) * step],
        )
        for i in range(5)
    }
    return {**batches, "test_batch": data.test}


def _py2_str(value: bytes) -> bytes:
    """A Python 2 str: SHORT_BINSTRING or BINSTRING."""
    if len(value) < 256:
        return b"U" + bytes([len(value)]) + value
    return b"T" + struct.pack("<i", len(value)) + value


def _py2_int(value: int) -> bytes:
    return b"K" + bytes([value]) if value < 256 else b"M" + struct.pack("<H", value)


def _py2_scalar(value: int | bytes) -> bytes:
    return _py2_int(value) if isinstance(value, int) else _py2_str(value)


def _py2_array(value: np.ndarray) -> list[bytes]:
    """A 2-D uint8 array as numpy 1 pickled it: _reconstruct, then BUILD with its state."""
    assert value.dtype == np.uint8 and value.ndim == 2
    new = [b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"]
    new += [_py2_int(0), b"\x85", _py2_str(b"b"), b"\x87R"]  # _reconstruct(ndarray, (0,), "b")
    dtype = [b"cnumpy\ndtype\n", _py2_str(b"u1"), _py2_int(0), _py2_int(1), b"\x87R"]
    dtype += [b"(", _py2_int(3), _py2_str(b"|"), b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"]
    dtype += [_py2_int(0), b"tb"]  # dtype state: version, byte order, ..., BUILD
    state = [b"(", _py2_int(1), *map(_py2_int, value.shape), b"\x86", *dtype]
    state += [b"\x89", _py2_str(value.tobytes()), b"tb"]  # not Fortran order, data, BUILD
    return new + state


def py2_pickle(record: dict[bytes, object]) -> bytes:
    """What Python 2's cPickle.dump(record, file, 2) wrote for the official CIFAR-10 files:
    str (not bytes) keys and data, arrays rebuilt by numpy.core.multiarray._reconstruct.
    Values: ints, byte strings, lists of those, or 2-D uint8 arrays.
    """
    out = [b"\x80\x02}("]  # PROTO 2, EMPTY_DICT, MARK
    for key, value in record.items():
        out.append(_py2_str(key))
        if isinstance(value, np.ndarray):
            out += _py2_array(value)
        elif isinstance(value, list):
            out += [b"](", *map(_py2_scalar, value), b"e"]  # EMPTY_LIST, MARK, items, APPENDS
        else:
            out.append(_py2_scalar(value))
    out.append(b"u.")  # SETITEMS, STOP
    return b"".join(out)


def write_python_version(
    parent: Path, data: TinyCifar, dumps: Callable[[dict], bytes] = py2_pickle
) -> Path:
    """cifar-10-batches-py/ pickled by ``dumps`` (by default as Python 2 wrote the originals)."""
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, split in _batches(data).items():
        batch = {
            b"batch_label": name.encode(),
            b"labels": split.labels.tolist(),
            b"data": split.images.reshape(len(split.images), 3072),
            b"filenames": [f"{i}.png".encode() for i in range(len(split.images))],
        }
        (folder / name).write_bytes(dumps(batch))
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(dumps(meta))
    return folder


def write_binary_version(parent: Path, data: TinyCifar) -> Path:
    folder = parent / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, split in _batches(data).items():
        records = np.concatenate(
            [split.labels.astype(np.uint8)[:, None], split.images.reshape(len(split.images), 3072)],
            axis=1,
        )  # (N, 3073)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    return folder


def write_class_folders(folder: Path, split: Split, classes=CIFAR10_CLASSES) -> None:
    """folder/<class>/NNNN.png, numbered so sorted file order is the array order."""
    for i, (image, label) in enumerate(zip(split.images, split.labels, strict=True)):
        path = folder / classes[label] / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.transpose(1, 2, 0)).save(path)
    for name in classes:  # a class may have no images in a tiny split
        (folder / name).mkdir(parents=True, exist_ok=True)


def write_image_tree(parent: Path, data: TinyCifar, name: str = "cifar10-png") -> Path:
    folder = parent / name
    write_class_folders(folder / "train", data.train)
    write_class_folders(folder / "test", data.test)
    return folder


def tar_gz(folder: Path, archive: Path, wrap: bool = True) -> Path:
    """Pack ``folder`` into ``archive``, inside one top-level folder (``wrap``) or at the top."""
    with tarfile.open(archive, "w:gz") as tar:
        if wrap:
            tar.add(folder, arcname=folder.name)
        else:
            for child in sorted(folder.iterdir()):
                tar.add(child, arcname=child.name)
    return archive


def sorted_by_label(split: Split) -> Split:
    """The order an image folder yields: by class, then by file name (= original index)."""
    order = np.argsort(split.labels, kind="stable")
    return Split(split.images[order], split.labels[order])


def one_line_error(excinfo: pytest.ExceptionInfo, *needles: str) -> str:
    """The message of a raised InputError, checked to be one line naming every needle."""
    message = str(excinfo.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message
