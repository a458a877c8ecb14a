"""Channel-graph coverage of timm's CNNs and conv hybrids, beside Torch-Pruning 1.6.1.

Every model of ``timm.list_models()`` is first classified on the meta device (no memory,
no weights): a model with fewer than two convolution modules is a pure transformer (its
only conv, if any, is the patch embedding) and is skipped. Every other model is measured
in a worker subprocess, one model at a time with a timeout, so a hang or a crash costs
one model, not the sweep:

- build: ``timm.create_model(name, pretrained=False, num_classes=10)`` (untrained), seed 0,
  eval mode, at the smallest input size of 96, 128, 160, 192, 224 px it runs at (with
  ``img_size`` set to it where the builder takes one); norms get random statistics and
  affines (torch_pruning_compare.randomize_norms) so masking is not trivially exact.
  Models over ``--max-params`` are not run (the oracle holds several float64 copies).
- trace: ``graph.trace_channels`` in float32, one torch thread (this 2-core machine is
  shared with other jobs, where two threads spin); ``trace_s`` is its wall time, which is
  the time to find every channel group and how each is removed (the plan space).
- channels: output channels of every conv and linear layer; ``prunable_share`` is the
  share in prunable groups, ``exact_share`` the share in prunable groups that are also
  output-exact (not behind a LayerNorm over channels or a standardised weight).
- runs: a random 30% of every prunable group (never all of it) removed with
  ``graph.prune``; the network runs and gives the original output shape.
- exact: graph_coverage's oracle: the same random plan restricted to output-exact groups,
  pruned vs masked (``graph.mask``) in float64, eval mode, max relative difference <= 1e-9.
- Torch-Pruning: torch_pruning_compare's ``measure_tp`` on the same model, input and
  norms (MetaPruner, RandomImportance, ratio 0.3, classifier ignored): does the pruned
  network run, and does it equal the original with the channels it removed zeroed.

The sweep is incremental: results are merged into benchmarks/results/timm_coverage.json
after every model and models already there are skipped, so it can be stopped and rerun.
Models run in a deterministic order: first every ``--every``-th model of each timm
module (architecture family), sorted by name (the sample), then the rest.

    .venv/bin/pip install -e '.[bench]' 'timm>=1.0,<2'
    .venv/bin/python benchmarks/timm_coverage.py                 # sweep (resumes)
    .venv/bin/python benchmarks/timm_coverage.py --models resnet18 nf_resnet26
    .venv/bin/python benchmarks/timm_coverage.py --render        # summary into the docs

timm and Torch-Pruning are imported here only: they are benchmark dependencies.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import random
import re
import select
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from graph_coverage import FRACTION, SEED, masked_rel_diff
from provenance import hardware, provenance  # beside this script
from render_graph_coverage import TIMM_MARK
from torch import nn
from torch_pruning_compare import (
    TOLERANCE,
    Case,
    final_layer,
    first_line,
    measure_tp,
    randomize_norms,
)

from taylorprune import graph

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "timm_coverage.json"
DOC = ROOT / "docs" / "graph-coverage.md"
SIZES = (96, 128, 160, 192, 224)  # input sizes tried in order (px)
SMALL = 50e6  # parameters: the trace-time target applies below this size


# ---- classification (main process, meta device) -----------------------------------------


def families() -> dict[str, str]:
    """Model name -> timm module that defines it (its architecture family)."""
    import timm

    return {n: mod for mod in timm.list_modules() for n in timm.list_models(module=mod)}


def classify(name: str, family: str) -> dict:
    """Family, conv modules and parameters of a model, built on the meta device."""
    import timm

    row = {"family": family}
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=10)
    except Exception as err:  # some builders compute on tensors: classify them in the worker
        return {**row, "convs": None, "meta_error": first_line(err)}
    convs = sum(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    return {**row, "convs": convs, "params": sum(p.numel() for p in model.parameters())}


def order(names: list[str], families: dict[str, str], every: int) -> list[tuple[str, bool]]:
    """(name, in the sample): every k-th model of each family (by name) first, families
    taken in turn so a partial run covers all of them, then the rest."""
    by_family: dict[str, list[str]] = {}
    for name in sorted(names):
        by_family.setdefault(families[name], []).append(name)
    rank = {n: i for members in by_family.values() for i, n in enumerate(members[::every])}
    sample = sorted(rank, key=lambda n: (rank[n], n))
    return [(n, True) for n in sample] + [(n, False) for n in sorted(set(names) - set(rank))]


# ---- one model (worker process) ----------------------------------------------------------


def build(name: str) -> tuple[nn.Module, int]:
    """The untrained model and the smallest input size (px) it runs at."""
    import timm

    first_error = None
    for size in SIZES:
        torch.manual_seed(SEED)
        try:
            try:
                model = timm.create_model(name, pretrained=False, num_classes=10, img_size=size)
            except TypeError:  # no img_size argument: the net takes any size
                model = timm.create_model(name, pretrained=False, num_classes=10)
            model.eval()
            with torch.no_grad():
                model(torch.rand(1, 3, size, size))
            return model, size
        except Exception as err:  # any failure is "does not build at this size"
            first_error = first_error or first_line(err)
    raise RuntimeError(f"does not build at {SIZES[0]}-{SIZES[-1]} px: {first_error}")


def case_for(name: str, max_params: float) -> tuple[Case | None, dict]:
    """The prepared model (random norms, eval, float32), or why it is not measured."""
    try:
        model, size = build(name)
    except Exception as err:
        return None, {"builds": False, "build_error": str(err)}
    params = sum(p.numel() for p in model.parameters())
    convs = sum(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    row = {"builds": True, "input": size, "params": params, "convs": convs}
    if convs < 2:
        return None, {**row, "skipped": "pure transformer (fewer than two conv modules)"}
    if params > max_params:
        return None, {**row, "skipped": f"over {max_params / 1e6:.0f} M parameters"}
    randomize_norms(model, SEED)
    gen = torch.Generator().manual_seed(SEED)
    x = torch.rand(1, 3, size, size, generator=gen)
    probe = torch.rand(1, 3, size, size, generator=gen)
    with torch.no_grad():
        out_shape = tuple(model(x).shape)
    return Case(name, model, x, probe, out_shape, final_layer(model, x)), row


def random_plan(cg: graph.ChannelGraph) -> dict[int, list[int]]:
    """graph_coverage's plan: round(30%) of every prunable group, never all of it."""
    rng = random.Random(SEED)
    return {
        g.id: sorted(rng.sample(range(g.size), min(round(FRACTION * g.size), g.size - 1)))
        for g in cg.prunable
    }


