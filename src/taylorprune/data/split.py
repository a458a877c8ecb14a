"""A validation set carved from the training data, the same every time for a given seed."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .image_data import ImageData

# The default validation split: a tenth of the training data, at most CAP images (one standard
# error of an accuracy near 85% is then 0.5 points), at least FLOOR (one image is 0.5 points)
# but never more than a quarter of the data, so training keeps three quarters.
SHARE, CAP, FLOOR = 0.1, 5000, 200
DEFAULT_RULE = f"default: {SHARE:.0%} capped at {CAP:,}, at least {FLOOR} or a quarter of the data"
# The seed of every validation split unless one is named: fixed, not the training seed, so that a
# network trained by `taylorprune train` (the bundled cifarnet was) and then pruned or trained with
# another --seed never meets its own training images in validation. The bundled cifarnet scores
# 89.16% on the 5,000 images of seed 0 and 98.16% / 98.34% on those of seeds 1 / 3
# (tests/models/test_pretrained.py).
VALIDATION_SEED = 0


def default_validation_size(n: int) -> int:
    """Validation images to carve from ``n`` training images when the user does not say."""
    return min(CAP, max(round(SHARE * n), min(FLOOR, n // 4), 1))


def split_validation(
    data: ImageData, size: float | int, seed: int = 0
) -> tuple[ImageData, ImageData]:
    """Split ``data`` into (train, validation), stratified so each class keeps its share.

    ``size``: a fraction in (0, 1) or a count of validation images. Each class gives
    its proportional share (largest remainders break ties, so counts add up exactly);
    which images go is fixed by ``seed``. Both parts keep the original image order.
    """
    mask = torch.from_numpy(validation_mask(data, size, seed))
    return data.subset(~mask), data.subset(mask)


def validation_mask(data: ImageData, size: float | int, seed: int = 0) -> np.ndarray:
    """(N,) bool: the images ``split_validation(data, size, seed)`` puts into validation.

    Each class's images are taken in the order of one permutation fixed by ``seed``, so a
    smaller split with the same seed lies within a larger one.
    """
    labels = data.labels.numpy()  # (N,)
    counts = np.bincount(labels, minlength=len(data.classes))  # (K,)
    quotas = _quotas(counts, _validation_count(size, len(data)))  # (K,)
    order = np.random.default_rng(seed).permutation(len(data))  # (N,)
    shuffled = labels[order]
    chosen = np.concatenate([order[shuffled == k][:quota] for k, quota in enumerate(quotas)])
    is_validation = np.zeros(len(data), dtype=bool)
    is_validation[chosen] = True
    return is_validation


def _validation_count(size: float | int, n: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise InputError(f"validation size must be a fraction or a count, got {size!r}")
    if isinstance(size, (float, np.floating)):
        if not 0 < size < 1:
            raise InputError(f"validation fraction must be in (0, 1), got {size}; e.g. 0.1")
        count = round(size * n)
    else:
        count = int(size)
    if not 0 < count < n:
        raise InputError(
            f"validation size {size} gives {count} of {n} images; leave at least one image "
            "on each side"
        )
    return count


def _quotas(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest-remainder method)."""
    exact = counts * total / counts.sum()  # (K,)
    quotas = np.floor(exact).astype(np.int64)
    remainders = exact - quotas
    extra = np.argsort(-remainders, kind="stable")[: total - quotas.sum()]
    quotas[extra] += 1
    return quotas
