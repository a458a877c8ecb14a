import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorprune.data import ImageData, split_validation
from taylorprune.errors import InputError


def labelled(labels: list[int], num_classes: int | None = None) -> ImageData:
    n = len(labels)
    images = torch.arange(n, dtype=torch.int64).remainder(256).to(torch.uint8)
    images = images.view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()  # (N, 1, 2, 2)
    classes = [str(k) for k in range(num_classes or max(labels) + 1)]
    return ImageData(images, torch.tensor(labels, dtype=torch.int64), classes)


def ids(part: ImageData) -> list[int]:
    """Which original images a part holds (the first pixel is the index, mod 256)."""
    return part.images[:, 0, 0, 0].tolist()


def test_cifar_like_split_is_stratified() -> None:
    data = labelled([k for k in range(10) for _ in range(50)])
    train, validation = split_validation(data, 0.1)
    assert (len(train), len(validation)) == (450, 50)
    assert validation.labels.bincount().tolist() == [5] * 10
    assert train.classes == validation.classes == data.classes


def test_count_and_fraction_agree() -> None:
    data = labelled([k % 4 for k in range(200)])
    by_count = split_validation(data, 20, seed=3)[1]
    by_fraction = split_validation(data, 0.1, seed=3)[1]
    assert ids(by_count) == ids(by_fraction)


def test_same_seed_same_split_other_seed_other_split() -> None:
    data = labelled([k % 3 for k in range(240)])
    first, again, other = (ids(split_validation(data, 0.25, seed=s)[1]) for s in (7, 7, 8))
    assert first == again
    assert first != other


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=200),
    share=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_parts_are_disjoint_complete_ordered_and_proportional(labels, share, seed) -> None:
    data = labelled(labels, num_classes=5)
    count = min(max(round(share * len(labels)), 1), len(labels) - 1)
    train, validation = split_validation(data, count, seed=seed)
    assert len(validation) == count
    assert sorted(ids(train) + ids(validation)) == list(range(len(labels)))  # disjoint, complete
    assert ids(train) == sorted(ids(train)) and ids(validation) == sorted(ids(validation))
    per_class = np.bincount(labels, minlength=5)
    taken = validation.labels.bincount(minlength=5).numpy()
    assert np.all(np.abs(taken - per_class * count / len(labels)) < 1)


@pytest.mark.parametrize("size", [0, 0.0, 1.0, 1.5, 10, -3, True, "10%"])
def test_impossible_sizes(size) -> None:
    with pytest.raises(InputError) as excinfo:
        split_validation(labelled([0, 1] * 5), size)
    assert "\n" not in str(excinfo.value)


def test_default_validation_size_fits_any_data_set() -> None:
    from taylorprune.data import default_validation_size

    sizes = {n: default_validation_size(n) for n in (8, 240, 1_000, 3_000, 50_000, 1_000_000)}
    assert sizes == {8: 2, 240: 60, 1_000: 200, 3_000: 300, 50_000: 5_000, 1_000_000: 5_000}
    assert all(0 < default_validation_size(n) <= n // 4 for n in range(4, 3_000))


def test_the_mask_is_the_split_and_a_smaller_split_lies_within_a_larger_one() -> None:
    """What lets a run check its validation against the images bundled weights were trained without."""
    from taylorprune.data import validation_mask

    data = labelled([k % 10 for k in range(2_000)])
    small, large = validation_mask(data, 100, seed=4), validation_mask(data, 400, seed=4)
    assert ids(split_validation(data, 400, seed=4)[1]) == ids(data.subset(torch.from_numpy(large)))
    assert (small.sum(), large.sum()) == (100, 400)
    assert not (small & ~large).any()
    assert (validation_mask(data, 100, seed=5) & ~large).any()
