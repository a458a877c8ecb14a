"""Rendering a CompressionReport: golden terminal text, 100-column wrapping, JSON,
Markdown with its PNG chart.

Regenerate the golden files after an intended change of the printed report with
``TAYLORPRUNE_REGEN_GOLDEN=1 pytest tests/report`` and review the diff.
"""

import json
import os
from pathlib import Path

import pytest
import torch

from taylorprune.analysis import (
    CompressionReport,
    GroupMember,
    GroupReport,
    LayerReport,
    analyze_network_for_compression,
)
from taylorprune.models import load_model
from taylorprune.report.analysis import (
    format_bytes,
    format_percent,
    headline,
    render_markdown,
    render_text,
    report_to_dict,
    write_json,
    write_markdown,
)

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("TAYLORPRUNE_REGEN_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text)
    assert path.read_text() == text, (
        f"{path} differs; TAYLORPRUNE_REGEN_GOLDEN=1 accepts the change"
    )


@pytest.fixture(scope="module")
def cifarnet() -> CompressionReport:
    return analyze_network_for_compression(load_model("cifarnet"), torch.zeros(1, 3, 32, 32))


def synthetic() -> CompressionReport:
    """A hand-made report with a long layer name and a long frozen reason."""
    name = "features.denseblock4.denselayer16.a_rather_long_submodule_name.conv2"
    reason = "view_3: reshape mixes the channel axis with other dims " * 2
    layers = (
        LayerReport(name, "Conv2d", 4608, 1_179_648, 32, 0, 4608, reason.strip()),
        LayerReport("", "Toy", 100, 0, 100, 100, 1, None),
    )
    members = tuple(GroupMember(f"{name}.weight", 0, "out") for _ in range(6))
    groups = (GroupReport(0, 32, False, reason.strip(), 4608, members),)
    return CompressionReport("Toy", (3, 8, 8), 4708, 1_179_648, 4609, layers, groups, ("x (Y)",))


def test_numbers_use_matlab_units_and_never_overstate():
    assert format_bytes(1_089_896) == "1.0 MB"
    assert format_bytes(41_779) == "40.8 KB"
    assert format_bytes(1012) == "1,012 bytes"
    assert format_percent(0.9996) == "99.9%" and format_percent(0.962) == "96.2%"
    assert format_percent(1.0) == "100.0%" and format_percent(0.0) == "0.0%"


def test_cifarnet_text_matches_golden(cifarnet):
    text = render_text(cifarnet)
    assert text.startswith("The trained network takes up 1.0 MB of memory. Pruning can reduce")
    check_golden("cifarnet_analysis.txt", text)


def test_lines_fit_100_columns_and_reasons_are_numbered():
    text = render_text(synthetic())
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "[1] view_3: reshape mixes the channel axis" in text
    assert "frozen [1]" in text and "(network)" in text and "x (Y)" in text
    assert "features.denseblock4." in text  # a long name wraps after a dot


def test_json_holds_every_field_and_the_derived_sizes(cifarnet, tmp_path):
    data = json.loads(write_json(cifarnet, tmp_path / "r.json").read_text())
    assert data == json.loads(json.dumps(report_to_dict(cifarnet)))
    assert data["summary"]["headline"] == headline(cifarnet)
    assert data["summary"]["memory_bytes"] == 4 * data["learnables"]
    assert data["summary"]["min_int8_memory_bytes"] == data["min_learnables"]
    assert sum(row["memory_bytes"] for row in data["layers"]) == data["summary"]["memory_bytes"]
    assert data["groups"][0]["members"][0] == {
        "tensor": "normalize.mean",
        "dim": 1,
        "role": "scale",
    }


def test_markdown_embeds_its_png_chart(cifarnet, tmp_path):
    path = write_markdown(cifarnet, tmp_path / "docs" / "analysis.md")
    text = path.read_text()
    chart = tmp_path / "docs" / "analysis-memory.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![memory per layer](analysis-memory.png)" in text
    assert headline(cifarnet) in text
    assert "| layer3.2.conv2 | Conv2d | 36,864 | 144.0 KB |" in text
    assert "1. network output" in text


def test_markdown_lists_member_modules_once_and_no_chart_unless_given():
    report = synthetic()
    text = render_markdown(report)
    row = next(line for line in text.splitlines() if line.startswith("| 0 | 32 |"))
    assert row.count("a_rather_long_submodule_name.conv2") == 1  # one module, listed once
    assert "![" not in text
