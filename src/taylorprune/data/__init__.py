"""Images and labels in, ImageData out: CIFAR-10 in every format, image folders, plain arrays.

Decoded images are cached as .npy files in the cache dir (never beside the source), so
only the first load of a data set pays for decoding.
"""

from .arrays import as_image_data, to_image_data
from .cache import cache_dir
from .cifar10 import CIFAR10_CLASSES, load_cifar10, load_data
from .image_data import ImageData
from .image_folder import load_image_folder
from .split import (
    DEFAULT_RULE,
    VALIDATION_SEED,
    default_validation_size,
    split_validation,
    validation_mask,
)

__all__ = [
    "CIFAR10_CLASSES",
    "DEFAULT_RULE",
    "VALIDATION_SEED",
    "ImageData",
    "as_image_data",
    "cache_dir",
    "default_validation_size",
    "load_cifar10",
    "load_data",
    "load_image_folder",
    "split_validation",
    "to_image_data",
    "validation_mask",
]
