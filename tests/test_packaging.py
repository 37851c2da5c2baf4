"""A non-editable install (`pip install .`, a wheel) carries the recipes and runs them from any folder."""
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_recipes_dir_is_inside_the_package():
    from edgetl.pipeline.recipes import list_recipes, recipes_dir

    assert recipes_dir().parent.name == "edgetl"
    names = {r["name"] for r in list_recipes()}
    assert names == {p.stem for p in (ROOT / "models").glob("*.yaml")}


@pytest.mark.slow
def test_pip_install_dot_lists_and_runs_the_recipes(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    # The new venv sees this interpreter's packages (TensorFlow, and the setuptools the dev extra pins, which the
    # --no-build-isolation build below uses) as a plain path: the parent's .pth files, its editable edgetl's
    # among them, are not run from there, so only the copy installed below can be imported.
    child_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    parent_site = sysconfig.get_paths()["purelib"]
    Path(child_site, "parent.pth").write_text(parent_site + "\n")
    # the venv's own copy of edgetl (not editable) shadows the developer's editable one on sys.path
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-build-isolation", str(ROOT)], check=True, capture_output=True, text=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(py), "-c", "import edgetl, sys; print(edgetl.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert str(env_dir) in where, where
    edgetl = env_dir / "bin" / "edgetl"
    out = subprocess.run([str(edgetl), "recipes", "--json"], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    names = {r["name"] for r in json.loads(out.stdout)}
    assert names == {p.stem for p in (ROOT / "models").glob("*.yaml")}
    # a bundled recipe is found by name and validated; it stops at its (missing) data, before writing anything
    run = subprocess.run([str(edgetl), "run", "flowers_mobilenet_v2", "--data", str(work / "no-photos"),
                          "--out", str(work / "out")], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "no-photos" in run.stderr and "Traceback" not in run.stderr
    assert not (work / "out").exists()