def channel_shares(cg: graph.ChannelGraph, model: nn.Module) -> dict:
    """Output channels of conv/linear layers: all, in prunable groups, in exact ones."""
    out_dim = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
            out_dim[f"{name}.weight" if name else "weight"] = (1 if transposed else 0, m.weight.shape)
    total = sum(shape[d] for d, shape in out_dim.values())
    prunable = exact = 0
    for g in cg.prunable:
        for member in g.members:
            if out_dim.get(member.tensor, (None,))[0] == member.dim:
                n = sum(len(ix) for ix in member.indices)
                prunable += n
                exact += n if g.exact else 0
    return {
        "channels": total,
        "prunable_share": round(prunable / total, 4) if total else 0.0,
        "exact_share": round(exact / total, 4) if total else 0.0,
    }


def reasons(cg: graph.ChannelGraph) -> dict:
    """Why groups are frozen / not exact: the engine's words, node and tensor names dropped."""
    frozen = Counter(_generic(g.reason) for g in cg.groups if not g.prunable)
    for edge in ("network input", "network output"):
        frozen.pop(edge, None)
    inexact = Counter(_generic(g.exact_reason) for g in cg.prunable if not g.exact)
    return {"frozen": dict(frozen.most_common(5)), "not_exact": dict(inexact.most_common(3))}


