"""The suite sets up each heavy fixture once (fast tier): fixtures live in plugin modules loaded by conftest's
``pytest_plugins``; a test module that *imports* a fixture function gets its own copy, set up again."""
from __future__ import annotations

import ast
from pathlib import Path

import conftest

TESTS = Path(__file__).resolve().parent


def _fixtures(module: Path) -> set:
    names = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if ast.unparse(target) in ("pytest.fixture", "fixture"):
                    names.add(node.name)
    return names


def test_fixture_modules_are_plugins_and_no_test_imports_a_fixture():
    plugins = {p: _fixtures(TESTS / f"{p}.py") for p in conftest.pytest_plugins}
    assert all(plugins.values()), "every plugin module defines fixtures"
    assert {p.stem for p in TESTS.glob("fixtures_*.py")} <= set(plugins), "a fixtures_*.py module is not a plugin"
    offenders = []
    for test in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(test.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in plugins:
                offenders += [f"{test.name}: {a.name}" for a in node.names if a.name in plugins[node.module]]
    assert not offenders, f"fixtures imported (set up once per importing module): {offenders}"


def test_the_shared_data_path_is_written_once():
    written = [p.name for p in TESTS.glob("*.py") if '/ "shared"' in p.read_text(encoding="utf-8")
               and p.name not in ("shared_data.py", Path(__file__).name)]
    assert not written, written
