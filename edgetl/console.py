"""The consoles: results (tables, summaries) go to stdout, progress, logs and warnings to stderr, so that
``edgetl backbones > f`` keeps the table and ``--json`` on stdout stays one JSON document.

Defined below every package that prints (the CLI, report tables), so none of them reaches up for it.
"""
from __future__ import annotations

import contextlib
import os
import sys

from rich.console import Console

_NON_TTY_WIDTH = 240  # a log file or pipe has no width to fit: keep table columns whole instead of truncating to 80


class _ResultsStream:
    """stdout as the command's results see it: the real stdout even while stray stdout writes go to stderr."""

    def _target(self):
        return _results_file or sys.stdout

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        self._target().flush()

    def isatty(self):
        try:
            return self._target().isatty()
        except (AttributeError, ValueError):
            return False

    def fileno(self):
        return self._target().fileno()

    @property
    def encoding(self):
        return getattr(self._target(), "encoding", None) or "utf-8"


_results_file = None  # the real stdout while ``reserve_stdout`` is active
results_stream = _ResultsStream()


def _make_console(stderr: bool) -> Console:
    file = None if stderr else results_stream
    probe = Console(stderr=stderr, file=file)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return Console(stderr=stderr, file=file, highlight=False)
    return Console(stderr=stderr, file=file, highlight=False, width=_NON_TTY_WIDTH)


console = _make_console(stderr=True)  # progress, logs, warnings
out = _make_console(stderr=False)  # results: tables, summaries


def results_console(machine: bool = False) -> Console:
    """Where a command's human tables go: stdout, or stderr when stdout carries --json/--csv/--markdown."""
    return console if machine else out


@contextlib.contextmanager
def reserve_stdout():
    """While a command runs, stdout is for its results only: other writes to it go to stderr.

    Python-level writes (``print``, Keras's download messages and progress bar) follow ``sys.stdout`` to stderr;
    native writes to file descriptor 1 follow it to file descriptor 2. ``out`` and ``emit_json`` keep the real stdout.
    """
    global _results_file
    real = sys.stdout
    saved = None
    try:
        real.flush()
        if real.fileno() == 1:
            saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        saved = None
    if saved is not None:
        results = open(os.dup(saved), "w", buffering=1, encoding=getattr(real, "encoding", None) or "utf-8",
                       errors="backslashreplace")
        os.dup2(2, 1)
    else:
        results = real
    _results_file = results
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        sys.stdout = real
        _results_file = None
        if saved is not None:
            results.close()
            os.dup2(saved, 1)
            os.close(saved)
