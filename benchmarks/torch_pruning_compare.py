"""Side by side with Torch-Pruning 1.6.1 on the networks of graph_coverage.py.

Each network is built once (graph_coverage's builder and seed), given random non-trivial
BatchNorm statistics and affine parameters, converted to float64 and put in eval mode;
both tools then prune a copy of it at random by 30%:

- ours: a seeded random plan removing round(30%) of every prunable group (never all),
  pruned with ``graph.prune``;
- Torch-Pruning: ``tp.pruner.MetaPruner`` with ``RandomImportance``, ``pruning_ratio=0.3``,
  the final classifier (the last conv/linear the forward pass calls) in ``ignored_layers``,
  everything else default. The groups it applies are recorded from ``step(interactive=True)``.

Columns, per tool:

- runnable: a forward pass on a fresh random input succeeds and gives the original output
  shape; otherwise the first line of the exception (from pruning or from the forward).
- consistent: max |pruned(x) - zeroed(x)| / max |zeroed(x)|, where ``zeroed`` is the
  original network with exactly the removed channels zeroed at their producers; below
  1e-9 counts as consistent. Ours: ``graph.mask``. Torch-Pruning: every group item whose
  handler is an out-channel pruning function names a layer and the indices it removed;
  we zero those rows of conv/linear weights and biases, of BN weight, bias and running
  mean, of LayerNorm/GroupNorm affine parameters and of unwrapped parameters (ConvNeXt's
  layer scale), in a copy of the original. Indices are mapped back to original positions
  per tensor, so a layer pruned twice by two groups is still zeroed at the right rows.
  "n/a" when a tool's pruning or forward failed, or a pruned layer type has no zeroing rule.
- prunable fraction: learnable parameters removed by pruning every group down to one
  channel, divided by all learnable parameters. Ours: ``cg.max_prunable_params()``.
  Torch-Pruning: the groups of ``DG.get_all_groups(ignored_layers=<classifier>,
  root_module_types=[nn.Conv2d, nn.Linear])`` are pruned one after another in a copy,
  each keeping one channel per channel group (so grouped convs stay valid, as its pruner
  does), and we count the parameters of the resulting network. Counting the network
  rather than summing per-group estimates treats shared kernels the way ours does (a
  conv whose input and output channels both shrink loses O*I - 1 weights, not
  O*I - 1 + O*I - 1). "n/a" with the error when Torch-Pruning's surgery fails.
- groups: ours ``len(cg.groups)`` (prunable in parentheses); Torch-Pruning the number of
  groups ``get_all_groups`` yields (only groups it would prune, rooted at conv/linear).
- time: trace + prune in seconds (ours ``trace_channels`` + ``prune``; Torch-Pruning the
  ``MetaPruner`` constructor, which builds its dependency graph, + ``step``), float64.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/torch_pruning_compare.py                  # all, writes files
    .venv/bin/python benchmarks/torch_pruning_compare.py --networks resnet20 googlenet

Prints one JSON line per network. A full run writes benchmarks/results/
torch_pruning_compare.json, then docs/graph-coverage.md (render_graph_coverage.py, which
also reads graph_coverage.json); a ``--networks`` run only prints, so a partial run never
replaces the full table. Torch-Pruning is imported here only: it is a benchmark dependency.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from graph_coverage import FRACTION, NETWORKS, SEED, build
from provenance import write_result
from render_graph_coverage import write_doc
from torch import nn

from taylorprune import errors, graph

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "torch_pruning_compare.json"
TOLERANCE = 1e-9  # relative: the pruned = masked oracle's tolerance (tests/graph)


@dataclass(frozen=True)
class Case:
    """One network, prepared identically for both tools (never modified by them)."""

    spec: str
    model: nn.Module  # float64, eval mode, random BN statistics
    x: torch.Tensor  # (1, 3, S, S) float64, tracing and comparison input
    probe: torch.Tensor  # another random input of the same shape, for the runnable check
    out_shape: tuple[int, ...]
    classifier: str  # qualified name of the final conv/linear


def prepare(spec: str, size: int) -> Case:
    model = build(spec)
    randomize_norms(model, SEED)
    model = model.double().eval()
    gen = torch.Generator().manual_seed(SEED)
    x = torch.rand(1, 3, size, size, generator=gen, dtype=torch.float64)
    probe = torch.rand(1, 3, size, size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        out_shape = tuple(model(x).shape)
    return Case(spec, model, x, probe, out_shape, final_layer(model, x))


def randomize_norms(model: nn.Module, seed: int) -> None:
    """Non-trivial BN statistics and norm affines, so that zeroing a producer is not the
    same as zeroing a BN output by accident (fresh BNs have mean 0, var 1, bias 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
            if isinstance(m, norms) and m.weight is not None:
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)


