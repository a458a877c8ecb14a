"""Images and labels in, ImageData out: CIFAR-10 in every format, image folders, plain arrays.

Decoded images are cached as .npy files in the cache dir (never beside the source), so
only the first load of a data set pays for decoding.
"""

from .arrays import as_image_data, to_image_data
from .cache import cache_dir
from .cifar10 import CIFAR10_CLASSES, load_cifar10, load_data
from .image_data import ImageData
from .image_folder import load_image_folder
from .split import split_validation

__all__ = [
    "CIFAR10_CLASSES",
    "ImageData",
    "as_image_data",
    "cache_dir",
    "load_cifar10",
    "load_data",
    "load_image_folder",
    "split_validation",
    "to_image_data",
]
