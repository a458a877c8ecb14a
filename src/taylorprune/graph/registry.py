"""Tables from op kind to channel-mapping handler.

Supporting a new op is one handler plus one decorator line::

    @register_function(torch.roll)
    def _roll(ctx, node): ...

A handler takes the pass context and the fx node and returns the node's value
(a Chan, a Param, None, or a tuple of those). Ops found in no table freeze every
channel they touch (see ``tracing.unknown_op``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.fx as fx
from torch import nn

from .context import Context, Value

Handler = Callable[[Context, fx.Node], Value]

MODULES: dict[type[nn.Module], Handler] = {}
FUNCTIONS: dict[Any, Handler] = {}
METHODS: dict[str, Handler] = {}


def register_module(*types: type[nn.Module]) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        for t in types:
            MODULES[t] = handler
        return handler

    return add


def _qualified_name(fn: Any) -> str:
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


def module_handler(module: nn.Module) -> Handler | None:
    """Handler for a leaf module: its class, or a base class whose forward it did not override."""
    for cls in type(module).__mro__:
        if cls in MODULES and type(module).forward is cls.forward:
            return MODULES[cls]
    return None


def lookup(ctx: Context, node: fx.Node) -> Handler | None:
    if node.op == "call_module":
        return module_handler(ctx.module(node))
    if node.op == "call_function":
        try:
            return FUNCTIONS.get(node.target) or FUNCTIONS.get(_qualified_name(node.target))
        except TypeError:  # unhashable target
            return None
    if node.op == "call_method":
        return METHODS.get(str(node.target))
    return None
