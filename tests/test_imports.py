"""No import cycles: between otmark's packages, between its modules, and every module imports
on its own in a fresh interpreter."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import otmark

ROOT = Path(otmark.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()
PACKAGES = {m for m, p in MODULES.items() if p.name == "__init__.py"}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """otmark modules imported anywhere in ``path`` (function bodies included, type-checking
    blocks excluded); ``from pkg import sub`` counts as an import of the submodule."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("otmark"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("otmark"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


EDGES = {m: _imports(p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_cycle_between_packages():
    """``otmark.X`` -> ``otmark.Y`` whenever a module of X imports one of Y (even lazily)."""

    def package(m: str) -> str:
        return ".".join(m.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for m, targets in EDGES.items():
        for t in targets:
            if package(t) != package(m):
                graph.setdefault(package(m), set()).add(package(t))
    assert graph["otmark.inference"] >= {"otmark.export", "otmark.heatmaps"}  # the graph is real
    assert _cycles(graph) == []


def test_no_cycle_between_modules():
    """Module to module, leaving out imports of package ``__init__`` files (re-exports)."""
    graph = {
        m: {t for t in targets if t in MODULES and t not in PACKAGES and t != m}
        for m, targets in EDGES.items()
        if m not in PACKAGES
    }
    assert "otmark.datasets.matimage" in graph["otmark.datasets.records"]
    assert _cycles(graph) == []


def test_every_module_imports_fresh():
    """Each module first in a clean ``sys.modules`` (otmark's modules dropped before each one):
    an import-order cycle would fail here with a partially initialised module."""
    script = (
        "import importlib, sys\n"
        f"names = {sorted(MODULES)!r}\n"
        "bad = []\n"
        "for name in names:\n"
        "    for m in [m for m in sys.modules if m == 'otmark' or m.startswith('otmark.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {exc!r}')\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stdout + res.stderr