def final_layer(model: nn.Module, x: torch.Tensor) -> str:
    """Name of the last conv/linear the forward pass calls: the classifier both tools keep."""
    called: list[str] = []
    hooks = [
        m.register_forward_hook(lambda *_, name=name: called.append(name))
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return called[-1]


def learnables(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def first_line(err: BaseException) -> str:
    """The exception's type and the first line of its message (errors.first_line)."""
    message = errors.first_line(err)
    return type(err).__name__ if message == type(err).__name__ else f"{type(err).__name__}: {message}"


def runnable(model: nn.Module, case: Case) -> str:
    """ "yes", or why not (exception's first line, or the wrong output shape)."""
    try:
        with torch.no_grad():
            shape = tuple(model(case.probe).shape)
    except Exception as err:  # any failure of a pruned network is the measurement
        return first_line(err)
    return "yes" if shape == case.out_shape else f"output shape {shape}, want {case.out_shape}"


def rel_diff(got_model: nn.Module, want_model: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        got, want = got_model(x), want_model(x)
    return float((got - want).abs().max() / want.abs().max())


def consistency(diff: float | None, why_not: str | None) -> dict:
    if diff is None:
        return {"consistent": "n/a", "consistent_why_not": why_not}
    return {"consistent": diff <= TOLERANCE, "max_rel_diff": diff}


# ---- ours -------------------------------------------------------------------------------


def measure_ours(case: Case) -> dict:
    start = time.perf_counter()
    cg = graph.trace_channels(case.model, case.x)
    rng = random.Random(SEED)
    plan = {
        g.id: sorted(rng.sample(range(g.size), min(round(FRACTION * g.size), g.size - 1)))
        for g in cg.prunable
    }
    try:
        pruned = graph.prune(case.model, case.x, plan, channel_graph=cg)
    except Exception as err:  # a refusal or failure is the measurement
        pruned, why = None, first_line(err)
    seconds = time.perf_counter() - start
    row = {
        "groups": len(cg.groups),
        "prunable_groups": len(cg.prunable),
        "not_exact_groups": sum(not g.exact for g in cg.prunable),
        "prunable_fraction": round(cg.max_prunable_params() / learnables(case.model), 6),
        "params_removed": learnables(case.model) - learnables(pruned) if pruned is not None else 0,
        "seconds": round(seconds, 3),
    }
    if pruned is None:
        return {**row, "runnable": why, **consistency(None, "pruning raised (see runnable)")}
    ok = runnable(pruned, case)
    if ok != "yes":
        return {**row, "runnable": ok, **consistency(None, "pruned network does not run")}
    masked = graph.mask(case.model, case.x, plan, channel_graph=cg)
    return {**row, "runnable": ok, **consistency(rel_diff(pruned, masked, case.x), None)}


# ---- Torch-Pruning ----------------------------------------------------------------------

# Producer tensors zeroed for a removed out-channel, by layer type: (attributes, dim).
ZEROED: tuple[tuple[type, tuple[str, ...], int], ...] = (
    (nn.modules.conv._ConvTransposeNd, ("weight", "bias"), 1),
    (nn.modules.conv._ConvNd, ("weight", "bias"), 0),
    (nn.Linear, ("weight", "bias"), 0),
    (nn.modules.batchnorm._BatchNorm, ("weight", "bias", "running_mean"), 0),
    (nn.LayerNorm, ("weight", "bias"), -1),
    (nn.GroupNorm, ("weight", "bias"), 0),
    (nn.PReLU, ("weight",), 0),
)


class NoZeroingRule(Exception):
    """A pruned layer type whose removed channels we do not know how to zero."""


@dataclass(frozen=True)
class Removal:
    """Channels one group item removed: positions along ``dim`` of tensor ``name``,
    counted in the tensor as it was when the group was applied."""

    name: str
    dim: int
    indices: tuple[int, ...]


def tp_pruner(tp: ModuleType, model: nn.Module, case: Case):
    classifier = model.get_submodule(case.classifier)
    return tp.pruner.MetaPruner(
        model,
        case.x,
        importance=tp.importance.RandomImportance(),
        pruning_ratio=FRACTION,
        ignored_layers=[classifier],
    )


def measure_tp(tp: ModuleType, case: Case) -> dict:
    model = copy.deepcopy(case.model)
    torch.manual_seed(SEED)  # RandomImportance draws from torch's global generator
    start = time.perf_counter()
    removals: list[Removal] = []
    try:
        pruner = tp_pruner(tp, model, case)
        for group in pruner.step(interactive=True):
            removals += out_channel_removals(group, pruner.DG)
            group.prune()
    except Exception as err:  # an internal error of the tool is the measurement
        return {"runnable": first_line(err), **consistency(None, "pruning raised (see runnable)")}
    row = {
        "params_removed": learnables(case.model) - learnables(model),
        "seconds": round(time.perf_counter() - start, 3),
    }
    ok = runnable(model, case)
    if ok != "yes":
        return {**row, "runnable": ok, **consistency(None, "pruned network does not run")}
    try:
        zeroed = zero_removed(case.model, removals)
    except (NoZeroingRule, IndexError) as err:
        return {**row, "runnable": ok, **consistency(None, first_line(err))}
    return {**row, "runnable": ok, **consistency(rel_diff(model, zeroed, case.x), None)}


def out_channel_removals(group, dg) -> list[Removal]:
    """The producer tensors a Torch-Pruning group removes rows of (read before it prunes)."""
    out = []
    for dep, idxs in group.items:
        if not dg.is_out_channel_pruning_fn(dep.handler) or not idxs:
            continue
        target = dep.target.module
        if isinstance(target, nn.Parameter):  # unwrapped parameter, e.g. ConvNeXt layer scale
            out.append(Removal(dg._param_to_name[target], dep.target.pruning_dim, tuple(idxs)))
            continue
        name = dg._module2name.get(target, "")  # Torch-Pruning's own op nodes have no name
        out += [Removal(t, dim, tuple(idxs)) for t, dim in producer_tensors(target, name)]
    return out


def producer_tensors(module: nn.Module, name: str) -> list[tuple[str, int]]:
    """(qualified tensor name, dim) of a module's per-out-channel tensors."""
    if not any(True for _ in module.parameters(recurse=False)):
        return []  # a parameter-free op (activation, pooling, Torch-Pruning's concat/add nodes)
    for kind, attrs, dim in ZEROED:
        if isinstance(module, kind):
            return [(f"{name}.{a}", dim) for a in attrs if getattr(module, a, None) is not None]
    raise NoZeroingRule(f"no zeroing rule for pruned {type(module).__name__} {name}")


def zero_removed(original: nn.Module, removals: list[Removal]) -> nn.Module:
    """Copy of ``original`` with every removed channel zeroed at its original position."""
    zeroed = copy.deepcopy(original)
    tensors = {**dict(zeroed.named_parameters()), **dict(zeroed.named_buffers())}
    alive: dict[tuple[str, int], list[int]] = {}  # original positions still present
    with torch.no_grad():
        for r in removals:
            tensor = tensors[r.name]
            dim = r.dim % tensor.dim()
            left = alive.setdefault((r.name, dim), list(range(tensor.shape[dim])))
            originals = {left[i] for i in r.indices}
            tensor.index_fill_(dim, torch.tensor(sorted(originals)), 0.0)
            alive[(r.name, dim)] = [p for p in left if p not in originals]
    return zeroed


def tp_capacity(tp: ModuleType, case: Case) -> dict:
    """Groups and prunable fraction of Torch-Pruning (method in the module docstring)."""
    model = copy.deepcopy(case.model)
    try:
        pruner = tp_pruner(tp, model, case)
        groups = list(
            pruner.DG.get_all_groups(
                ignored_layers=pruner.ignored_layers, root_module_types=[nn.Conv2d, nn.Linear]
            )
        )
    except Exception as err:  # an internal error of the tool is the measurement
        return {"groups": None, "prunable_fraction": "n/a", "prunable_why_not": first_line(err)}
    try:
        for group in groups:
            prune_to_one(pruner, group)
    except Exception as err:
        return {
            "groups": len(groups),
            "prunable_fraction": "n/a",
            "prunable_why_not": first_line(err),
        }
    return {
        "groups": len(groups),
        "prunable_fraction": round(1 - learnables(model) / learnables(case.model), 6),
        "pruned_to_one_runnable": runnable(model, case),  # is that maximum a working network?
    }


def prune_to_one(pruner, group) -> None:
    """Prune a Torch-Pruning group to one channel per channel group (grouped convs need
    the same count in every group, which its pruner also enforces)."""
    dg = pruner.DG
    root, handler = group[0].dep.target.module, group[0].dep.handler
    per = pruner._get_channel_groups(group)  # private, but it is what its pruner uses
    size = dg.get_out_channels(root) // per  # current size: an earlier group may have shrunk it
    drop = [k * size + j for k in range(per) for j in range(1, size)]
    sub = dg.get_pruning_group(root, handler, drop)
    if drop and dg.check_pruning_group(sub):
        sub.prune()


# ---- run ---------------------------------------------------------------------


def measure(tp: ModuleType, spec: str, size: int) -> dict:
    case = prepare(spec, size)
    return {
        "network": spec,
        "input": [1, 3, size, size],
        "params": learnables(case.model),
        "classifier": case.classifier,
        "ours": measure_ours(case),
        "torch_pruning": {**tp_capacity(tp, case), **measure_tp(tp, case)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--networks",
        nargs="+",
        metavar="NAME",
        help="subset by short name (resnet20, googlenet, ...); default: all 16. "
        "A subset only prints, it writes no files.",
    )
    args = parser.parse_args(argv)
    rows = run(args.networks)
    if args.networks:
        return
    write_result(RESULTS, {"networks": rows}, seed=SEED)
    print(f"wrote {RESULTS} and {write_doc()}")


def run(names: list[str] | None) -> list[dict]:
    import torch_pruning as tp  # benchmark-only dependency: never imported by the library

    torch.set_num_threads(2)
    rows = []
    for spec, size in NETWORKS.items():
        if not names or spec.split(":")[-1] in names:
            rows.append(measure(tp, spec, size))
            print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main()
