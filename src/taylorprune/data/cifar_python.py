"""CIFAR-10's "python version": pickled batches data_batch_1..5, test_batch, batches.meta.

Each batch is a dict with ``data`` ((N, 3072) uint8: 1024 red, 1024 green, 1024 blue
values of a 32x32 image, row-major) and ``labels`` (N ints). The files were written
by Python 2, so keys and strings arrive as bytes. Pickles can run arbitrary code, so
they are read with an Unpickler that builds nothing but plain data and numpy arrays
filled from the file's own bytes.
"""

from __future__ import annotations

import io
import pickle
import posixpath
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .image_data import ImageData
from .trees import Tree

MARKER = "batches.meta"  # the file whose folder is a python-version root
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
FIX = "re-download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"


def _encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes at protocol 2, limited to that use."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing to encode with {encoding!r}")
    return text.encode("latin1")


_RECONSTRUCT: Any = np.zeros(1).__reduce__()[0]  # how numpy pickles an array, wherever it lives
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # the same at pickle protocol 5
_SCALAR = np.float64(0).__reduce__()[0]
_NDARRAY = object()  # what a pickle gets for numpy.ndarray: a name for _reconstruct, not callable


def _reconstruct(subtype: object, shape: tuple, code: bytes) -> np.ndarray:
    """An empty array that the pickle then fills from its own bytes (ndarray.__setstate__ checks
    their length): never ``numpy.ndarray(shape)``, whose memory the file never wrote."""
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError("refusing an array not filled from the file")
    return _RECONSTRUCT(np.ndarray, shape, code)


def _dtype(spec: object, align: bool = False, copy: bool = False) -> np.dtype:
    """A dtype of its own (copy=True), so the state the pickle sets never reaches numpy's shared ones."""
    return np.dtype(spec, bool(align), True)  # type: ignore[call-overload]  # Python 2 pickles pass align as 0 or 1


# (module, name) a pickle may ask for: what it gets. numpy 1 (which wrote the official
# files) and numpy 2 name the same functions in different modules.
ALLOWED = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("_codecs", "encode"): _encode,
}


class _SafeUnpickler(pickle.Unpickler):
    """Builds plain data and numpy arrays from the file's bytes; refuses every other class or function.

    Each callable comes wrapped in a new function object: a pickle may set attributes on what it
    gets (BUILD), and that must not change the callables later loads, or numpy itself, share.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            allowed = ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None
        return allowed if allowed is _NDARRAY else _fresh(allowed)


def _fresh(fn: Any) -> Any:
    def call(*args: Any) -> Any:
        return fn(*args)

    return call


def read_python(tree: Tree, root: str) -> dict[str, ImageData]:
    meta_path = posixpath.join(root, MARKER)
    meta = _unpickle(tree, meta_path)
    names = _field(meta, "label_names", tree.where(meta_path), "batches.meta")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return {
        split: _read_batches(tree, [posixpath.join(root, b) for b in batches], classes)
        for split, batches in SPLITS.items()
    }


def _read_batches(tree: Tree, paths: list[str], classes: tuple[str, ...]) -> ImageData:
    batches = [_read_batch(tree, path, len(classes)) for path in paths]
    images = np.concatenate([images for images, _ in batches])  # (N, 3, 32, 32)
    labels = np.concatenate([labels for _, labels in batches])  # (N,)
    return ImageData(torch.from_numpy(images), torch.from_numpy(labels), classes)


def _read_batch(tree: Tree, path: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    where = tree.where(path)
    batch = _unpickle(tree, path)
    data = _field(batch, "data", where, "python batch")
    labels = np.asarray(_field(batch, "labels", where, "python batch"))
    if not _is_batch(data, labels):
        raise InputError(
            f"{where} is not a CIFAR-10 python batch (expected N x 3072 uint8 data and N "
            f"labels, got {getattr(data, 'shape', type(data).__name__)} and {labels.shape}); {FIX}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise InputError(
            f"{where} has labels outside 0..{num_classes - 1} (batches.meta names "
            f"{num_classes} classes); {FIX}"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)  # (N, 3, 32, 32), (N,)


def _is_batch(data: Any, labels: np.ndarray) -> bool:
    """(N, 3072) uint8 pixels and N integer labels."""
    return (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.shape[1:] == (3072,)
        and labels.shape == (len(data),)
        and (labels.dtype.kind in "iu" or not len(labels))
    )


def _unpickle(tree: Tree, path: str) -> Any:
    data = tree.read(path)
    try:
        return _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # noqa: BLE001  (any failure inside pickle is a bad file)
        raise InputError(
            f"{tree.where(path)} is not a CIFAR-10 python batch ({error}); {FIX}"
        ) from None


def _field(record: Any, key: str, where: str, kind: str) -> Any:
    """``record[key]`` whether the pickle stored the key as bytes (Python 2) or str."""
    if isinstance(record, dict):
        for candidate in (key.encode(), key):
            if candidate in record:
                return record[candidate]
    raise InputError(f"{where} is not a CIFAR-10 {kind} (missing {key!r}); {FIX}")
