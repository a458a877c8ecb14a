"""The one container every taylorprune API takes for images and their labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError

PIXEL_DTYPES = (torch.uint8, torch.float32)  # uint8 in 0..255, or float32 in [0, 1]


@dataclass(frozen=True, eq=False)
class ImageData:
    """A labelled image set, held whole in memory (CIFAR-10 as uint8 is 184 MB).

    ``images`` stays uint8 wherever it can: it is 4x smaller than float32 and the
    training loop converts batch by batch on the device.
    """

    images: torch.Tensor  # (N, C, H, W) uint8 in 0..255, or float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64 in 0..len(classes)-1
    classes: tuple[str, ...]  # class names; label i is classes[i]

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        _check_images(self.images)
        _check_labels(self.labels, len(self.images), len(self.classes))

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        dtype = str(self.images.dtype).removeprefix("torch.")
        return f"ImageData({n} images {c}x{h}x{w} {dtype}, {len(self.classes)} classes)"

    def subset(self, indices: torch.Tensor | list[int] | slice) -> ImageData:
        """The images at ``indices`` (integer positions, a boolean mask or a slice), same classes."""
        if not isinstance(indices, slice):
            indices = torch.as_tensor(indices)
            if indices.dtype != torch.bool:
                indices = indices.long()
        return ImageData(self.images[indices], self.labels[indices], self.classes)


def _check_images(images: object) -> None:
    if not isinstance(images, torch.Tensor):
        raise InputError(
            f"ImageData.images must be a torch.Tensor, got {type(images).__name__}; "
            "use as_image_data(X, y) for numpy arrays or other layouts"
        )
    if images.dim() != 4:
        raise InputError(
            f"ImageData.images must be 4-D (N, C, H, W), got shape {tuple(images.shape)}; "
            "use as_image_data(X, y) for NHWC or MATLAB's H-by-W-by-C-by-N arrays"
        )
    if images.dtype not in PIXEL_DTYPES:
        raise InputError(
            f"ImageData.images must be uint8 (0..255) or float32 (0..1), got {images.dtype}; "
            "use as_image_data(X, y) to convert"
        )
    if images.dtype == torch.float32 and images.numel():
        low, high = torch.aminmax(images)
        if low < 0 or high > 1:
            raise InputError(
                f"float images must lie in [0, 1], these span [{low:.4g}, {high:.4g}]; "
                "divide 0..255 pixels by 255 or pass them as uint8"
            )


def _check_labels(labels: object, n: int, num_classes: int) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
        raise InputError(
            "ImageData.labels must be a 1-D int64 tensor; use as_image_data(X, y) "
            "to convert integer or class-name labels"
        )
    if len(labels) != n:
        raise InputError(f"{n} images but {len(labels)} labels; pass one label per image")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise InputError(
            f"labels span {int(labels.min())}..{int(labels.max())} but there are {num_classes} "
            f"classes; labels must be 0..{num_classes - 1} (pass classes= with one name per label)"
        )
