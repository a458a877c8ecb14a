"""Render a CompressionReport: terminal text, JSON, Markdown with a PNG memory chart.

Memory is in bytes with MATLAB's units (1 KB = 1024 bytes, 1 MB = 1024 KB), so the
headline reads as MATLAB's "Analyze for Compression" report does. Nothing here touches
a model: every figure comes from the report object.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..analysis import CompressionReport, GroupReport, LayerReport  # noqa: E402

WIDTH = 100  # terminal columns the text report is wrapped to
_MAX_MEMBERS = 4  # module names listed per group in the text table before "+N more"
_UNITS = (("MB", 1024**2), ("KB", 1024))


# ---------------------------------------------------------------- numbers


def format_bytes(n: int) -> str:
    """'1.0 MB', '40.8 KB', '1,012 bytes' (1 KB = 1024 bytes, as MATLAB)."""
    for unit, size in _UNITS:
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:,} bytes"


def format_count(n: int) -> str:
    """'41.1 M', '442.4 K', '640': short MAC counts for tables."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def format_percent(fraction: float) -> str:
    """Rounded down to 0.1%, so 'up to' never overstates (99.96% is '99.9%')."""
    return f"{math.floor(fraction * 1000 + 1e-9) / 10:.1f}%"


def headline(report: CompressionReport) -> str:
    """MATLAB's sentence: size now, and how small pruning can make it."""
    return (
        f"The trained network takes up {format_bytes(report.memory_bytes)} of memory. "
        f"Pruning can reduce the network size by up to {format_percent(report.max_reduction)}, "
        f"that is, to as small as {format_bytes(report.min_memory_bytes)}."
    )


def int8_line(report: CompressionReport) -> str:
    return (
        f"Stored as int8 (an estimate: 1 byte per learnable), it would take up "
        f"{format_bytes(report.int8_memory_bytes)}, and "
        f"{format_bytes(report.min_int8_memory_bytes)} after maximum pruning."
    )


# ---------------------------------------------------------------- terminal text


def render_text(report: CompressionReport, width: int = WIDTH) -> str:
    """Headline, summary, per-layer and per-group tables, numbered frozen reasons."""
    notes = _Notes()
    layers = _layer_rows(report.layers, notes)
    groups = _group_rows(report.groups, notes)
    parts = [
        _wrap_text(headline(report), width),
        _wrap_text(int8_line(report), width),
        "",
        *_summary(report),
        "",
        "Layers (modules that own learnables; memory as fp32; MACs per example)",
        _table(_LAYER_HEADERS, layers, width, flex=(0, 1)),
        "",
        "Channel groups (channels pruned together)",
        _table(_GROUP_HEADERS, groups, width, flex=(4,)),
    ]
    if notes.reasons:
        parts += ["", "Frozen because:"]
        parts += [_wrap_text(f"[{i}] {r}", width, "    ") for i, r in enumerate(notes.reasons, 1)]
    if report.uncounted_macs:
        parts += ["", _wrap_text("MACs not counted in: " + ", ".join(report.uncounted_macs), width)]
    return "\n".join(parts) + "\n"


def _summary(report: CompressionReport) -> list[str]:
    prunable = sum(g.prunable for g in report.groups)
    size = "x".join(map(str, report.input_shape)) or "?"
    return [
        f"network      {report.network}, input {size}",
        f"learnables   {report.learnables:,} ({format_bytes(report.memory_bytes)} as fp32)",
        f"MACs         {report.macs:,} per example ({format_count(report.macs)})",
        f"max pruning  {format_percent(report.max_reduction)} of learnables: "
        f"{report.min_learnables:,} left ({format_bytes(report.min_memory_bytes)})",
        f"groups       {prunable} of {len(report.groups)} channel groups prunable",
    ]


