"""Tables from op kind to channel-mapping handler.

Supporting a new op is one handler plus one decorator line::

    @register_function(torch.roll)
    def _roll(ctx, node): ...

A handler takes the pass context and the fx node and returns the node's value
(a Chan, a Param, None, or a tuple of those). Ops found in no table freeze every
channel they touch (see ``tracing.unknown_op``). Ops whose tensor inputs are all
parameter-derived (a weight being standardised) are looked up in the ``PARAM_*`` tables
first; a general handler that does not follow a parameter returns None for it, and
tracing then freezes that parameter.

A *fast path* names a module class outside torch (by its qualified name, so the library
that defines it need not be imported) whose forward is known to compute like a torch
layer plus channel-wise extras, e.g. timm's BatchNormAct2d (batch norm, then an
activation). Such modules are traced as leaves and handled whole; everything they do is
also understood op by op, the fast path only saves trace time and gives the module's
output as the place to read a channel's activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.fx as fx
from torch import nn

from .context import Context, Value

Handler = Callable[[Context, fx.Node], Value]

MODULES: dict[type[nn.Module], Handler] = {}
FUNCTIONS: dict[Any, Handler] = {}
METHODS: dict[str, Handler] = {}
PARAM_FUNCTIONS: dict[Any, Handler] = {}
PARAM_METHODS: dict[str, Handler] = {}


@dataclass(frozen=True)
class FastPath:
    """A module class whose forward computes like ``like`` (for MACs and channels)."""

    like: type[nn.Module]
    handler: Handler
    accepts: Callable[[nn.Module], bool]  # instance check, e.g. its activation is channel-wise


FAST_PATHS: dict[str, FastPath] = {}


def register_module(*types: type[nn.Module]) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        for t in types:
            MODULES[t] = handler
        return handler

    return add


def qualified_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"


def register_function(*fns: Any) -> Callable[[Handler], Handler]:
    """Functions, or their qualified names for ones whose modules are slow to import."""
    def add(handler: Handler) -> Handler:
        for f in fns:
            FUNCTIONS[f] = handler
        return handler

    return add


def register_method(*names: str) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        for n in names:
            METHODS[n] = handler
        return handler

    return add


def register_param(functions: tuple = (), methods: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Handler for ops on parameter-derived tensors only."""
    def add(handler: Handler) -> Handler:
        for f in functions:
            PARAM_FUNCTIONS[f] = handler
        for n in methods:
            PARAM_METHODS[n] = handler
        return handler

    return add


def register_fast_path(
    name: str, like: type[nn.Module], accepts: Callable[[nn.Module], bool] = lambda m: True
) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        FAST_PATHS[name] = FastPath(like, handler, accepts)
        return handler

    return add


def fast_path(module: nn.Module) -> FastPath | None:
    """The fast path for this module's class (or a base whose forward it did not override)."""
    for cls in type(module).__mro__:
        fp = FAST_PATHS.get(qualified_name(cls))
        if fp is not None:
            same = type(module).forward is cls.forward  # type: ignore[attr-defined]  # an nn.Module subclass
            return fp if same and fp.accepts(module) else None
    return None


def resolve_module(module: nn.Module, table: dict[type[nn.Module], Any]) -> Any:
    """table[cls] for the first class of the module's MRO (or its fast path's torch layer)
    whose forward the module runs unchanged; None for a forward the table does not know.

    One rule for every consumer (channel pass, MAC counter): a subclass that overrides
    forward is never taken for its base class.
    """
    fp = fast_path(module)
    runs = fp.like.forward if fp is not None else type(module).forward
    for cls in fp.like.__mro__ if fp is not None else type(module).__mro__:
        if cls in table and runs is getattr(cls, "forward", None):
            return table[cls]
    return None


def module_handler(module: nn.Module) -> Handler | None:
    """Handler for a leaf module: a fast path, or its registered torch class."""
    fp = fast_path(module)
    return fp.handler if fp is not None else resolve_module(module, MODULES)


def lookup(ctx: Context, node: fx.Node, params_only: bool = False) -> Handler | None:
    if node.op == "call_module":
        return module_handler(ctx.module(node))
    tables = [(PARAM_FUNCTIONS, PARAM_METHODS)] if params_only else []
    for functions, methods in [*tables, (FUNCTIONS, METHODS)]:  # then the general handlers
        found = None
        if node.op == "call_function":
            try:
                found = functions.get(node.target) or functions.get(qualified_name(node.target))
            except TypeError:  # unhashable target
                return None
        elif node.op == "call_method":
            found = methods.get(str(node.target))
        if found is not None:
            return found
    return None
