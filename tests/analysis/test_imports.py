import ast
from pathlib import Path

import taylorprune.analysis

FORBIDDEN = ("importance", "prune", "train", "cli", "report")


def test_analysis_imports_go_one_way():
    """analysis builds on graph; rendering (report) and the layers above build on it."""
    for path in Path(taylorprune.analysis.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
                assert node.module.split(".")[0] not in FORBIDDEN, f"{path.name}: {node.module}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.startswith(f"taylorprune.{f}") for n in names for f in FORBIDDEN)