class _Notes:
    """Frozen reasons numbered in order of first use, shared by both tables."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def number(self, reason: str) -> int:
        if reason not in self.reasons:
            self.reasons.append(reason)
        return self.reasons.index(reason) + 1


_LAYER_HEADERS = (
    ("layer", "<"),
    ("type", "<"),
    ("learnables", ">"),
    ("memory", ">"),
    ("MACs", ">"),
    ("filters", ">"),
    ("prunable", ">"),
    ("max cut", ">"),
    ("frozen", "<"),
)
_GROUP_HEADERS = (
    ("group", ">"),
    ("channels", ">"),
    ("learnables", ">"),
    ("status", "<"),
    ("members", "<"),
)


def _layer_rows(layers: Sequence[LayerReport], notes: _Notes) -> list[list[str]]:
    return [
        [
            layer.name or "(network)",
            layer.type,
            f"{layer.learnables:,}",
            format_bytes(layer.memory_bytes),
            format_count(layer.macs),
            str(layer.filters),
            str(layer.prunable_filters),
            format_percent(layer.max_reduction),
            f"[{notes.number(layer.frozen_reason)}]" if layer.frozen_reason else "",
        ]
        for layer in layers
    ]


def _group_rows(groups: Sequence[GroupReport], notes: _Notes) -> list[list[str]]:
    rows = []
    for g in groups:
        status = "prunable" if g.prunable else f"frozen [{notes.number(g.reason or '?')}]"
        names = _member_modules(g)
        shown = ", ".join(names[:_MAX_MEMBERS])
        if len(names) > _MAX_MEMBERS:
            shown += f", +{len(names) - _MAX_MEMBERS} more"
        rows.append([str(g.id), str(g.size), f"{g.learnables:,}", status, shown])
    return rows


def _member_modules(group: GroupReport) -> list[str]:
    """Modules whose tensors hold the group, in member order (a tensor of the network
    module itself, such as a top-level layer_scale, by its own name)."""
    names = (m.tensor.rpartition(".")[0] or m.tensor for m in group.members)
    return list(dict.fromkeys(names))


def _table(
    headers: Sequence[tuple[str, str]], rows: list[list[str]], width: int, flex: Sequence[int]
) -> str:
    """Aligned columns two spaces apart; the ``flex`` columns shrink (wrapping their text)
    until a line fits ``width``."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, (h, _) in enumerate(headers)]
    floor = {c: max(len(headers[c][0]), 8) for c in flex}  # narrowest a flex column gets
    while sum(widths) + 2 * (len(widths) - 1) > width:
        shrinkable = [c for c in flex if widths[c] > floor[c]]
        if not shrinkable:
            break
        widths[max(shrinkable, key=lambda c: widths[c])] -= 1
    lines = [_line([h for h, _ in headers], widths, headers)]
    lines.append(_line(["-" * w for w in widths], widths, headers))
    for row in rows:
        cells = [_wrap_cell(c, w) for c, w in zip(row, widths, strict=True)]
        for k in range(max(len(c) for c in cells)):
            lines.append(_line([c[k] if k < len(c) else "" for c in cells], widths, headers))
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int], headers: Sequence[tuple[str, str]]) -> str:
    parts = [f"{c:{a}{w}}" for c, w, (_, a) in zip(cells, widths, headers, strict=True)]
    return "  ".join(parts).rstrip()


def _wrap_cell(text: str, width: int) -> list[str]:
    """Lines of at most ``width``: break at spaces, else inside a name after a dot or an
    underscore, else anywhere."""
    lines, current = [], ""
    for word in _pieces(text, width):
        if current and len(current + word.rstrip()) > width:
            lines.append(current.rstrip())
            current = ""
        current += word
    return [*lines, current.rstrip()]


def _pieces(text: str, width: int) -> list[str]:
    out = []
    for word in re.split(r"(?<= )", text):
        if len(word.rstrip()) <= width:
            out.append(word)
            continue
        for part in re.split(r"(?<=[._])", word):
            out += [part[i : i + width] for i in range(0, len(part), width)]
    return out


