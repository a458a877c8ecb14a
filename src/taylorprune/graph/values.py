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
        x, y = (v.ravel() for v in np.broadcast_arrays(a, b))
        differ = x != y
        for u, v in zip(x[differ].tolist(), y[differ].tolist(), strict=True):
            self.union(u, v)

    def roots(self) -> np.ndarray:
        """Root of every element, as an array indexed by element (pointer jumping)."""
        parent = np.array(self.parent, dtype=np.int64)
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                return parent
            parent = up


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


Factor = np.ndarray | int  # one position id per entry, or a bare size without identity


@dataclass(frozen=True, eq=False)
class Param:
    """A tensor computed from parameters and buffers alone, with the elements of each axis.

    A get_attr gives every dim of size > 1 its own fresh elements, so a weight (O, I, k, k)
    carries O output and I input elements (and k kernel ones that never meet a channel).
    Ops that compute on weights keep them: ``axes[d]`` lists the factors laid along dim d,
    outer to inner (a reshape (O, I, k, k) -> (1, O, I*k*k) gives dim 2 the factors
    (I, k, k)); their sizes multiply to ``shape[d]``. When a consumer such as a functional
    conv meets the value it joins these elements with its channels, so the parameter is
    sliced with them (ScaledStdConv2d: the weight is standardised, then convolved).
    """

    shape: tuple[int, ...]
    axes: tuple[tuple[Factor, ...], ...]

    def ids(self, dim: int) -> np.ndarray | None:
        """The elements along ``dim`` when exactly one factor with identity lies there."""
        factors = self.axes[dim]
        if len(factors) == 1 and isinstance(factors[0], np.ndarray):
            return factors[0]
        return None

    def factors(self) -> list[Factor]:
        return [f for axis in self.axes for f in axis]


@dataclass(frozen=True, eq=False)
class Size:
    """A Python int read from tensor shapes (``x.shape[1]``, ``x.size(1) // 2``).

    ``chans`` holds the channels along each shape entry it was computed from that carries
    channels; ``ids`` the channels when it is exactly one such entry (no arithmetic);
    ``steps`` the integer arithmetic applied to one entry's count, in order (("floordiv", 8)
    for ``C // 8``), None after anything else. A view whose channel dim is sized by it stays
    valid after pruning only if it follows the plan (see ``ops_shape.check_sizes``).
    """

    chans: tuple[np.ndarray, ...] = ()
    ids: np.ndarray | None = None
    steps: tuple[tuple[str, int], ...] | None = ()

    def count(self, n: int) -> int | None:
        """The size this expression gives when its one entry counts n."""
        for op, k in self.steps or ():
            n = {"add": n + k, "sub": n - k, "mul": n * k, "floordiv": n // k}[op]
        return n if self.steps is not None else None


def factor_size(f: Factor) -> int:
    return len(f) if isinstance(f, np.ndarray) else int(f)


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


def size_of(value: object, dim: int) -> Size:
    """The Size of one dim of a traced tensor: the channels along it, if any (a dim that
    spans several channel dims is read at index 0 of the others)."""
    ids = None
    if isinstance(value, Chan) and dim in value.dims:
        at = value.dims.index(dim)
        ids = np.moveaxis(value.ids, at, 0).reshape(value.ids.shape[at], -1)[:, 0]
    elif isinstance(value, Param) and dim < len(value.shape):
        ids = value.ids(dim)
    return Size((ids,), ids) if ids is not None else Size()
