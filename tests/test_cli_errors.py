"""The error boundary: one line and exit 2 for users; the cause and the native logs with --debug; quiet C++ logs."""
import os
import subprocess
import sys

import click
import pytest

from edgetl.cli.common import user_errors
from edgetl.errors import EdgetlError


@click.command()
@user_errors
def _noisy():
    os.write(2, b"I0000 native noise from a C++ library\n")
    click.echo("python line", err=True)
    try:
        int("x")
    except ValueError as err:
        raise EdgetlError("bad thing; do the fix") from err


def _run(capfd, monkeypatch, **env):
    for k in ("EDGETL_DEBUG", "EDGETL_VERBOSE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SystemExit) as exc:
        _noisy.main(args=[], standalone_mode=False)
    out, err = capfd.readouterr()
    return exc.value.code, err


def test_default_is_one_line_without_native_noise(capfd, monkeypatch):
    code, err = _run(capfd, monkeypatch)
    assert code == 2
    assert "error: bad thing; do the fix" in err and "python line" in err
    assert "native noise" not in err and "Traceback" not in err


def test_debug_shows_the_cause_and_the_native_log(capfd, monkeypatch):
    code, err = _run(capfd, monkeypatch, EDGETL_DEBUG="1")
    assert code == 2
    assert "Traceback" in err and "ValueError" in err and "direct cause" in err
    assert "native noise" in err
    assert err.rstrip().splitlines()[-1] == "error: bad thing; do the fix"


def test_verbose_lets_native_logs_through(capfd, monkeypatch):
    code, err = _run(capfd, monkeypatch, EDGETL_VERBOSE="1")
    assert code == 2 and "native noise" in err and "Traceback" not in err


def test_cli_debug_flag_reaches_the_command():
    env = {k: v for k, v in os.environ.items() if k not in ("EDGETL_DEBUG", "EDGETL_VERBOSE")}
    cmd = [sys.executable, "-m", "edgetl", "benchmark", "x.tflite", "--threads", "a,b"]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env)
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True, env=env)
    assert plain.returncode == 2 and debug.returncode == 2
    assert "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
    assert "Traceback" in debug.stderr and "ValueError" in debug.stderr
