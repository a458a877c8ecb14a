"""Image files to one uint8 tensor: decoded in parallel, converted to RGB, resized to stack.

torchvision's libjpeg-turbo decoder gave the same pixels as Pillow on CIFAR-10's
JPEGs in a quarter to a half of the time (about 30 us per 32x32 image), and it
runs outside the GIL, so chunks of files decode in parallel threads. Pillow decodes
what torchvision cannot (BMP, TIFF, CMYK, ...), and everything once torchvision
drops its decoders (deprecated since 0.29 in favour of TorchCodec).
"""

from __future__ import annotations

import functools
import io
import os
import posixpath
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from .trees import Tree

DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"
CHUNK = 1000  # images per thread-pool task: large enough that task overhead vanishes
MAX_WORKERS = 8


@functools.cache
def _torchvision_io() -> tuple | None:
    """torchvision's decoders, imported on first use (importing torchvision takes about 2 s)."""
    try:
        from torchvision.io import ImageReadMode, decode_image
        from torchvision.transforms.v2.functional import to_dtype
    except ImportError:  # a torchvision without its (deprecated) decoders
        return None
    return ImageReadMode, decode_image, to_dtype


def _decode_torchvision(data: bytes) -> torch.Tensor:
    io = _torchvision_io()
    if io is None:
        return _decode_pillow(data)
    read_mode, decode_image, to_dtype = io
    try:
        image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), read_mode.RGB)
    except RuntimeError:
        return _decode_pillow(data)
    return image if image.dtype == torch.uint8 else to_dtype(image, torch.uint8, scale=True)


def _decode_pillow(data: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # (3, H, W)


_fast = _decode_torchvision
# file suffix (lower case): decoder; files with other suffixes are not images
DECODERS = {
    ".jpg": _fast,
    ".jpeg": _fast,
    ".png": _fast,
    ".webp": _fast,
    ".gif": _decode_pillow,  # torchvision returns every frame; Pillow the first
    ".bmp": _decode_pillow,
    ".tif": _decode_pillow,
    ".tiff": _decode_pillow,
    ".ppm": _decode_pillow,
    ".pgm": _decode_pillow,
}


def is_image(name: str) -> bool:
    return _suffix(name) in DECODERS


def _suffix(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def decode_images(
    tree: Tree, names: list[str], image_size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Decode ``names`` (at least one) from ``tree`` into (N, 3, H, W) uint8.

    ``image_size`` (height, width) in pixels; None means the most common size among
    the images (the first image's on a tie). Others are resized with antialiasing.
    """

    def decode_chunk(chunk: list[str]) -> list[torch.Tensor]:
        return [_decode(tree, name) for name in chunk]

    chunks = [names[i : i + CHUNK] for i in range(0, len(names), CHUNK)]
    workers = min(MAX_WORKERS, os.cpu_count() or 1, max(len(chunks), 1))
    with warnings.catch_warnings(), ThreadPoolExecutor(workers) as pool:
        warnings.filterwarnings("ignore", DEPRECATION, DeprecationWarning)
        images = [image for chunk in pool.map(decode_chunk, chunks) for image in chunk]
    size = image_size or _most_common_size(images)
    return torch.stack([_fit(image, size) for image in images])  # (N, 3, H, W)


def _most_common_size(images: list[torch.Tensor]) -> tuple[int, int]:
    """(height, width) of most images; of the first image among equally common sizes."""
    (height, width), _ = Counter((i.shape[1], i.shape[2]) for i in images).most_common(1)[0]
    return height, width


def _decode(tree: Tree, name: str) -> torch.Tensor:
    data = tree.read(name)
    try:
        return DECODERS[_suffix(name)](data)  # (3, H, W)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(
            f"{tree.where(name)} is not a readable image ({error}); remove or replace the file"
        ) from None


def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if (image.shape[1], image.shape[2]) == size:
        return image
    from torchvision.transforms.v2.functional import resize

    return resize(image, list(size), antialias=True)
