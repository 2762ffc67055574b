"""The package layout by concern (docs/architecture.md): no import circles, and the docs name what exists."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "disco_core"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in CORE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The disco_core modules `name` imports anywhere in its text (function-level imports count too)."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {m for m in found if m in MODULES and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles_between_modules():
    graph = {name: imports_of(name) for name in MODULES}
    assert "disco_core.model.networks" in graph["disco_core.model.build"]  # the graph sees relative imports
    assert find_cycle(graph) is None


def test_the_root_holds_only_the_entry_points_and_one_screen_helpers():
    root_modules = sorted(p.name for p in CORE.glob("*.py"))
    assert root_modules == ["__init__.py", "__main__.py", "cli.py", "errors.py"]
    for package in (p for p in CORE.iterdir() if (p / "__init__.py").is_file()):
        assert ast.get_docstring(ast.parse((package / "__init__.py").read_text())), f"{package.name} says what it holds"


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_every_module_imports_in_a_fresh_interpreter_in_any_order(order):
    names = sorted(n for n in MODULES if not n.endswith("__main__"))
    names = names if order == "forward" else names[::-1]
    code = "import importlib\nfor n in %r:\n    importlib.import_module(n)\n" % names
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def test_architecture_page_names_packages_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(disco_core(?:/[a-z_]+)+)/?`", text))
    assert len(named) >= 8, named
    for path in named:
        assert (ROOT / path).is_dir() or (ROOT / f"{path}.py").is_file(), f"docs/architecture.md names {path}"
    packages = {f"disco_core/{p.parent.name}" for p in CORE.glob("*/__init__.py")}
    assert packages <= named, f"docs/architecture.md leaves out {sorted(packages - named)}"
