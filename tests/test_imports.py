"""The packages keep their declared layer order (docs/ARCHITECTURE.md), every module imports on its own in a fresh
interpreter, and no module imports itself back (fast tier)."""
from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
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


def test_stages_import_the_run_object_not_each_other():
    """What stages share lives below them (rundir, training/, tflite/, onnx/, runtime/, formats/): every module of
    stages/ is a stage."""
    graph = package_graph()
    stages = {m for m in graph if m.startswith("edgetl.stages.")}
    crossing = {m: sorted(graph[m] & stages) for m in stages if graph[m] & stages}
    assert not crossing, f"stage modules importing other stages: {crossing}"


# ---- the layers -------------------------------------------------------------------------------------------------
# edgetl's packages and top-level modules, bottom first: each may depend only on those listed before it. Imports
# inside functions count, and so does any "edgetl.x" string or comment (importlib names, mock targets, docs), because a
# lazy import is still a dependency, only hidden from the interpreter. docs/ARCHITECTURE.md shows this order.
LAYERS = (
    "_vendor", "_version", "errors", "fsutil", "_tf", "console", "progress", "metrics",  # core: no edgetl knowledge
    "data", "backbones",  # files -> labelled splits; the backbone registry
    "formats",  # what a file is and carries: the format registry, contract, TFLite metadata
    "config",  # every stage parameter, defined once
    "runtime",  # open and run any artifact; the parity gate
    "training",  # the Keras training pieces: transfer model, phases, phase-1 head, phase choice, fine-tune, distribution
    "rundir",  # the run object
    "measure",  # benchmark, evaluate, ops, MACs
    "tflite",  # the TFLite converter, --keep-float, --auto
    "onnx",  # the ONNX exporters: segmented export, ORT calibration, int8 graph surgery
    "stages",  # train, prune, quantize, convert
    "report",  # report.md, tables, plots
    "compare",  # `edgetl compare`: a pipeline of its own over the stages and measure
    "export",  # hand-off to device projects
    "pipeline",  # `edgetl run`
    "choose",  # `edgetl search`: measures candidates, writes a recipe for `edgetl run`
    "cli", "__main__",  # the command line
    "",  # the package itself (edgetl/__init__.py): the API facade, imported by nothing inside edgetl
)
_MENTION = re.compile(r"\bedgetl(?:\.[A-Za-z_][A-Za-z_0-9]*)+")


def layer_of(dotted: str, mods: dict, imported: bool = True) -> "str | None":
    """The layer of an edgetl name ("edgetl.stages.train.train" -> "stages"). A name imported from the package itself
    that is no module (``from edgetl import search``) is the facade; in a string such a name is no module (a file
    name such as ".edgetl.lock", the API's ``edgetl.search``): None."""
    parts = dotted.split(".")
    if parts[0] != "edgetl":
        return None
    if len(parts) == 1:
        return ""
    if f"edgetl.{parts[1]}" in mods:
        return parts[1]
    return "" if imported else None


def _targets(source: str, package: str) -> list:
    """[(line, dotted name, imported)] of every import, at any depth, and every "edgetl.x" mention in a string or
    comment."""
    tree = ast.parse(source)
    out = [(t.start[0], m, False) for t in tokenize.generate_tokens(io.StringIO(source).readline)
           if t.type == tokenize.COMMENT for m in _MENTION.findall(t.string)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, True) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            out += [(node.lineno, f"{base}.{a.name}", True) for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out += [(node.lineno, m, False) for m in _MENTION.findall(node.value)]
    return out


def layer_edges(mods: dict) -> list:
    """[(file:line, from layer, to layer)] between different layers."""
    edges = []
    for name, f in mods.items():
        src = layer_of(name, mods)
        package = name if f.name == "__init__.py" else name.rpartition(".")[0]
        for line, target, imported in _targets(f.read_text(encoding="utf-8"), package):
            dst = layer_of(target, mods, imported)
            if dst is not None and dst != src:
                edges.append((f"{f.relative_to(PACKAGE.parent)}:{line}", src, dst))
    return edges


def upward(edges: list) -> list:
    rank = {name: i for i, name in enumerate(LAYERS)}
    return [f"{where}: {src or 'edgetl'} -> {dst or 'edgetl'}" for where, src, dst in edges
            if rank.get(dst, -1) > rank.get(src, -1) or dst not in rank or src not in rank]


def test_every_package_has_a_layer():
    found = {layer_of(m, modules()) for m in modules()}
    assert found == set(LAYERS), f"not in LAYERS: {sorted(found - set(LAYERS))}; gone: {sorted(set(LAYERS) - found)}"


def test_packages_import_only_lower_layers():
    bad = upward(layer_edges(modules()))
    assert not bad, "imports against the layer order (tests/test_imports.py LAYERS):\n" + "\n".join(bad)


def test_the_layer_check_sees_lazy_imports_and_strings():
    mods = {"edgetl": None, "edgetl.errors": None, "edgetl.stages": None, "edgetl.stages.convert": None}
    src = ('def f():\n    from edgetl.stages import convert\n'
           'W = "edgetl.stages.convert:onnx_float"\nL = ".edgetl.lock"\nfrom edgetl import __version__\n'
           'X = 1  # see edgetl.errors, edgetl.search\n')
    got = sorted({layer_of(t, mods, imported) for _, t, imported in _targets(src, "edgetl")} - {None})
    assert got == ["", "errors", "stages"]
    assert upward([("x.py:1", "errors", "stages"), ("x.py:2", "stages", "errors")]) == ["x.py:1: errors -> stages"]


def test_every_module_imports_in_a_fresh_interpreter():
    names = [m for m in modules() if not m.endswith("__main__")]
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=120,
                       cwd=PACKAGE.parent)
    assert r.returncode == 0, r.stderr[-2000:]
