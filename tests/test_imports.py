"""Every module imports on its own in a fresh interpreter, and no module imports itself back (fast tier)."""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgetl"


@functools.lru_cache(maxsize=None)
def modules() -> dict:
    """{dotted name: file} of every module of the package."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def import_graph(mods: dict) -> dict:
    """{module: modules of the package it imports}, lazy (function-level) imports included: a cycle through
    a lazy import is still a cycle of responsibilities, only hidden from the interpreter."""
    graph = {}
    for name, f in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name and not name.startswith(d + ".")}
    return graph


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@functools.lru_cache(maxsize=None)
def package_graph() -> dict:
    return import_graph(modules())


def test_no_import_cycles():
    found = cycles(package_graph())
    assert not found, f"import cycles: {found}"


def test_stages_import_the_run_object_not_each_others_helpers():
    graph = package_graph()
    stages = {m for m in graph if m.startswith("edgetl.stages.")}
    shared = {"edgetl.stages.finetune", "edgetl.stages.distribute", "edgetl.stages.auto_float",
              "edgetl.stages.max_drop"}  # helpers, not stages
    crossing = {m: sorted(graph[m] & (stages - shared)) for m in stages - shared if graph[m] & (stages - shared)}
    assert not crossing, f"stage modules importing other stages: {crossing}"


def test_every_module_imports_in_a_fresh_interpreter():
    names = [m for m in modules() if not m.endswith("__main__")]
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=120,
                       cwd=PACKAGE.parent)
    assert r.returncode == 0, r.stderr[-2000:]