def _generic(reason: str) -> str:
    return re.sub(r"\b[\w.]+\.(weight|bias)\b", "a weight", reason.split(": ", 1)[-1])


def measure_ours(case: Case) -> dict:
    start = time.perf_counter()
    try:
        cg = graph.trace_channels(case.model, case.x)
    except Exception as err:
        return {"traces": False, "trace_error": first_line(err)}
    row = {"traces": True, "trace_s": round(time.perf_counter() - start, 3),
           **channel_shares(cg, case.model), **reasons(cg),
           "prunable_params": round(cg.max_prunable_params() / sum(
               p.numel() for p in case.model.parameters()), 4)}
    plan = random_plan(cg)
    start = time.perf_counter()
    try:
        pruned = graph.prune(case.model, case.x, plan, channel_graph=cg)
        row["prune_s"] = round(time.perf_counter() - start, 3)
        with torch.no_grad():
            shape = tuple(pruned(case.probe).shape)
        row["runs"] = "yes" if shape == case.out_shape else f"output shape {shape}"
    except Exception as err:  # a pruned network that fails is the measurement
        row["runs"] = first_line(err)
    try:  # converts case.model to float64 in place: it is not used afterwards
        row["max_rel_diff"] = masked_rel_diff(case.model, case.x, plan, cg)
        row["exact"] = row["max_rel_diff"] <= TOLERANCE
    except Exception as err:
        row["exact"], row["exact_error"] = False, first_line(err)
    return row


def measure_torch_pruning(case: Case) -> dict:
    import torch_pruning as tp

    model64 = Case(case.spec, case.model.double(), case.x.double(), case.probe.double(),
                   case.out_shape, case.classifier)
    result = measure_tp(tp, model64)
    return {"runs": result["runnable"], "exact": result.get("consistent") is True,
            "max_rel_diff": result.get("max_rel_diff"), "seconds": result.get("seconds")}


