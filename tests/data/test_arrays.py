import numpy as np
import pytest
import torch

from taylorprune.data import ImageData, as_image_data, to_image_data
from taylorprune.errors import InputError

from .helpers import one_line_error

RNG = np.random.default_rng(0)
NCHW = RNG.integers(0, 256, (4, 3, 5, 6), dtype=np.uint8)
LABELS = [0, 2, 1, 2]


@pytest.mark.parametrize(
    "layout", [(0, 1, 2, 3), (0, 2, 3, 1), (2, 3, 1, 0)], ids=["NCHW", "NHWC", "HWCN (MATLAB)"]
)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_layouts_give_the_same_images(layout, kind) -> None:
    x = NCHW.transpose(layout)
    data = as_image_data(torch.from_numpy(x.copy()) if kind == "torch" else x, LABELS)
    assert torch.equal(data.images, torch.from_numpy(NCHW))
    assert data.labels.tolist() == LABELS
    assert data.classes == ("0", "1", "2")


def test_grayscale_matlab_array() -> None:
    x = RNG.integers(0, 256, (28, 28, 1, 5), dtype=np.uint8)  # MATLAB digits: H x W x 1 x N
    data = as_image_data(x, np.arange(5)[:, None])  # labels as a column vector
    assert data.images.shape == (5, 1, 28, 28)
    assert torch.equal(data.images[2, 0], torch.from_numpy(x[:, :, 0, 2]))


def test_float_pixels_stay_float32() -> None:
    data = as_image_data(NCHW.astype(np.float64) / 255, LABELS)
    assert data.images.dtype == torch.float32
    assert torch.allclose(data.images * 255, torch.from_numpy(NCHW).float(), atol=1e-3)


def test_integer_pixels_become_uint8() -> None:
    assert as_image_data(NCHW.astype(np.int64), LABELS).images.dtype == torch.uint8


def test_class_name_labels() -> None:
    data = as_image_data(NCHW, ["dog", "cat", "dog", "emu"])
    assert data.classes == ("cat", "dog", "emu")
    assert data.labels.tolist() == [1, 0, 1, 2]
    ordered = as_image_data(
        NCHW, np.array(["dog", "cat", "dog", "emu"]), classes=["emu", "dog", "cat"]
    )
    assert ordered.labels.tolist() == [1, 2, 1, 0]


def test_integer_labels_with_names() -> None:
    data = as_image_data(NCHW, LABELS, classes=["a", "b", "c", "d"])
    assert data.classes == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("x", "y", "classes", "needles"),
    [
        (NCHW.astype(np.float32), LABELS, None, ["[0, 1]", "255"]),
        (NCHW.astype(np.int64) * 2, LABELS, None, ["0..255"]),
        (NCHW[:, :, 0], LABELS, None, ["(4, 3, 6)", "NCHW"]),
        (NCHW.transpose(0, 2, 1, 3), LABELS, None, ["NCHW, NHWC, HWCN"]),
        (NCHW, LABELS[:3], None, ["N = 3"]),
        (NCHW, ["a", "b", "c", "zebra"], ["a", "b", "c"], ["zebra"]),
        (NCHW, LABELS, ["a", "b"], ["0..1"]),
        (NCHW, [0.5, 1, 2, 3], None, ["integers or class names"]),
        (NCHW, np.zeros((2, 2)), None, ["vector"]),
        (np.array([["a"]]), LABELS, None, ["numeric"]),
    ],
    ids=[
        "float 0..255",
        "int > 255",
        "3-D",
        "no layout",
        "count",
        "unknown name",
        "label > classes",
        "fractional label",
        "matrix labels",
        "strings",
    ],
)
def test_bad_arrays_are_explained(x, y, classes, needles) -> None:
    with pytest.raises(InputError) as excinfo:
        as_image_data(x, y, classes)
    one_line_error(excinfo, *needles)


def test_to_image_data_accepts_tuples() -> None:
    data = to_image_data((NCHW, LABELS))
    assert isinstance(data, ImageData) and to_image_data(data) is data
    assert to_image_data((NCHW, LABELS, ["a", "b", "c"])).classes == ("a", "b", "c")
    with pytest.raises(InputError):
        to_image_data(NCHW)
