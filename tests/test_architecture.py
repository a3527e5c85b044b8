"""The package's shape: layers that import only downward, no import cycles, names spelled once, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mltune"
LAYERS = ["errors", "names", "locks", "tasks", "families", "config", "data", "model", "tracking", "runtime", "views",
          "search", "flows", "api", "tuners", "oracles", "engine", "applications", "serving", "cli", "__main__",
          "__init__"]
"""Bottom to top: a module may import from its own layer and the ones before it."""


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every mltune module the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mltune"):
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            # `from mltune import names` imports the module mltune.names, not the package's __init__
            names = [m for m in submodules if m in known] or [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1] if len(parts) > 1 else "__init__")


def test_layers_import_only_downward() -> None:
    known = modules()
    upward = [(m, i) for m, path in known.items() for i in imports(path, known)
              if layer(i) > layer(m) and m != "mltune"]
    assert upward == []


def test_no_import_cycles() -> None:
    known = modules()
    graph = {m: imports(path, known) - {m} for m, path in known.items()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in graph[module]:
            if state.get(other) == "open":
                pytest.fail(f"import cycle: {' -> '.join([*path[path.index(other):], other])}")
            if other not in state:
                visit(other, [*path, other])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_every_mltune_tag_and_attribute_name_is_spelled_in_one_module() -> None:
    spelled = {}
    known = modules()
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(("mltune.", "mltune_", "mlflow_")) and " " not in node.value \
                    and node.value not in known:  # a module's own name is not a tag
                spelled.setdefault(node.value, set()).add(module)
    assert {name: where for name, where in spelled.items() if where != {"mltune.names"}} == {}


def test_no_function_is_longer_than_60_lines() -> None:
    long = [(f"{path.name}:{node.name}", node.end_lineno - node.lineno + 1)
            for path in modules().values() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60]
    assert long == []
