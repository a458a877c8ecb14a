"""Tracing a module whose forward computes on its input's shape (``math.ceil(H / patch)``,
``if x.shape[-1] < size``), which plain torch.fx cannot do.

Such a module is traced again with its input from one real forward pass of the example:
inside it every proxy carries its value, and a shape query answers with ShapeInts, ints
that remember which tensor dim they were read from. The graph is specialised to the
example's shapes only where the forward branches on them; the pruned network still runs
the module's own code, which recomputes every size. So a size read from a dim that holds
channels is followed like ``x.size(1)`` (see ``values.Size``), a branch on one freezes
those channels, and a channel literal in its own code cannot be rewritten (that would need
a plain trace of the module), so its channels freeze too. Its submodules are traced plainly
where they can be (timm's windowed attention around a plain attention), so the literals
in theirs stay rewritable.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx
from torch import nn

VALUED = "taylorprune_valued"  # node meta key: made while tracing with example values

_OPS = {"__add__": "add", "__radd__": "add", "__sub__": "sub", "__mul__": "mul",
        "__rmul__": "mul", "__floordiv__": "floordiv"}


class ShapeInt(int):
    """An int read from dim ``source[1]`` of the tensor of node ``source[0]``; ``steps`` is
    the integer arithmetic applied since ((op, int) pairs), None after anything else."""

    source: tuple[str, int]
    steps: tuple[tuple[str, int], ...] | None
    compared: list[tuple[str, int]] | None = None  # set while tracing: sources branched on

    def __new__(cls, value: int, source: tuple[str, int], steps: tuple | None = ()) -> ShapeInt:
        obj = super().__new__(cls, value)
        obj.source, obj.steps = source, steps
        return obj

    def _derive(self, op: str | None, other: Any, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return value
        if op is None or self.steps is None or type(other) is not int:
            return ShapeInt(value, self.source, None)
        return ShapeInt(value, self.source, (*self.steps, (op, other)))

    def _compare(self, other: Any, result: bool) -> bool:
        if ShapeInt.compared is not None:
            ShapeInt.compared.append(self.source)
        return result

    def __hash__(self) -> int:
        return int.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return self._compare(other, int(self) == other)

    def __ne__(self, other: object) -> bool:
        return self._compare(other, int(self) != other)

    def __lt__(self, other: Any) -> bool:
        return self._compare(other, int(self) < other)

    def __le__(self, other: Any) -> bool:
        return self._compare(other, int(self) <= other)

    def __gt__(self, other: Any) -> bool:
        return self._compare(other, int(self) > other)

    def __ge__(self, other: Any) -> bool:
        return self._compare(other, int(self) >= other)


def _arithmetic(name: str, op: str | None) -> Any:
    base = getattr(int, name)

    def method(self: ShapeInt, other: Any) -> Any:
        return self._derive(op, other, base(self, other))

    return method


for _name, _op in _OPS.items():
    setattr(ShapeInt, _name, _arithmetic(_name, _op))
for _name in ("__rsub__", "__mod__", "__rfloordiv__"):
    setattr(ShapeInt, _name, _arithmetic(_name, None))


class ConcreteProxy(fx.Proxy):
    """A proxy that also holds the value of its node for the example input."""

    def __init__(self, node: fx.Node, tracer: fx.Tracer, value: Any) -> None:
        super().__init__(node, tracer)
        self.value = value

    def __getattr__(self, k: str) -> Any:
        value = self.__dict__.get("value")
        if isinstance(value, torch.Tensor):
            if k == "shape":
                return self._shape()
            if k == "ndim":
                return value.ndim
            if k in ("dtype", "device", "is_cuda"):
                return getattr(value, k)
            if k == "size":
                return lambda dim=None: self._shape() if dim is None else self._shape()[dim]
            if k == "dim":
                return lambda: value.ndim
            if k == "numel":
                return lambda: value.numel()
        return super().__getattr__(k)

    def __len__(self) -> int:
        return self._shape()[0]

    def _shape(self) -> tuple[ShapeInt, ...]:
        return tuple(ShapeInt(n, (self.node.name, d)) for d, n in enumerate(self.value.shape))


class NoValue(Exception):
    """An operand of a concrete op has no value (it came from outside the module)."""


def evaluate(tracer: Any, kind: str, target: Any, args: tuple, kwargs: dict) -> Any:
    """The value of one traced op, from its operands' values. fx has patched module calls
    and attribute reads while it traces; ``tracer.evaluating`` makes them plain again."""

    def value(a: Any) -> Any:
        if isinstance(a, ConcreteProxy):
            return a.value
        if isinstance(a, fx.Proxy):
            raise NoValue
        return a

    a, kw = fx.node.map_aggregate(args, value), fx.node.map_aggregate(kwargs, value)
    tracer.evaluating = True
    try:
        with torch.no_grad():
            return _run(tracer.root, kind, target, a, kw)
    finally:
        tracer.evaluating = False


def _run(root: nn.Module, kind: str, target: Any, a: Any, kw: dict) -> Any:
    if kind == "call_function":
        return target(*a, **kw)
    if kind == "call_method":
        return getattr(a[0], target)(*a[1:], **kw)
    if kind == "call_module":
        return root.get_submodule(target)(*a, **kw)
    if kind == "get_attr":
        obj: Any = root
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj
    raise NoValue


def record_inputs(model: nn.Module, inputs: tuple, names: frozenset[str]) -> dict[str, tuple]:
    """(args, kwargs) of the first call of each named module, from one forward pass."""
    seen: dict[str, tuple] = {}
    hooks = []
    for name, m in model.named_modules():
        if name in names:
            def keep(_m: nn.Module, args: tuple, kwargs: dict, name: str = name) -> None:
                seen.setdefault(name, (args, kwargs))
            hooks.append(m.register_forward_pre_hook(keep, with_kwargs=True))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen


def with_values(tracer: fx.Tracer, proxies: Any, values: Any) -> Any:
    """Give proxies (nested like ``values``) their example values."""
    if isinstance(proxies, fx.Proxy):
        return ConcreteProxy(proxies.node, tracer, values)
    if isinstance(proxies, (tuple, list)):
        return type(proxies)(with_values(tracer, p, v) for p, v in zip(proxies, values, strict=True))
    if isinstance(proxies, dict):
        return {k: with_values(tracer, p, values[k]) for k, p in proxies.items()}
    return proxies


def plain(tracer: fx.Tracer, out: Any) -> Any:
    """Proxies leaving a concrete module are symbolic again, so the rest traces plainly."""
    return fx.node.map_aggregate(
        out, lambda a: fx.Proxy(a.node, tracer) if isinstance(a, ConcreteProxy) else a
    )
