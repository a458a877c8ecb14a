"""What the channel pass knows about each traced value, and the union-find over channel ids.

Every channel position of every tensor holds an *element* (an int). Elements that must
be removed together are joined in a union-find; one class is one prunable channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class UnionFind:
    """Union-find over elements 0..n-1, grown on demand."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def fresh(self, n: int) -> np.ndarray:
        """n new elements, each its own class."""
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, a: int) -> int:
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:  # path compression
            self.parent[a], a = root, self.parent[a]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def union_arrays(self, a: np.ndarray, b: np.ndarray) -> None:
        """Join a[i] with b[i] for every position (arrays broadcast)."""
        for x, y in zip(*(v.ravel() for v in np.broadcast_arrays(a, b)), strict=True):
            self.union(x, y)

    def roots(self) -> np.ndarray:
        """Root of every element, as an array indexed by element."""
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Chan:
    """A tensor whose channel positions are known.

    ``ids`` holds one element per position of the tensor dims listed in ``dims``
    (ascending); along all other dims the channel identity does not change. Usually
    ``dims == (1,)`` and ``ids`` is 1-D: one element per channel of an (N, C, H, W) tensor.
    Flattening (N, C, H, W) to (N, C*H*W) gives ``dims == (1,)`` with each element
    repeated H*W times; a channel shuffle's (N, g, C/g, H, W) view gives ``dims == (1, 2)``.
    """

    shape: tuple[int, ...]
    dims: tuple[int, ...]
    ids: np.ndarray

    @property
    def dim(self) -> int | None:
        """The single channel dim, or None when the ids span several dims."""
        return self.dims[0] if len(self.dims) == 1 else None

    def flat(self) -> np.ndarray:
        return self.ids.ravel()

    def with_shape(self, shape: tuple[int, ...]) -> Chan:
        return Chan(tuple(shape), self.dims, self.ids)


@dataclass(frozen=True)
class Param:
    """A parameter or buffer read with get_attr (e.g. ConvNeXt's layer_scale)."""

    target: str
    shape: tuple[int, ...]


def simplify(shape: tuple[int, ...], dims: tuple[int, ...], ids: np.ndarray) -> Chan:
    """Drop ids axes along which the element never changes (keeping at least one axis)."""
    keep = [a for a in range(ids.ndim) if ids.shape[a] > 1 and not _constant_along(ids, a)]
    if not keep:
        keep = [0]
    index = tuple(slice(None) if a in keep else 0 for a in range(ids.ndim))
    return Chan(tuple(shape), tuple(dims[a] for a in keep), ids[index])


def _constant_along(ids: np.ndarray, axis: int) -> bool:
    first = np.take(ids, [0], axis=axis)
    return bool((ids == first).all())


def expand(chan: Chan, dims: tuple[int, ...]) -> np.ndarray:
    """The ids broadcast over ``dims`` (a superset of chan.dims), one axis per dim."""
    index = tuple(slice(None) if d in chan.dims else None for d in dims)
    target = tuple(chan.shape[d] for d in dims)
    return np.broadcast_to(chan.ids[index], target)
