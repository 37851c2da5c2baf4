"""The environment of every edgetl subprocess that measures or converts (benchmark workers, compare jobs, peak probes).

The child must import this same edgetl, even when it is not installed (a source checkout run with
``python -m``): the project root goes first on PYTHONPATH. Everything else is the parent's environment.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def worker_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
