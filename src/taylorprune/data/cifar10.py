"""CIFAR-10 from wherever it is: a given path, the cache dir, or a download."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, first_line
from .cache import ENV, cache_dir
from .image_data import ImageData
from .sources import ACCEPTED, load_source, locate
from .trees import archive_kind, existing

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
IMAGE_SHAPE = (3, 32, 32)


def load_cifar10(
    root: str | Path | None = None, download: bool = True
) -> tuple[ImageData, ImageData]:
    """CIFAR-10's (train, test): 50,000 and 10,000 uint8 images (N, 3, 32, 32), 10 classes.

    ``root``: an archive or folder in any accepted format (official python or binary
    version, or a train/test image-folder tree), or a folder holding one; None looks
    in the cache dir (``$TAYLORPRUNE_DATA``, else the user cache folder: ~/.cache/taylorprune
    on Linux). When nothing is found there and ``download`` is set, the official python
    version (163 MB) is downloaded into that folder.
    """
    folder = Path(root).expanduser() if root is not None else cache_dir()
    if archive_kind(folder):  # a file was meant: never download into a folder named *.tar.gz
        existing(folder)
    source = locate(folder) if folder.exists() else None
    if source is None:
        if not download:
            raise InputError(f"no CIFAR-10 in {folder}; put {ACCEPTED} there, or pass --data PATH")
        source = _download(folder)
    splits = load_source(source)
    _check_cifar10(splits, source)
    return splits["train"], splits["test"]


def load_data(path: str | Path | None = None) -> tuple[ImageData, ImageData]:
    """(train, test) from ``path``: any CIFAR-10 format, or a train/ test/ image-folder tree
    of any classes and image size. None means CIFAR-10 from the cache dir (or downloaded).
    """
    if path is None:
        return load_cifar10()
    folder = existing(Path(path).expanduser())
    source = locate(folder)
    if source is None:
        raise InputError(f"{folder} holds no data set I can read; expected {ACCEPTED}")
    splits = load_source(source)
    return splits["train"], splits["test"]


def download_and_extract_archive(*args: object, **kwargs: object) -> None:
    """torchvision's downloader, imported on first use (importing torchvision takes about 2 s)."""
    from torchvision.datasets.utils import download_and_extract_archive as download

    download(*args, **kwargs)


def _download(folder: Path) -> Path:
    """Fetch and unpack the official python version into ``folder``; one line if that fails."""
    try:
        download_and_extract_archive(
            URL, download_root=str(folder), filename="cifar-10-python.tar.gz", md5=MD5
        )
    except Exception as error:  # noqa: BLE001  (offline, proxy, disk, checksum: all one message)
        reason = first_line(error)
        raise InputError(
            f"no CIFAR-10 in {folder} and downloading {URL} failed ({reason}); put {ACCEPTED} "
            f"in {folder} (or set {ENV} to another folder), or pass --data PATH"
        ) from None
    return folder / "cifar-10-batches-py"


def _check_cifar10(splits: dict[str, ImageData], source: Path) -> None:
    """load_cifar10 promises CIFAR-10; another image-folder data set belongs to load_data."""
    for split, data in splits.items():
        if data.classes != CIFAR10_CLASSES or tuple(data.images.shape[1:]) != IMAGE_SHAPE:
            shape = "x".join(map(str, data.images.shape[1:]))
            raise InputError(
                f"{source} is not CIFAR-10 ({split}/ has {len(data.classes)} classes "
                f"{', '.join(data.classes[:12])} of {shape} images); load other data sets "
                "with load_data(PATH) or load_image_folder(PATH)"
            )
