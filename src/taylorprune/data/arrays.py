"""Plain arrays in, ImageData out: how MATLAB and numpy users hand over XTrain/TTrain."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .image_data import ImageData

# layout name: (axis of N, axis of C, permutation to NCHW), tried in this order;
# MATLAB's H-by-W-by-C-by-N comes last so it is used only when the others do not fit.
LAYOUTS = {
    "NCHW": (0, 1, (0, 1, 2, 3)),
    "NHWC": (0, 3, (0, 3, 1, 2)),
    "HWCN": (3, 2, (3, 2, 0, 1)),
}
CHANNELS = (1, 3)  # grayscale or RGB


def as_image_data(x: Any, y: Any, classes: Any = None) -> ImageData:
    """Wrap images ``x`` and labels ``y`` given as tensors, numpy arrays or lists.

    ``x``: NCHW, NHWC or MATLAB's HWCN (the layout whose N matches ``len(y)`` and
    whose C is 1 or 3), uint8 in 0..255, integers in 0..255, or floats in [0, 1].
    ``y``: integer labels 0..K-1, or class names (strings); ``classes`` fixes the
    names and their order (default: ``str(i)`` for integers, sorted names for strings).
    """
    labels, names = _labels(y, classes)
    images = _pixels(_nchw(_tensor(x), len(labels)))
    return ImageData(images, labels, names)


def to_image_data(data: Any) -> ImageData:
    """Accept an ImageData, or an ``(X, y)`` / ``(X, y, classes)`` tuple, wherever data is taken."""
    if isinstance(data, ImageData):
        return data
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return as_image_data(*data)
    raise InputError(
        f"expected ImageData or a tuple (X, y), got {type(data).__name__}; "
        "load data with load_data(PATH) or pass (images, labels)"
    )


def _tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise InputError(f"images must be numeric, got a {array.dtype} array; pass pixel values")
    return torch.from_numpy(np.ascontiguousarray(array))


def _nchw(x: torch.Tensor, n: int) -> torch.Tensor:
    """Permute ``x`` to (N, C, H, W), picking the first layout that fits its shape."""
    shape = tuple(x.shape)
    if x.dim() == 4:
        for n_axis, c_axis, order in LAYOUTS.values():
            if shape[n_axis] == n and shape[c_axis] in CHANNELS:
                return x.permute(order).contiguous()
    raise InputError(
        f"images of shape {shape} fit none of {', '.join(LAYOUTS)} with N = {n} labels and "
        f"C in {CHANNELS}; pass a 4-D array with one image per label"
    )


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """uint8 stays; other integers must be 0..255; floats must be in [0, 1] and become float32."""
    if x.dtype == torch.uint8:
        return x
    low, high = (float(x.min()), float(x.max())) if x.numel() else (0.0, 0.0)
    if x.is_floating_point():
        if low < 0 or high > 1:
            raise InputError(
                f"float images must lie in [0, 1], these span [{low:.4g}, {high:.4g}]; "
                "divide 0..255 pixels by 255 or pass them as uint8"
            )
        return x.to(torch.float32)
    if low < 0 or high > 255:
        raise InputError(
            f"integer images must lie in 0..255, these span {low:.0f}..{high:.0f}; "
            "rescale them to 0..255 or pass floats in [0, 1]"
        )
    return x.to(torch.uint8)


def _labels(y: Any, classes: Any) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Integer labels and class names from integer labels or class-name strings."""
    array = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if array.dtype.kind == "O":
        array = np.asarray(array.tolist())
    if array.ndim == 2 and 1 in array.shape:  # MATLAB column or row vector
        array = array.reshape(-1)
    if array.ndim != 1:
        raise InputError(
            f"labels must be a vector, got shape {array.shape}; pass one label per image"
        )
    if array.dtype.kind in "US":
        return _named_labels(array.astype(str), classes)
    if array.dtype.kind in "iub" or (array.dtype.kind == "f" and np.all(array == np.round(array))):
        labels = torch.from_numpy(array.astype(np.int64))
        if classes is None:
            classes = [str(i) for i in range(int(labels.max()) + 1 if len(labels) else 0)]
        return labels, tuple(classes)
    raise InputError(
        f"labels must be integers or class names, got {array.dtype} values; "
        "pass integer labels 0..K-1 or strings"
    )


def _named_labels(names: np.ndarray, classes: Any) -> tuple[torch.Tensor, tuple[str, ...]]:
    order = tuple(str(c) for c in classes) if classes is not None else tuple(sorted(set(names)))
    index = {name: i for i, name in enumerate(order)}
    unknown = sorted(set(names) - index.keys())
    if unknown:
        raise InputError(
            f"labels {unknown[:5]} are not in classes {list(order)}; add them to classes="
        )
    labels = torch.tensor([index[name] for name in names], dtype=torch.int64)
    return labels, order
