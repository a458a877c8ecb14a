"""docs/graph-coverage.md from the two JSON results: graph_coverage.py's and torch_pruning_compare.py's.

    .venv/bin/python benchmarks/render_graph_coverage.py   # after either script was rerun

Measures nothing: it turns benchmarks/results/graph_coverage.json and
torch_pruning_compare.json into the Markdown table (long error texts become footnotes).
torch_pruning_compare.py calls it after a full run.
"""

from __future__ import annotations

import json
from pathlib import Path

from provenance import hardware  # beside this script

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "graph-coverage.md"
# docs/graph-coverage.md below this line belongs to timm_coverage.py: kept when rewriting.
TIMM_MARK = "<!-- timm_coverage.py writes below this line -->"


class Footnotes:
    """Long texts (error messages, caveats) become numbered notes below the table."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def lines(self) -> list[str]:
        return [f"[{i}] {text}" for i, text in enumerate(self.texts, 1)]


INEXACT = (
    "LayerNorm over channels: removing a channel changes the normalisation of the others, "
    "so neither tool can match the zeroed network; the number is the size of that change."
)


def cell_runnable(r: dict, notes: Footnotes) -> str:
    return "yes" if r["runnable"] == "yes" else f"no {notes.ref(r['runnable'])}"


def cell_consistent(r: dict, inexact: bool, notes: Footnotes) -> str:
    if r["consistent"] == "n/a":
        return f"n/a {notes.ref(r['consistent_why_not'])}"
    cell = f"{'yes' if r['consistent'] else 'no'} ({r['max_rel_diff']:.0e})"
    return f"{cell} {notes.ref(INEXACT)}" if inexact else cell


def cell_tp_fraction(t: dict, notes: Footnotes) -> str:
    if t["prunable_fraction"] == "n/a":
        return f"n/a {notes.ref(t['prunable_why_not'])}"
    cell = f"{100 * t['prunable_fraction']:.3f}%"
    if t["pruned_to_one_runnable"] != "yes":
        why = f"the pruned-to-one network does not run: {t['pruned_to_one_runnable']}"
        cell += f" {notes.ref(why)}"
    return cell


def render(rows: list[dict], coverage: dict, notes: Footnotes) -> list[str]:
    """Table lines: coverage columns from graph_coverage.json, then both tools' results."""
    cov = {r["network"]: r for r in coverage["networks"]}
    lines = [
        "| network | groups (prunable) | prunable fraction | frozen groups | trace+prune s "
        "| runnable | consistent | TP groups | TP runnable | TP consistent "
        "| TP prunable fraction | s ours / TP |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        c, o, t = cov[row["network"]], row["ours"], row["torch_pruning"]
        inexact = o["not_exact_groups"] > 0
        cells = [
            row["network"].split(":")[-1],
            f"{c['groups']} ({c['prunable_groups']})",
            f"{100 * c['prunable_fraction']:.3f}%",
            ", ".join(f"{n} {why}" for why, n in c["frozen"].items()) or "none",
            f"{c['trace_s'] + c['prune_s']:.2f}",
            cell_runnable(o, notes),
            cell_consistent(o, inexact, notes),
            "n/a" if t["groups"] is None else str(t["groups"]),
            cell_runnable(t, notes),
            cell_consistent(t, inexact, notes),
            cell_tp_fraction(t, notes),
            f"{o['seconds']:.2f} / " + (f"{t['seconds']:.2f}" if "seconds" in t else "-"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(compare: dict, coverage: dict) -> str:
    notes = Footnotes()
    table = render(compare["networks"], coverage, notes)
    cp, tp = coverage["provenance"], compare["provenance"]
    tp_version = tp.get("torch_pruning") or tp["versions"]["torch-pruning"]  # older files: a key of its own
    return "\n".join(
        [
            "# Channel-graph coverage, and Torch-Pruning side by side",
            "",
            "Per network: how much of it `taylorprune.graph` can prune, and what a random 30%",
            f"channel pruning gives with our engine and with Torch-Pruning (TP) {tp_version}.",
            "",
            "- groups, prunable fraction (learnables in prunable channels, keeping one channel",
            "  per group), frozen groups, trace+prune s (float32, CPU): from",
            f"  `{cp['command']}` at {(cp['git_commit'] or '?')[:10]} ({hardware(cp)}).",
            "- all other columns: from",
            f"  `{tp['command']}` at {(tp['git_commit'] or '?')[:10]} ({hardware(tp)});",
            "  `s ours / TP` is trace+prune of the random 30% pruning in float64.",
            "- runnable: a forward pass on a random input gives the original output shape.",
            "- consistent: the pruned network equals the original with exactly the removed",
            "  channels zeroed at their producers (float64, eval mode, random BN statistics);",
            "  max relative difference in parentheses, yes below 1e-9.",
            "- TP prunable fraction: every group of `DG.get_all_groups` pruned to one channel",
            "  (per channel group), learnables of the result counted. TP groups: the groups",
            "  that call yields (the ones it would prune). Details in the script's docstring.",
            "- groups differ where the tools model grouped convs differently: TP prunes inside",
            "  each conv group (the group count stays), ours removes whole conv groups and ties",
            "  the conv feeding a grouped conv to it (regnet_y_400mf).",
            "- times are wall clock on 2 CPU cores shared with other jobs; between two runs they",
            "  varied up to about 5x, so compare them only roughly.",
            "",
            *table,
            "",
            *notes.lines(),
            "",
        ]
    )


def write_doc() -> Path:
    coverage = json.loads((RESULTS / "graph_coverage.json").read_text())
    compare = json.loads((RESULTS / "torch_pruning_compare.json").read_text())
    DOC.parent.mkdir(parents=True, exist_ok=True)
    old = DOC.read_text() if DOC.exists() else ""
    timm = old[old.index(TIMM_MARK):] if TIMM_MARK in old else ""  # timm_coverage.py's section
    DOC.write_text(markdown(compare, coverage) + (f"\n{timm}" if timm else ""))
    return DOC


if __name__ == "__main__":
    print(f"wrote {write_doc()}")