def _wrap_text(text: str, width: int, indent: str = "") -> str:
    return textwrap.fill(text, width, subsequent_indent=indent, break_on_hyphens=False)


# ---------------------------------------------------------------- JSON


def report_to_dict(report: CompressionReport) -> dict[str, Any]:
    """The machine form: every field plus the derived sizes, bytes as integers."""
    data = asdict(report)
    data["summary"] = {
        "headline": headline(report),
        "memory_bytes": report.memory_bytes,
        "min_memory_bytes": report.min_memory_bytes,
        "int8_memory_bytes": report.int8_memory_bytes,
        "min_int8_memory_bytes": report.min_int8_memory_bytes,
        "max_reduction": report.max_reduction,
    }
    for row, layer in zip(data["layers"], report.layers, strict=True):
        row.update(memory_bytes=layer.memory_bytes, max_reduction=layer.max_reduction)
    return data


def write_json(report: CompressionReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_to_dict(report), indent=2) + "\n")
    return path


# ---------------------------------------------------------------- Markdown and PNG


def write_markdown(report: CompressionReport, path: str | Path) -> Path:
    """A Markdown document plus ``<stem>-memory.png`` beside it (the chart it embeds)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chart = plot_layer_memory(report, path.with_name(f"{path.stem}-memory.png"))
    path.write_text(render_markdown(report, chart.name))
    return path


def render_markdown(report: CompressionReport, chart: str | None = None) -> str:
    notes = _Notes()
    lines = [
        f"# Compression analysis: {report.network}",
        "",
        headline(report),
        "",
        int8_line(report),
        "",
        *(f"    {s}" for s in _summary(report)),
        "",
    ]
    if chart:
        lines += [f"![memory per layer]({chart})", ""]
    lines += [
        "## Layers",
        "",
        "Memory as fp32 (1 KB = 1024 bytes); MACs per example; "
        "*max cut*: the largest fraction of the layer's learnables pruning can remove.",
        "",
    ]
    lines += _md_table(_LAYER_HEADERS, _layer_rows(report.layers, notes))
    lines += ["", "## Channel groups", ""]
    rows = _group_rows(report.groups, notes)
    for row, g in zip(rows, report.groups, strict=True):
        row[-1] = ", ".join(_member_modules(g))
    lines += _md_table(_GROUP_HEADERS, rows)
    if notes.reasons:
        lines += ["", "## Frozen because", ""]
        lines += [f"{i}. {r}" for i, r in enumerate(notes.reasons, 1)]
    if report.uncounted_macs:
        lines += ["", "MACs not counted in: " + ", ".join(report.uncounted_macs)]
    return "\n".join(lines) + "\n"


def _md_table(headers: Sequence[tuple[str, str]], rows: list[list[str]]) -> list[str]:
    rule = ["---:" if a == ">" else "---" for _, a in headers]
    out = ["| " + " | ".join(h for h, _ in headers) + " |", "| " + " | ".join(rule) + " |"]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]


def plot_layer_memory(report: CompressionReport, path: str | Path) -> Path:
    """Bars of fp32 memory per layer (KB): the part pruning can remove, and the part it
    must keep (frozen filters, plus the one channel every group keeps)."""
    layers = report.layers
    kept = [layer.min_memory_bytes / 1024 for layer in layers]
    removable = [(layer.memory_bytes - layer.min_memory_bytes) / 1024 for layer in layers]
    x = range(len(layers))
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.22 * len(layers) + 2), 24), 4.5))
    ax.bar(x, removable, color="tab:blue", label="prunable")
    ax.bar(x, kept, bottom=removable, color="tab:gray", label="frozen (kept at maximum pruning)")
    if len(layers) <= 80:
        ax.set_xticks(
            list(x), [layer.name or "(network)" for layer in layers], rotation=90, fontsize=6
        )
    else:
        ax.set_xlabel(f"{len(layers)} layers in parameter order")
    ax.set_ylabel("memory (KB, fp32)")
    ax.set_title(f"{report.network}: memory per layer")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
