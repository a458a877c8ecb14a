"""The package's layers import one way: each package or module only from the layers below it.

LAYERS is the architecture in one table (STYLE.md: data, models -> graph -> importance ->
train -> prune -> report -> runs.py -> cli); a package not in it fails the test, so a new
one is placed on purpose. Lazy imports inside functions count too.
"""

import ast
from pathlib import Path

import pytest

import taylorprune

ROOT = Path(taylorprune.__file__).parent
LAYERS = [  # lowest first; a name may import only from the rows above its own
    {"errors"},
    {"outputs"},
    {"distributed", "losses"},
    {"data", "models"},
    {"graph"},
    {"analysis", "artifacts", "export"},
    {"benchmark", "importance"},
    {"train"},
    {"fingerprints", "tasks"},
    {"prune"},
    {"report"},
    {"runs"},
    {"cli"},
]
ENTRY_POINTS = {"__init__", "__main__"}  # the lazy public API and `python -m taylorprune`: above everything
LEVEL = {name: k for k, row in enumerate(LAYERS) for name in row}
PARTS = sorted({p.stem if p.is_file() else p.name for p in ROOT.iterdir()
                if (p.suffix == ".py" or (p / "__init__.py").is_file())} - ENTRY_POINTS)


def imported(path: Path) -> set[str]:
    """Top-level taylorprune names ``path`` imports (absolute or relative, anywhere in the file)."""
    package = path.relative_to(ROOT).parts[:-1]  # e.g. ("prune",) for prune/loop.py
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("taylorprune.")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            names |= {target[0]} if target else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("taylorprune."):
            names.add(node.module.split(".")[1])
    return names


@pytest.mark.parametrize("part", PARTS)
def test_imports_go_one_way(part):
    assert part in LEVEL, f"{part} is not in LAYERS: place it in the table"
    files = [ROOT / f"{part}.py"] if (ROOT / f"{part}.py").is_file() else sorted((ROOT / part).rglob("*.py"))
    for path in files:
        for name in imported(path) - {part, "__version__"}:
            assert LEVEL[name] < LEVEL[part], f"{path.relative_to(ROOT)} imports {name}, a layer at or above its own"


def test_the_table_names_only_what_exists():
    assert set(LEVEL) == set(PARTS)
