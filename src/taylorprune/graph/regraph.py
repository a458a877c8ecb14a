"""Rewrite channel-counting literals (pad widths, slice bounds, split sections, view sizes)
that live in a module's forward code.

Such a literal cannot be changed in Python source, so the smallest module whose forward
holds it (or its nearest parent, where that module traces differently on its own) is
re-traced on its own, the literal is edited in that graph, and the module is
replaced by the resulting fx.GraphModule under the same name (its submodules, and so the
state-dict keys, stay the same). Everything else in the pruned network stays the user's
own classes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch.fx as fx
from torch import nn

from ..errors import InputError
from .concrete import VALUED
from .context import read_literal
from .groups import ChannelGraph
from .tracing import MODULE_STATE, LeafTracer, eval_mode

Path = tuple[int | str, ...]


def replace_at(obj: Any, path: Path, value: Any) -> Any:
    """Copy of nested tuples/lists/slices ``obj`` with the entry at ``path`` replaced."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(key, str):
        parts = {"start": obj.start, "stop": obj.stop, "step": obj.step}
        parts[key] = replace_at(parts[key], rest, value)
        return slice(parts["start"], parts["stop"], parts["step"])
    items = list(obj)
    items[key] = replace_at(items[key], rest, value)
    return type(obj)(items)


def rewrite_constants(model: nn.Module, cg: ChannelGraph, removed: np.ndarray) -> nn.Module:
    """Apply every literal change a plan needs; returns the (possibly new) root module."""
    nodes = {n.name: n for n in cg.gm.graph.nodes}
    changes: dict[str, list[tuple[Path, int]]] = defaultdict(list)
    for c in cg.consts:
        kept = int(cg.kept(c.ids, removed).sum())
        new = c.sign * kept if c.pin is None else (c.pin if kept < len(c.ids) else None)
        if c.reads is not None and kept == len(c.ids) and cg.kept(c.reads, removed).all():
            continue  # a size read from shapes that still counts right
        if new is not None and read_literal(nodes[c.node], c.path) != new:
            changes[c.node].append((c.path, new))
    traced: dict[str, tuple[fx.Graph, dict[str, fx.Node]] | None] = {}
    scopes = {name: _traceable(model, cg, scope_of(nodes[name]), traced) for name in changes}
    for scope in _outermost(set(scopes.values())):
        mine = {n: ch for n, ch in changes.items() if _within(scopes[n], scope)}
        model = _regraph(model, scope, traced[scope], mine)
    return model


def _traceable(model: nn.Module, cg: ChannelGraph, scope: str, traced: dict) -> str:
    """The smallest module holding ``scope`` that traces on its own as it does inside the
    network: a module called more than once, or one whose forward unpacks an argument the
    caller built from proxies (``H, W = feat_size``), is rewritten within its parent."""
    while True:
        if scope not in traced:
            traced[scope] = _twin(model, cg, scope)
        if traced[scope] is not None:
            return scope
        if not scope:
            raise InputError(
                "cannot rewrite channel counts in the model (it traces differently on its "
                "own); freeze those groups by leaving them out of the plan"
            )
        scope = scope.rpartition(".")[0]
def scope_of(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def _within(inner: str, outer: str) -> bool:
    return outer == "" or inner == outer or inner.startswith(outer + ".")


def _outermost(scopes: set[str]) -> list[str]:
    return sorted(s for s in scopes if not any(t != s and _within(s, t) for t in scopes))


def _in_scope(node: fx.Node, scope: str) -> bool:
    stack = node.meta.get("nn_module_stack") or {}
    return scope == "" or any(path == scope for path, _ in stack.values())


def _same(big: fx.Node, small: fx.Node, scope: str) -> bool:
    if big.op != small.op:
        return False
    if big.op in ("call_module", "get_attr"):
        return big.target == (f"{scope}.{small.target}" if scope else small.target)
    return big.target == small.target


def _twin(model: nn.Module, cg: ChannelGraph, scope: str) -> tuple[fx.Graph, dict] | None:
    """The module at ``scope`` traced on its own, and its node for each node of the
    network's graph inside it; None where the two traces differ."""
    sub = model.get_submodule(scope) if scope else model
    body = ("placeholder", "output")
    # Modules traced with example values stay whole here (they run their own code); a
    # scope inside one is a plain part of it (tracing.LeafTracer._call_plainly).
    inner = [v for v in cg.valued if _within(v, scope)]
    big = [n for n in cg.gm.graph.nodes if n.op not in body and _in_scope(n, scope)
           and not n.meta.get(VALUED) and not any(_in_scope(n, v) for v in inner)]
    try:
        with eval_mode(sub):
            graph = LeafTracer(cg.opaque | cg.valued, prefix=scope).trace(sub)
    except Exception:  # a forward that does not trace on its own proxies: try the parent
        return None
    full = {n: f"{scope}.{n.target}" if scope else str(n.target) for n in graph.nodes}
    small = [n for n in graph.nodes if n.op not in body
             and not (n.op == "call_module" and full[n] in cg.valued)]
    if len(big) != len(small) or not all(
        _same(b, s, scope) for b, s in zip(big, small, strict=True)
    ):
        return None
    return graph, {b.name: s for b, s in zip(big, small, strict=True)}


def _regraph(model: nn.Module, scope: str, traced: tuple[fx.Graph, dict], changes: dict) -> nn.Module:
    """Edit the literals in the module's own graph and put it in the module's place."""
    sub = model.get_submodule(scope) if scope else model
    graph, twin = traced
    for name, edits in changes.items():
        node = twin[name]
        for path, value in edits:
            if isinstance(path[0], str):  # a keyword argument: (name, ...)
                old = node.kwargs.get(path[0])
                node.kwargs = {**node.kwargs, path[0]: replace_at(old, path[1:], value)}
            else:
                node.args = replace_at(node.args, path, value)
    new = fx.GraphModule(sub, graph, class_name=type(sub).__name__)
    for name, child in sub.named_children():  # the real children: containers and unused ones too
        setattr(new, name, child)
    for key, value in vars(sub).items():  # plain attributes, which a caller may read
        if key not in MODULE_STATE and key not in vars(new) and not hasattr(type(new), key):
            setattr(new, key, value)
    new.train(sub.training)
    if not scope:
        return new
    parent, _, leaf = scope.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)
    return model
