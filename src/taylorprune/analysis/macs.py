"""Multiply-accumulates per example, counted on a torch.fx graph with propagated shapes.

One MAC is one multiply-add. The convention (as in fvcore and MATLAB's analyzer): conv,
transposed conv, linear and matmul count their multiply-adds; normalisation layers count
one per output element (scale and shift, as folded at inference); elementwise arithmetic
(add, sub, mul, div) counts one per output element. Activations, pooling and data
movement count zero. A module that owns learnables but has no handler (an untraceable
submodule kept whole, an unusual layer) is listed as uncounted instead of guessed.

What is counted is what runs: a module is counted as a layer class only if it runs that
class's forward (the channel engine's rule, ``graph.registry.resolve_module``). A conv
subclass with its own forward is traced through, and its ops are counted one by one; if
fx cannot trace it, it is uncounted, just as the channel engine keeps it whole.

Supporting a new op is one handler plus one decorator line, as in ``graph.registry``.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..graph.registry import resolve_module

Shape = tuple[int, ...]
# Handlers return a node's MACs for the whole traced batch; shapes are read from
# node.meta["tensor_meta"]. Module handlers also get the called module.
ModuleHandler = Callable[[fx.Node, nn.Module], int]
NodeHandler = Callable[[fx.Node], int]

MODULES: dict[type[nn.Module], ModuleHandler] = {}
FUNCTIONS: dict[Any, NodeHandler] = {}
METHODS: dict[str, NodeHandler] = {}


@dataclass(frozen=True)
class MacCount:
    """MACs of one example (batch size divided out)."""

    total: int
    by_module: dict[str, int]  # qualified module name -> MACs of the ops it owns
    uncounted: tuple[str, ...]  # modules with learnables whose MACs are not known

    def of(self, module: str) -> int:
        return self.by_module.get(module, 0)


def count_macs(gm: fx.GraphModule) -> MacCount:
    """MACs per example of a traced module whose nodes carry ``tensor_meta`` (ShapeProp)."""
    by_module: dict[str, int] = defaultdict(int)
    uncounted: list[str] = []
    for node in gm.graph.nodes:
        macs = _node_macs(gm, node)
        if macs is not None:
            by_module[_owner(node)] += macs
        elif _has_params(module := gm.get_submodule(str(node.target))):
            uncounted.append(f"{node.target} ({type(module).__name__})")
    batch = _batch_size(gm)
    per_example = {name: macs // batch for name, macs in by_module.items()}
    return MacCount(sum(per_example.values()), per_example, tuple(dict.fromkeys(uncounted)))


def _node_macs(gm: fx.GraphModule, node: fx.Node) -> int | None:
    """The node's MACs; None for a module call no handler knows (other nodes cost 0)."""
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        handler = resolve_module(module, MODULES)
        return handler(node, module) if handler is not None else None
    if node.op == "call_function":
        try:
            fn = FUNCTIONS.get(node.target)
        except TypeError:  # unhashable target
            fn = None
    else:
        fn = METHODS.get(str(node.target)) if node.op == "call_method" else None
    return fn(node) if fn is not None else 0


def _has_params(module: nn.Module) -> bool:
    return next(iter(module.parameters()), None) is not None


def _owner(node: fx.Node) -> str:
    """The module a node's cost belongs to: its target, else the innermost calling module."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack.values()))[0] if stack else ""


def _batch_size(gm: fx.GraphModule) -> int:
    first = next((n for n in gm.graph.nodes if n.op == "placeholder"), None)
    shape = _shape(first) if first is not None else None
    return max(shape[0], 1) if shape else 1


def _shape(arg: Any) -> Shape | None:
    """Shape ShapeProp recorded for a node (None for non-tensors)."""
    meta = arg.meta.get("tensor_meta") if isinstance(arg, fx.Node) else None
    shape = getattr(meta, "shape", None)
    return tuple(shape) if shape is not None else None


def _numel(arg: Any) -> int:
    shape = _shape(arg)
    return math.prod(shape) if shape is not None else 0


def _arg(node: fx.Node, index: int, name: str) -> Any:
    return node.args[index] if len(node.args) > index else node.kwargs.get(name)


def _register(table: dict, *keys: Any) -> Callable[[Any], Any]:
    def add(handler: Any) -> Any:
        for key in keys:
            table[key] = handler
        return handler

    return add


# ---------------------------------------------------------------- handlers


@_register(MODULES, nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _conv_module(node: fx.Node, module: nn.Module) -> int:
    """Each output element: (in_channels / groups) x kernel multiply-adds."""
    weight = module.get_parameter("weight")  # (out, in / groups, *kernel)
    return _numel(node) * math.prod(weight.shape[1:])


@_register(MODULES, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def _conv_transpose_module(node: fx.Node, module: nn.Module) -> int:
    """Each input element is scattered to (out_channels / groups) x kernel outputs."""
    weight = module.get_parameter("weight")  # (in, out / groups, *kernel)
    return _numel(node.args[0]) * math.prod(weight.shape[1:])


@_register(MODULES, nn.Linear)
def _linear_module(node: fx.Node, module: nn.Module) -> int:
    return _numel(node) * module.get_parameter("weight").shape[1]  # weight: (out, in)


@_register(FUNCTIONS, F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d)
def _conv_function(node: fx.Node) -> int:
    weight = _shape(_arg(node, 1, "weight"))  # (out, in / groups, *kernel)
    return _numel(node) * math.prod(weight[1:]) if weight else 0


@_register(FUNCTIONS, F.linear)
def _linear_function(node: fx.Node) -> int:
    weight = _shape(_arg(node, 1, "weight"))  # (out, in)
    return _numel(node) * weight[-1] if weight else 0


@_register(FUNCTIONS, torch.matmul, operator.matmul, torch.mm, torch.bmm)
@_register(METHODS, "matmul", "mm", "bmm")
def _matmul(node: fx.Node) -> int:
    """Each output element sums over the inner dimension (the last of the first operand)."""
    first = _shape(node.args[0])
    return _numel(node) * first[-1] if first else 0


@_register(
    MODULES,
    nn.modules.batchnorm._BatchNorm,
    nn.SyncBatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
)
@_register(FUNCTIONS, F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm)
@_register(
    FUNCTIONS,
    operator.add,
    operator.iadd,
    operator.sub,
    operator.isub,
    operator.mul,
    operator.imul,
    operator.truediv,
    operator.itruediv,
    torch.add,
    torch.sub,
    torch.mul,
    torch.div,
)
@_register(METHODS, "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_")
def _per_output_element(node: fx.Node, *_: nn.Module) -> int:
    """One multiply-add per output element (norm scale-and-shift, elementwise arithmetic)."""
    return _numel(node)
