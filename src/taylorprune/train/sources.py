"""Where mini-batches come from: an in-memory ImageData, a map-style Dataset, or a DataLoader.

Training, evaluation, Taylor scoring and the pruning loop ask one small interface for their
batches, so each of them takes all three kinds of data:

- ``InMemory`` (ImageData, or an ``(X, y)`` tuple): the fast path. The whole set sits on the
  device as uint8 and batches are gathered and augmented there (train.batches).
- ``Streamed`` (any map-style ``torch.utils.data.Dataset`` of ``(input, target)`` pairs):
  taylorprune builds the DataLoader. It follows the same global order as the fast path (a
  permutation drawn from the run's generator, so a resumed run replays it exactly), and under
  torchrun each rank loads only its contiguous 1/W of every global mini-batch, the split the
  fast path uses (docs/distributed.md). Examples are read one by one: the set is never held
  whole in memory.
- ``UserLoader`` (a ``torch.utils.data.DataLoader``): used as given. Its sampler decides the
  order and the sharding, so ``note`` says what taylorprune cannot control.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from .. import distributed
from ..data import ImageData, split_validation, to_image_data
from ..errors import InputError
from .augment import to_float
from .batches import iterate_batches, to_device

Batch = tuple[torch.Tensor, torch.Tensor]  # (inputs, targets) on the run's device


class DataSource(Protocol):
    """What every consumer of data needs; see the module docstring for the three kinds."""

    @property
    def note(self) -> str | None:
        """What taylorprune cannot control with this source (None: everything)."""
        ...

    @property
    def controls_order(self) -> bool:
        """Whether ``order`` and ``batch_size`` of ``batches`` are obeyed."""
        ...

    def __len__(self) -> int: ...  # examples

    def batches(self, order: torch.Tensor, batch_size: int, *, augment: bool = False,
                generator: torch.Generator | None = None, drop_last: bool = False,
                shard: bool = False) -> Iterator[Batch]:
        """Mini-batches following ``order`` (example indices), as iterate_batches describes."""
        ...

    def num_batches(self, batch_size: int, drop_last: bool) -> int: ...

    def example(self, n: int = 1) -> Batch:
        """The first ``n`` examples on the device: for shape checks and tracing."""
        ...

    # Dataset and DataLoader sources also have fingerprint() -> str, a short hash that changes
    # when the data does; ImageData is hashed by content instead (fingerprints.data_sha256).


class InMemory:
    """ImageData resident on the device as uint8; augmentation (random crop, flip) on the device."""

    note = None
    controls_order = True

    def __init__(self, data: ImageData, device: torch.device) -> None:
        self.data = data
        self.images, self.labels = to_device(data, device)

    def __len__(self) -> int:
        return len(self.data)

    def batches(self, order: torch.Tensor, batch_size: int, *, augment: bool = False,
                generator: torch.Generator | None = None, drop_last: bool = False,
                shard: bool = False) -> Iterator[Batch]:
        return iterate_batches(self.images, self.labels, order, batch_size, augment=augment,
                               generator=generator, drop_last=drop_last, shard=shard)

    def num_batches(self, batch_size: int, drop_last: bool) -> int:
        return _count_batches(len(self), batch_size, drop_last)

    def example(self, n: int = 1) -> Batch:
        return to_float(self.images[:n]), self.labels[:n]


class Streamed:
    """A map-style Dataset read through DataLoaders that taylorprune builds per pass.

    ``augment`` does not apply: a Dataset's own transforms augment.
    """

    note = None
    controls_order = True

    def __init__(self, dataset: Dataset, device: torch.device, workers: int = 0) -> None:
        if not hasattr(dataset, "__len__"):
            raise InputError(f"the {type(dataset).__name__} has no length; give it __len__, "
                             "or wrap it in a DataLoader")
        self.dataset, self.device, self.workers = dataset, device, workers

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, order: torch.Tensor, batch_size: int, *, augment: bool = False,
                generator: torch.Generator | None = None, drop_last: bool = False,
                shard: bool = False) -> Iterator[Batch]:
        plan = _plan(order, batch_size, drop_last, shard)
        # Workers seed their random transforms from this; without workers the transforms draw
        # from the global RNG, which a TrainingState saves. Either way a resume repeats them.
        seed = int(torch.randint(2**62, (1,), generator=generator)) if self.workers and generator is not None else 0
        loader = DataLoader(self.dataset, batch_sampler=plan, num_workers=self.workers,
                            pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(seed))
        for batch in loader:
            yield _on_device(batch, self.device)

    def num_batches(self, batch_size: int, drop_last: bool) -> int:
        return _count_batches(len(self), batch_size, drop_last)

    def example(self, n: int = 1) -> Batch:
        if len(self) == 0:
            raise InputError(f"the {type(self.dataset).__name__} is empty; give it examples")
        items = [_pair(self.dataset[i], type(self.dataset).__name__) for i in range(min(n, len(self)))]
        return _on_device(torch.utils.data.default_collate(items), self.device)

    def fingerprint(self) -> str:
        """The Dataset's own ``fingerprint()`` when it has one, else its type and length.

        Examples are not hashed: random transforms would change them on every read.
        """
        own = getattr(self.dataset, "fingerprint", None)
        text = str(own()) if callable(own) else f"{type(self.dataset).__qualname__}:{len(self)}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class UserLoader:
    """A DataLoader used exactly as the user built it: its batches, order, workers and sampler."""

    controls_order = False

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device
        self.note = ("a DataLoader is used as given: its sampler decides the order (an exact "
                     "resume needs a deterministic one) and, under torchrun, each rank's share")

    def __len__(self) -> int:
        dataset = self.loader.dataset
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            return len(self.loader) * (self.loader.batch_size or 1)
        return len(dataset)

    def batches(self, order: torch.Tensor, batch_size: int, *, augment: bool = False,
                generator: torch.Generator | None = None, drop_last: bool = False,
                shard: bool = False) -> Iterator[Batch]:
        for batch in self.loader:
            yield _on_device(batch, self.device)

    def num_batches(self, batch_size: int, drop_last: bool) -> int:
        return len(self.loader)

    def example(self, n: int = 1) -> Batch:
        x, y = _pair(next(iter(self.loader)), "DataLoader")
        return _on_device((x[:n], y[:n]), self.device)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"DataLoader:{len(self)}".encode()).hexdigest()[:16]


def as_source(data: Any, device: torch.device, *, workers: int = 0) -> DataSource:
    """The DataSource for ``data``: ImageData or (X, y), a map-style Dataset, or a DataLoader."""
    if isinstance(data, (InMemory, Streamed, UserLoader)):
        return data
    if isinstance(data, DataLoader):
        return UserLoader(data, device)
    if isinstance(data, IterableDataset):
        raise InputError(f"the {type(data).__name__} is an IterableDataset; taylorprune needs a "
                         "map-style Dataset (with __getitem__ and __len__), or wrap it in a DataLoader")
    if isinstance(data, Dataset):
        return Streamed(data, device, workers)
    if not isinstance(data, (ImageData, tuple, list)):
        raise InputError(f"expected ImageData, (X, y), a torch Dataset or a DataLoader, got "
                         f"{type(data).__name__}")
    return InMemory(to_image_data(data), device)


def split_source(source: DataSource, size: float | int, seed: int = 0) -> tuple[DataSource, DataSource]:
    """(train, validation) carved from ``source``, the same for a given seed.

    ``size``: a count of validation examples, or a fraction in (0, 1). ImageData: stratified
    by class (data.split_validation). A Dataset: seeded random indices (reading every label
    to stratify would read the whole set).
    """
    if isinstance(source, InMemory):
        train, val = split_validation(source.data, size, seed=seed)
        return InMemory(train, source.images.device), InMemory(val, source.images.device)
    if isinstance(source, Streamed):
        n = len(source)
        count = int(size) if size >= 1 else round(size * n)
        if not 0 < count < n:
            raise InputError(f"validation size {size} of {n} examples leaves one side empty; "
                             "pass validation_data")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        val_idx, train_idx = order[:count].sort().values.tolist(), order[count:].sort().values.tolist()
        return (Streamed(Subset(source.dataset, train_idx), source.device, source.workers),
                Streamed(Subset(source.dataset, val_idx), source.device, source.workers))
    raise InputError("a DataLoader cannot be split into training and validation; pass "
                     "TrainingOptions(validation_data=...)")


def _plan(order: torch.Tensor, batch_size: int, drop_last: bool, shard: bool) -> list[list[int]]:
    """This rank's example indices per mini-batch: the global batches of ``order``, sharded."""
    order = order.cpu()
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    plan = []
    for start in range(0, stop, batch_size):
        size = min(batch_size, len(order) - start)
        part = distributed.local_part(start, size) if shard else slice(start, start + size)
        plan.append(order[part].tolist())
    return [indices for indices in plan if indices]


def _count_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def _pair(item: Any, what: str) -> Batch:
    """An example or batch as (input, target); anything else is one clear line."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    raise InputError(f"the {what} must yield (input, target) pairs, got "
                     f"{type(item).__name__}{f' of {len(item)}' if isinstance(item, (tuple, list)) else ''}; "
                     "return (x, y) from __getitem__")


def _on_device(batch: Any, device: torch.device) -> Batch:
    x, y = _pair(batch, "data")
    return _tensor(x, "input").to(device, non_blocking=True), _tensor(y, "target").to(device, non_blocking=True)


def _tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    raise InputError(f"each {what} must be a tensor, got {type(value).__name__}; convert it in the "
                     "Dataset (e.g. torchvision.transforms.ToTensor) or the DataLoader's collate_fn")
