"""The one rich console: human-readable output goes to stderr, so that ``--json`` on stdout stays machine-readable.

Defined below every package that prints (the CLI, report tables), so none of them reaches up for it.
"""
from __future__ import annotations

import os

from rich.console import Console

_NON_TTY_WIDTH = 240  # a log file or pipe has no width to fit: keep table columns whole instead of truncating to 80


def _make_console() -> Console:
    probe = Console(stderr=True)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return Console(stderr=True, highlight=False)
    return Console(stderr=True, highlight=False, width=_NON_TTY_WIDTH)


console = _make_console()
