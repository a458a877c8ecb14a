"""Trace a model with torch.fx, propagate shapes, and run the channel handlers.

Tracing never changes the model: it runs in eval mode (so stochastic depth and
auxiliary heads trace as at inference) and restores every module's mode afterwards.
A submodule that fx cannot trace (data-dependent control flow, unsupported Python)
becomes an opaque leaf whose channels are frozen, so the rest stays prunable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import InputError, first_line
from . import (  # noqa: F401  (fill the handler tables)
    concrete,
    ops_attention,
    ops_fast,
    ops_functional,
    ops_layers,
    ops_params,
    ops_patches,
    ops_pointwise,
    ops_repeat,
    ops_shape,
)
from .context import Context, Value, chans
from .groups import ChannelGraph, build_graph
from .points import resolve_points
from .registry import lookup, module_handler
from .values import Param

_MAX_OPAQUE = 64  # untraceable submodules made opaque before giving up
MODULE_STATE = frozenset(vars(nn.Module()))  # nn.Module's own attributes (parameters, hooks)


class LeafTracer(fx.Tracer):
    """fx tracer that also keeps the named submodules as opaque leaves.

    ``prefix`` is the qualified name of the traced module inside the full model, so one
    set of full names works when a submodule is traced on its own.
    """

    def __init__(
        self,
        leaves: frozenset[str] = frozenset(),
        prefix: str = "",
        examples: dict[str, tuple] | None = None,
    ) -> None:
        super().__init__()
        self.leaves, self.prefix = leaves, prefix
        self.examples = examples or {}  # module -> (args, kwargs): traced with values
        self.names: dict[int, str] = {}  # id of a parameter/buffer of the root -> its name
        self.valuing = False  # inside a module traced with values (not a plain part of it)
        self.evaluating = False  # computing an example value: module calls run plainly
        self.compared: list[tuple[str, int]] = []  # shape entries its forward branched on

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        if not isinstance(root, nn.Module):
            return super().trace(root, concrete_args)
        tensors = [*root.named_buffers(), *root.named_parameters()]
        self.names = {id(t): n for n, t in reversed(tensors)}  # first name wins
        with kept_caches(root):
            return super().trace(root, concrete_args)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        """fx's lookup, by a table instead of a scan of every parameter per access (which
        made tracing quadratic in the number of layers that read their own weights)."""
        if self.evaluating:
            return attr_val
        name = self.names.get(id(attr_val)) if isinstance(attr_val, torch.Tensor) else None
        if name is None or not (
            isinstance(attr_val, nn.Parameter) or self.proxy_buffer_attributes
        ):
            return attr_val
        if name not in parameter_proxy_cache:
            parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
        return parameter_proxy_cache[name]

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        """fx's leaves (torch.nn layers), untraceable modules, and any module a handler
        takes whole (a fast path, a subclass that keeps its torch base's forward)."""
        full = f"{self.prefix}.{qualname}" if self.prefix and qualname else self.prefix or qualname
        if full in self.leaves or super().is_leaf_module(m, qualname):
            return True
        return not isinstance(m, nn.Sequential) and module_handler(m) is not None

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        if self.evaluating:
            return forward(*args, **kwargs)
        name = self.path_of_module(m)
        try:
            if name in self.examples and not self.valuing:
                return self._call_with_values(m, name, forward, args, kwargs)
            if self.valuing and name not in self.examples and not self.is_leaf_module(m, name):
                return self._call_plainly(m, name, forward, args, kwargs)
            return super().call_module(m, forward, args, kwargs)
        except Exception as err:  # tag the innermost module that failed to trace
            if not hasattr(err, "taylorprune_module"):
                err.taylorprune_module = name  # type: ignore[attr-defined]
            raise

    def _call_with_values(self, m: nn.Module, name: str, forward: Any, args: Any, kwargs: Any) -> Any:
        example_args, example_kwargs = self.examples[name]
        args = concrete.with_values(self, args, example_args)
        kwargs = concrete.with_values(self, kwargs, example_kwargs)
        compared = concrete.ShapeInt.compared  # set already inside a plain part of one
        self.valuing, concrete.ShapeInt.compared = True, self.compared
        try:
            return concrete.plain(self, super().call_module(m, forward, args, kwargs))
        finally:
            self.valuing, concrete.ShapeInt.compared = False, compared

    def _call_plainly(self, m: nn.Module, name: str, forward: Any, args: Any, kwargs: Any) -> Any:
        """A submodule of a module traced with values is traced plainly where it can be
        (a failure makes it one traced with values, see ``trace``): its channel literals
        then stay rewritable by a plain trace of it (regraph.py). Its outputs get their
        values by running it on its inputs' values."""
        self.valuing = False
        try:
            out = super().call_module(m, forward, concrete.plain(self, args), concrete.plain(self, kwargs))
        finally:
            self.valuing = True
        try:
            value = concrete.evaluate(self, "call_module", name, args, kwargs)
        except concrete.NoValue:
            return out
        return concrete.with_values(self, out, value)

    def create_proxy(self, kind: str, target: Any, args: Any, kwargs: Any, *rest: Any, **kw: Any) -> Any:
        proxy = super().create_proxy(kind, target, args, kwargs, *rest, **kw)
        if not self.valuing or kind == "placeholder":
            return proxy
        proxy.node.meta[concrete.VALUED] = True
        try:
            value = concrete.evaluate(self, kind, target, args, kwargs)
        except concrete.NoValue:
            return proxy
        return concrete.ConcreteProxy(proxy.node, self, value)


def trace_channels(model: nn.Module, example_inputs: Any) -> ChannelGraph:
    """Find which channels of ``model`` are coupled and how each can be removed.

    ``example_inputs`` is one tensor or a tuple of positional inputs (e.g. a
    (1, 3, 32, 32) batch); only shapes matter. Returns a ChannelGraph whose ``groups``
    say which channels can be pruned together, and where each lives.
    """
    inputs = (
        tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    )
    with eval_mode(model):
        gm, leaves, tracer = trace(model, inputs)
        propagate_shapes(gm, inputs)
    ctx = propagate(gm, leaves, model)
    ctx.specialised(tracer.compared)
    return build_graph(ctx, model, leaves, frozenset(tracer.examples))


def trace(model: nn.Module, inputs: tuple) -> tuple[fx.GraphModule, frozenset[str], LeafTracer]:
    """fx graph of ``model``. A submodule fx cannot trace is traced again with its example
    values (see concrete.py); if that fails too it becomes a leaf (listed in the result)."""
    leaves: frozenset[str] = frozenset()
    examples: dict[str, tuple] = {}
    for _ in range(_MAX_OPAQUE):
        tracer = LeafTracer(leaves, examples=examples)
        try:
            graph = tracer.trace(model)
        except Exception as err:
            failed = getattr(err, "taylorprune_module", "")
            if failed and failed not in leaves and failed not in examples:
                examples = concrete.record_inputs(model, inputs, frozenset({*examples, failed}))
                if failed in examples:  # called at all for this input
                    continue
            if not failed or failed in leaves:
                first = first_line(err)
                where = f"module {failed!r}" if failed else f"{type(model).__name__}.forward"
                raise InputError(
                    f"cannot trace {where} with torch.fx ({type(err).__name__}: {first}); "
                    "rewrite its forward without data-dependent control flow"
                ) from None
            leaves = leaves | {failed}
            examples.pop(failed, None)
            continue
        return fx.GraphModule(model, graph, class_name=type(model).__name__), leaves, tracer
    raise InputError(f"more than {_MAX_OPAQUE} submodules of {type(model).__name__} fail to trace")


def propagate_shapes(gm: fx.GraphModule, inputs: tuple) -> None:
    """Shapes on every node, from one real forward pass of the example inputs.

    Fake tensors would skip the arithmetic, but importing them pulls in torch._dynamo
    (about 2 s of start-up), far more than a batch-of-one forward pass costs.
    """
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(*inputs)
    except Exception as err:
        cause = err.__cause__ or err
        first = first_line(cause)
        raise InputError(
            f"the example inputs do not run through the model ({first}); "
            "pass a batch shaped like the model's real input, e.g. (1, 3, 32, 32)"
        ) from None


@contextlib.contextmanager
def kept_caches(model: nn.Module) -> Iterator[None]:
    """Dicts a forward fills as it runs (timm's ``attention_bias_cache``) restored after
    tracing: entries a trace adds hold proxies, keyed by a proxy's name in eval mode, and a
    later trace would read them as its own."""
    kept = [(d, dict(d)) for m in model.modules() for k, d in vars(m).items()
            if isinstance(d, dict) and k not in MODULE_STATE]
    try:
        yield
    finally:
        for d, entries in kept:
            d.clear()
            d.update(entries)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def propagate(gm: fx.GraphModule, opaque: frozenset[str], model: nn.Module) -> Context:
    """Run each node's handler in graph order."""
    tensors = frozenset(n for n, _ in [*model.named_parameters(), *model.named_buffers()])
    ctx = Context(gm, model, opaque=opaque, tensors=tensors)
    for node in gm.graph.nodes:
        ctx.env[node] = _visit(ctx, node)
    resolve_points(ctx)
    return ctx


def _visit(ctx: Context, node: fx.Node) -> Value:
    shape = ctx.shape(node)
    if node.op == "placeholder":
        return ctx.fresh_frozen(shape, "network input") if shape else None
    if node.op == "get_attr":
        return ctx.param(node)
    if node.op == "output":
        ctx.freeze(ctx.value(node.args[0]), "network output")
        return None
    inputs = ctx.value([*node.args, *node.kwargs.values()])
    params = _params(inputs)
    handler = lookup(ctx, node, params_only=bool(params) and not chans(inputs))
    value = handler(ctx, node) if handler is not None else unknown_op(ctx, node)
    if value is None and shape is not None and params:
        # A weight went into a tensor nobody follows: slicing it would change that tensor.
        ctx.freeze(params, f"{node.name}: {_describe(ctx, node)} on a parameter is not followed")
    return value


def _params(value: Value) -> list[Param]:
    if isinstance(value, Param):
        return [value]
    if isinstance(value, (tuple, list)):
        return [p for v in value for p in _params(v)]
    return []


def unknown_op(ctx: Context, node: fx.Node) -> Value:
    """What we do not understand we do not prune: freeze inputs and outputs."""
    reason = f"{node.name}: {_describe(ctx, node)} is not understood"
    for arg in [*node.args, *node.kwargs.values()]:
        ctx.freeze(ctx.value(arg), reason)
    meta = node.meta.get("tensor_meta")
    if isinstance(meta, Sequence) and not hasattr(meta, "shape"):
        return tuple(ctx.fresh_frozen(tuple(getattr(m, "shape", ())), reason) for m in meta)
    return ctx.fresh_frozen(ctx.shape(node), reason)


def _describe(ctx: Context, node: fx.Node) -> str:
    if node.op == "call_module" and node.target in ctx.opaque:
        return f"module {type(ctx.module(node)).__name__} (untraceable by torch.fx, kept whole)"
    if node.op == "call_module":
        return f"module {type(ctx.module(node)).__name__}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    return f"function {getattr(node.target, '__name__', node.target)}"