def engine_commit() -> str:
    """The commit the worker's taylorprune code is at, "+changes" if src/ differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short=10", "HEAD") + ("+changes" if git("status", "--porcelain", "src") else "")


def worker(max_params: float) -> None:
    """Read {"name", "task"} lines on stdin, answer one JSON line each on stdout."""
    torch.set_num_threads(1)  # on a machine shared by many jobs, a second thread only spins
    commit = engine_commit()
    for line in sys.stdin:
        job = json.loads(line)
        case, row = case_for(job["name"], max_params)
        row["commit"] = commit
        if case is not None:
            task = measure_ours if job["task"] == "ours" else measure_torch_pruning
            row = {**row, job["task"]: task(case)}
        print(json.dumps(row), flush=True)


# ---- the sweep (main process) --------------------------------------------------------------


class Worker:
    """A worker subprocess answering one model at a time; restarted after a timeout."""

    def __init__(self, max_params: float) -> None:
        self.max_params, self.proc = max_params, None

    def ask(self, name: str, task: str, timeout: float) -> dict:
        if self.proc is None:
            cmd = [sys.executable, __file__, "--worker", "--max-params", str(self.max_params)]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True)
        self.proc.stdin.write(json.dumps({"name": name, "task": task}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        self.close()
        return {task: {"error": f"no answer within {timeout:.0f} s (hang or crash)"}}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"models": {}}


def save(data: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def sweep(path: Path, names: list[str] | None, every: int, timeout: float, max_params: float,
          redo: str | None = None) -> None:
    import timm

    data = load(path)
    if redo:
        names = _forget(data, redo, names)
    data.setdefault("catalogue", {})
    family = families()
    for k, name in enumerate(names or timm.list_models()):
        if name not in data["catalogue"]:
            data["catalogue"][name] = classify(name, family.get(name, "?"))
            if k % 50 == 0:
                save(data, path)
    # The sample is drawn from the whole catalogue, so a rerun of a few models keeps their place in it.
    candidates = [n for n in data["catalogue"] if (data["catalogue"][n].get("convs") or 2) >= 2]
    family_of = {n: data["catalogue"][n]["family"] for n in candidates}
    wanted = set(names or candidates)
    data["method"] = {"sizes": SIZES, "fraction": FRACTION, "tolerance": TOLERANCE,
                      "every": every, "timeout_s": timeout, "max_params": max_params,
                      "pure_transformer": "fewer than two conv modules (meta-device build)"}
    prov = {**provenance(SEED), "timm": importlib.metadata.version("timm"),
            "torch_pruning": importlib.metadata.version("torch-pruning")}
    if names and "provenance" in data and not redo:  # a rerun of a few models keeps the sweep's provenance
        data.setdefault("reruns", []).append(prov)
    else:
        data["provenance"] = prov
    save(data, path)
    work = Worker(max_params)
    try:
        for name, sampled in order(candidates, family_of, every):
            if name not in wanted:
                continue
            row = data["models"].get(name, {})
            params = data["catalogue"][name].get("params") or 0
            if not row and params > max_params:  # counted on the meta device: not built
                row = {"params": params, "skipped": f"over {max_params / 1e6:.0f} M parameters"}
            for task in ("ours", "torch_pruning"):
                if task not in row and row.get("builds", True) and "skipped" not in row:
                    row = {**row, **work.ask(name, task, timeout), "sample": sampled}
                    data["models"][name] = row
                    save(data, path)
            print(json.dumps({name: row}), flush=True)
            data["models"][name] = row
    finally:
        work.close()
        data["summary"] = summarize(data)
        save(data, path)


TOOL_NAMES = {"ours": "taylorprune", "torch_pruning": "Torch-Pruning"}


def _forget(data: dict, task: str, names: list[str] | None) -> list[str]:
    """Drop one tool's results so the sweep measures it again on the models it already ran
    (our engine at a new commit; the other tool's rows do not depend on it). The provenance
    those kept rows were measured under stays beside the new one."""
    names = names or [n for n, row in data["models"].items() if task in row]
    for name in names:
        data["models"][name].pop(task, None)
    if "provenance" in data:
        data["kept"] = {"measured": [t for t in ("ours", "torch_pruning") if t != task],
                        "provenance": data.pop("provenance"), "reruns": data.pop("reruns", [])}
    return names


# ---- summary and docs ----------------------------------------------------------------------


def classes(data: dict) -> dict[str, list[str]]:
    """Measured models sorted into the outcomes the summary counts."""
    out: dict[str, list[str]] = {k: [] for k in (
        "over_cap", "transformer", "no_build", "no_answer", "no_trace", "traced", "good",
        "lenient", "runs", "tp_runs", "tp_exact", "tp_no_answer")}
    for name, r in data["models"].items():
        o, t = r.get("ours", {}), r.get("torch_pruning", {})
        skipped = r.get("skipped", "")
        key = ("over_cap" if "parameters" in skipped else "transformer" if skipped
               else "no_build" if r.get("builds") is False
               else "no_answer" if "error" in o or not o
               else "no_trace" if not o.get("traces") else "traced")
        out[key].append(name)
        if key != "traced":
            continue
        if o.get("exact") and o["exact_share"] >= 0.5:
            out["good"].append(name)
        if o.get("exact") and o["prunable_share"] >= 0.5:
            out["lenient"].append(name)
        if o.get("runs") == "yes":
            out["runs"].append(name)
        if "error" in t:
            out["tp_no_answer"].append(name)
        if t.get("runs") == "yes":
            out["tp_runs"].append(name)
        if t.get("exact"):
            out["tp_exact"].append(name)
    return out


def summarize(data: dict) -> dict:
    cat, c = data["catalogue"], classes(data)
    cnn = [n for n, v in cat.items() if v.get("convs") is None or v["convs"] >= 2]
    built = len(c["no_answer"]) + len(c["no_trace"]) + len(c["traced"])
    times = sorted(data["models"][n]["ours"]["trace_s"] for n in c["traced"]
                   if data["models"][n]["params"] < SMALL)
    return {
        "timm_models": len(cat),
        "pure_transformers_skipped": len(cat) - len(cnn),
        "cnn_or_conv_hybrid": len(cnn),
        **{k: len(v) for k, v in c.items()},
        "built": built,
        "trace_s_median": round(statistics.median(times), 2) if times else None,
        "trace_s_max": max(times) if times else None,
        "trace_s_over_10": sum(t > 10 for t in times),
    }


def share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f}%)" if whole else f"{part} of 0"


def render(data: dict) -> None:
    """Rewrite the timm section of docs/graph-coverage.md (everything below TIMM_MARK)."""
    text = DOC.read_text() if DOC.exists() else ""
    head = text.split(TIMM_MARK)[0].rstrip("\n")
    DOC.write_text("\n".join([head, "", TIMM_MARK, "", *markdown(data), ""]))


def markdown(data: dict) -> list[str]:
    """The timm section: method, headline counts, per family, and what is not exact."""
    sm, c, prov, method = summarize(data), classes(data), data["provenance"], data["method"]
    cat = data["catalogue"]
    commits = sorted({r["commit"] for r in data["models"].values() if "ours" in r})
    kept = data.get("kept")
    lines = [
        "## timm: every CNN and conv hybrid",
        "",
        f"From `{prov['command']}` (engine at {', '.join(commits)}; timm {prov['timm']}, "
        f"Torch-Pruning {prov['torch_pruning']}, torch {prov['versions']['torch']}, {hardware(prov)}, "
        "shared with other jobs). Method in the script's docstring; in short: untrained "
        "`timm.create_model(name, num_classes=10)`, random norm statistics, the smallest input "
        f"of {method['sizes'][0]}-{method['sizes'][-1]} px it runs at; a random 30% of every "
        "prunable group removed; exact = pruned equals masked (float64, eval, relative "
        f"difference <= {method['tolerance']:g}) on the output-exact groups; channels = output "
        "channels of conv and linear layers. Torch-Pruning: MetaPruner, random importance, "
        "ratio 0.3, compared with the original with the channels it removed zeroed.",
        "",
        *[f"Rerun after an engine fix: `{r['command']}` at {r['git_commit'][:10]}."
          for r in data.get("reruns", [])],
        *([f"The {' and '.join(TOOL_NAMES[t] for t in kept['measured'])} rows and the builds are kept from "
           f"`{kept['provenance']['command']}` at {kept['provenance']['git_commit'][:10]} "
           f"({hardware(kept['provenance'])}); they do not depend on the engine."] if kept else []),
        "",
        f"Swept so far: {len(data['models'])} of the {sm['cnn_or_conv_hybrid']} CNNs and conv "
        f"hybrids ({sm['timm_models']} timm models, {sm['pure_transformers_skipped']} pure "
        "transformers with fewer than two conv modules skipped), from "
        f"{len({cat[n]['family'] for n in data['models']})} of their "
        f"{len({v['family'] for v in cat.values() if (v.get('convs') or 2) >= 2})} timm "
        f"modules: every {method['every']}th model of each module by name, modules in turn; "
        "the sweep resumes where it stopped. Nothing below speaks for the models not yet "
        f"swept. Models over {method['max_params'] / 1e6:.0f} M parameters are not run "
        f"({sm['over_cap']} of those swept).",
        "",
        "| | models |",
        "|---|---|",
        f"| measured | {sm['built'] + sm['no_build']} |",
        f"| do not build at 96-224 px | {sm['no_build']} |",
        f"| build | {sm['built']} |",
        f"| no answer within {method['timeout_s']:.0f} s (hang or crash) | {sm['no_answer']} |",
        f"| torch.fx cannot trace the model | {sm['no_trace']} |",
        f"| traced | {sm['traced']} |",
        f"| **exact, with >= 50% of channels in prunable exact groups** | "
        f"**{share(sm['good'], sm['built'])}** of those that build |",
        f"| exact, with >= 50% of channels prunable (exact or not) | {share(sm['lenient'], sm['built'])} |",
        f"| run after pruning 30% of every prunable group | {share(sm['runs'], sm['traced'])} of traced |",
        f"| trace + plan s (median / max; over 10 s) | {sm['trace_s_median']} / {sm['trace_s_max']}; "
        f"{sm['trace_s_over_10']} |",
        f"| Torch-Pruning: pruned network runs | {share(sm['tp_runs'], sm['traced'])} |",
        f"| Torch-Pruning: exact | {share(sm['tp_exact'], sm['traced'])} |",
        f"| Torch-Pruning: no answer within {method['timeout_s']:.0f} s | {sm['tp_no_answer']} |",
        "",
        *_family_table(data, c),
        "",
        *_misses(data, c),
    ]
    return lines


def _family_table(data: dict, c: dict[str, list[str]]) -> list[str]:
    rows = ["| family | built | exact, >= 50% | runs | trace s (median) | TP runs | TP exact |",
            "|---|---|---|---|---|---|---|"]
    family = {n: data["catalogue"][n]["family"] for n in data["models"]}
    for fam in sorted(set(family.values())):
        mine = {k: [n for n in v if family[n] == fam] for k, v in c.items()}
        built = len(mine["no_answer"]) + len(mine["no_trace"]) + len(mine["traced"])
        if not built:
            continue
        times = [data["models"][n]["ours"]["trace_s"] for n in mine["traced"]]
        median = f"{statistics.median(times):.1f}" if times else "-"
        rows.append(f"| {fam} | {built} | {len(mine['good'])} | {len(mine['runs'])} | {median} | "
                    f"{len(mine['tp_runs'])} | {len(mine['tp_exact'])} |")
    return rows


def _misses(data: dict, c: dict[str, list[str]]) -> list[str]:
    """Every built model that is not exact with half its channels prunable, and why."""
    lines = ["Built but not exact with >= 50% of channels prunable, and the engine's reasons:", ""]
    for name in sorted(set(c["no_answer"]) | set(c["no_trace"]) | set(c["traced"]) - set(c["good"])):
        o = data["models"][name].get("ours", {})
        if not o.get("traces"):
            lines.append(f"- {name}: {o.get('trace_error') or o.get('error')}")
            continue
        why = {**o.get("frozen", {}), **o.get("not_exact", {})}
        top = "; ".join(f"{k} ({v})" for k, v in sorted(why.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"- {name}: {100 * o['prunable_share']:.0f}% prunable, "
                     f"{100 * o['exact_share']:.0f}% exact; {top or o.get('runs')}")
    lines += ["", "Do not build at 96-224 px:", ""]
    lines += [f"- {n}: {data['models'][n]['build_error'].split(': ', 1)[-1]}" for n in sorted(c["no_build"])]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only these (default: all)")
    parser.add_argument("--every", type=int, default=4,
                        help="sample every k-th model of each family first (default 4)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds per model and tool before the worker is killed (default 900)")
    parser.add_argument("--max-params", type=float, default=100e6,
                        help="parameters above which a model is not run (default 100e6)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"results file, merged into (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--redo", choices=("ours", "torch_pruning"),
                        help="measure this tool again on every model it ran, keeping the other's rows")
    parser.add_argument("--render", action="store_true", help="only rewrite the docs summary")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.max_params)
    if not args.render:
        sweep(args.results, args.models, args.every, args.timeout, args.max_params, args.redo)
    if args.results == RESULTS:
        render(load(RESULTS))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
