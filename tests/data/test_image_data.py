import pytest
import torch

from taylorprune.data import ImageData
from taylorprune.errors import InputError

from .helpers import one_line_error


def tiny() -> ImageData:
    images = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 3, 2, 2).contiguous()
    return ImageData(images, torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"])


def test_basics() -> None:
    data = tiny()
    assert len(data) == 6
    assert data.classes == ("a", "b", "c")  # a list is kept as a tuple
    assert repr(data) == "ImageData(6 images 3x2x2 uint8, 3 classes)"


@pytest.mark.parametrize(
    "indices",
    [
        [4, 1],
        torch.tensor([4, 1]),
        torch.tensor([False, True, False, False, True, False]),
        slice(1, 5, 3),
    ],
    ids=["list", "tensor", "mask", "slice"],
)
def test_subset(indices) -> None:
    part = tiny().subset(indices)
    assert sorted(part.images[:, 0, 0, 0].tolist()) == [1, 4]
    assert sorted(part.labels.tolist()) == [1, 1]
    assert part.classes == ("a", "b", "c")


def test_empty_subset() -> None:
    assert len(tiny().subset([])) == 0


@pytest.mark.parametrize(
    ("images", "labels", "needles"),
    [
        ([[0]], torch.zeros(1, dtype=torch.int64), ["torch.Tensor", "as_image_data"]),
        (torch.zeros(2, 3, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), ["4-D"]),
        (
            torch.zeros(2, 3, 4, 4, dtype=torch.float64),
            torch.zeros(2, dtype=torch.int64),
            ["float64"],
        ),
        (torch.full((2, 3, 4, 4), 2.0), torch.zeros(2, dtype=torch.int64), ["[0, 1]"]),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32), ["int64"]),
        (
            torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
            torch.zeros(3, dtype=torch.int64),
            ["3 labels"],
        ),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 3]), ["0..3", "3 classes"]),
    ],
)
def test_validation(images, labels, needles) -> None:
    with pytest.raises(InputError) as excinfo:
        ImageData(images, labels, ("a", "b", "c"))
    one_line_error(excinfo, *needles)
