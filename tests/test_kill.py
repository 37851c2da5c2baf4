"""Kill tests (issue 18): SIGKILL and SIGTERM in the middle of quantize and convert.

After each kill no file under an artifact's name is partial (every listed artifact parses and is fresh),
SIGTERM leaves no temporary file at all (one line, exit 143), the next command sweeps what SIGKILL left,
a rerun succeeds, and benchmark's listing holds only real artifacts. Slow: real conversions.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT, copy_tree
from edgetl.fsutil import is_temp

pytestmark = pytest.mark.slow
WAIT_S = 600  # only a guard against a hang on a loaded machine


def start(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("EDGETL_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "edgetl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)


def temps(run: Path) -> list:
    return [p.name for p in run.iterdir() if is_temp(p)]


def kill_when_writing(proc: subprocess.Popen, run: Path, sig: int) -> tuple:
    """Send ``sig`` once a new temporary artifact file exists (the write is under way); (exit code, stderr)."""
    t0 = time.monotonic()
    leftover = set(temps(run))  # what an earlier SIGKILL left: swept when this command takes the run's lock
    while not set(temps(run)) - leftover:
        assert proc.poll() is None, f"finished before writing anything: {proc.communicate()[1][-500:]}"
        assert time.monotonic() - t0 < WAIT_S, "no temporary file appeared"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, err


def check_artifacts(run: Path) -> list:
    """Every artifact benchmark would list: no temp file, each one parses and comes from the run's model."""
    from edgetl.runtime.registry import inspect_artifact
    from edgetl.measure.bench import expand_artifacts

    listed = expand_artifacts([run])
    names = [Path(p).name for p, _ in listed]
    assert not [n for n in names if n.startswith(".")], names
    for p, reason in listed:
        assert reason is None, reason
        if Path(p).suffix in (".tflite", ".onnx"):
            inspect_artifact(p)  # a partial file does not parse
    return names


@pytest.fixture
def run(small_run, tmp_path):
    return copy_tree(small_run[0], tmp_path / "run")


@pytest.mark.parametrize("command, product", [
    (["quantize", "--mode", "int8"], "model_int8.tflite"),
    (["convert", "--to", "onnx"], "model.onnx"),
])
def test_killed_mid_write_leaves_no_partial_artifact_and_a_rerun_succeeds(run, command, product):
    args = [command[0], str(run), *command[1:]]

    code, _ = kill_when_writing(start(*args), run, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert temps(run), "SIGKILL cannot clean up: the temporary file stays until the next command"
    assert product not in check_artifacts(run)  # listed artifacts: complete ones only, never the temp file

    code, err = kill_when_writing(start(*args), run, signal.SIGTERM)  # its start swept the SIGKILL's temp file
    assert code == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted"), err
    assert temps(run) == [] and product not in check_artifacts(run)

    proc = start(*args)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    assert temps(run) == [] and product in check_artifacts(run)
