import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from taylorprune.errors import InputError
from taylorprune.train.batches import iterate_batches
from taylorprune.train.sources import InMemory, Streamed, UserLoader, as_source
from tests.custom_data import Pairs, blob_pairs
from tests.fixtures import colour_blobs

CPU = torch.device("cpu")


def test_image_data_is_the_in_memory_fast_path():
    data = colour_blobs(20)
    source = as_source(data, CPU)
    assert isinstance(source, InMemory) and source.controls_order and source.note is None
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    got = list(source.batches(order, 8))
    want = list(iterate_batches(data.images, data.labels, order, 8))
    assert len(got) == len(want) == 3
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert torch.equal(x, wx) and torch.equal(y, wy)


def test_a_dataset_follows_the_order_and_is_read_only_where_used():
    data = blob_pairs(30)
    source = as_source(data, CPU)
    assert isinstance(source, Streamed)
    order = torch.randperm(30, generator=torch.Generator().manual_seed(1))
    batches = list(source.batches(order[:20], 8, drop_last=True))
    assert [len(y) for _, y in batches] == [8, 8]
    assert torch.equal(torch.cat([y for _, y in batches]), data.targets[order[:16]])
    assert torch.equal(batches[0][0], data.inputs[order[:8]])
    assert data.reads == 16  # exactly the examples of the two batches: never the whole set


def test_loader_workers_give_the_same_batches():
    data = blob_pairs(24)
    order = torch.arange(24).flip(0)
    plain = list(Streamed(data, CPU).batches(order, 10))
    workers = list(Streamed(data, CPU, workers=2).batches(order, 10))
    assert [len(y) for _, y in plain] == [10, 10, 4]
    for (x, y), (wx, wy) in zip(plain, workers, strict=True):
        assert torch.equal(x, wx) and torch.equal(y, wy)


def test_a_dataloader_is_used_as_given_and_says_what_it_cannot_control():
    data = blob_pairs(25)
    source = as_source(DataLoader(data, batch_size=7), CPU)
    assert isinstance(source, UserLoader) and not source.controls_order
    assert "order" in source.note and "resume" in source.note
    sizes = [len(y) for _, y in source.batches(torch.arange(25).flip(0), 100, drop_last=True)]
    assert sizes == [7, 7, 7, 4]  # its batch size and order, not the ones asked for
    assert len(source) == 25 and source.num_batches(100, True) == 4
    x, y = source.example(2)
    assert torch.equal(x, data.inputs[:2]) and torch.equal(y, data.targets[:2])


def test_examples_come_first_and_on_the_device():
    x, y = as_source(blob_pairs(5), CPU).example(2)
    assert x.shape == (2, 3, 8, 8) and y.tolist() == [0, 1]
    x, _ = as_source(colour_blobs(5), CPU).example(1)
    assert x.dtype == torch.float32 and float(x.max()) <= 1.0


def test_a_datasets_fingerprint_is_its_own_else_its_type_and_length():
    assert as_source(blob_pairs(10), CPU).fingerprint() == as_source(blob_pairs(10, seed=1), CPU).fingerprint()
    assert as_source(blob_pairs(10), CPU).fingerprint() != as_source(blob_pairs(11), CPU).fingerprint()

    class Versioned(Pairs):
        version = "v1"

        def fingerprint(self):
            return self.version

    data = Versioned(torch.zeros(4, 3, 2, 2), torch.zeros(4, dtype=torch.long))
    before = as_source(data, CPU).fingerprint()
    data.version = "v2"
    assert as_source(data, CPU).fingerprint() != before


class Stream(IterableDataset):
    def __iter__(self):
        yield torch.zeros(3), torch.zeros(())


class NotPairs(Pairs):
    def __getitem__(self, i):
        return self.inputs[i]


@pytest.mark.parametrize("data, match", [
    (Stream(), "IterableDataset"),
    ("cifar10/", "expected ImageData"),
    ({"x": 1}, "expected ImageData"),
])
def test_unusable_data_is_one_line(data, match):
    with pytest.raises(InputError, match=match):
        as_source(data, CPU)


def test_a_dataset_of_single_tensors_is_one_line():
    source = as_source(NotPairs(torch.zeros(4, 3), torch.zeros(4)), CPU)
    with pytest.raises(InputError, match=r"\(input, target\) pairs"):
        source.example(1)


def test_an_iterable_dataset_in_a_dataloader_is_fine():
    source = as_source(DataLoader(Stream(), batch_size=None), CPU)
    x, y = next(iter(source.batches(torch.arange(1), 1)))
    assert x.shape == (3,) and y.shape == ()
