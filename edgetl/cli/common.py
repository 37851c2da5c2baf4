"""Small pieces every CLI command shares: the error boundary, JSON output, the two consoles, log noise.

stdout carries results only (tables, ``--json``/``--csv``/``--markdown``), so ``edgetl backbones > f``, ``| grep``
and ``--json | python -m json.tool`` work; progress, logs and warnings go to stderr (``console``). While a command
runs, anything else written to stdout (Keras's "Downloading data from ...", a library's print, native code writing
to file descriptor 1) is sent to stderr: only ``out`` and ``emit_json`` reach the real stdout.

``--debug`` (or ``EDGETL_DEBUG=1``) shows the full traceback, with its causes, behind every one-line error.
``--verbose`` (or ``EDGETL_VERBOSE=1``) lets TensorFlow, absl and ONNX Runtime print their own logs; by default
what their C++ cores write straight to stderr is kept out of the user's way (and shown with ``--debug`` on failure).
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import sys
import tempfile
import traceback
import warnings

import click

from edgetl.console import (console, out, reserve_stdout, results_console,  # noqa: F401  (re-exported: every
                            results_stream)  # command prints through them)
from edgetl.errors import EdgetlError

DEBUG_ENV = "EDGETL_DEBUG"
VERBOSE_ENV = "EDGETL_VERBOSE"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def debug_enabled() -> bool:
    return _flag(DEBUG_ENV)


def verbose_enabled() -> bool:
    return _flag(VERBOSE_ENV)


# Library warnings that reach users of a correct setup and say nothing they can act on (README: silenced unless
# --verbose). Matched by message, so a new warning still shows until it is judged.
QUIET_WARNINGS = (
    r"\s*Warning: tf\.lite\.Interpreter is deprecated",  # TF's converter/debugger build tf.lite.Interpreter internally
    r"Statistics for quantized inputs were expected",  # TF's convert.py, for uint8/int8 I/O with a representative set
)


def quiet_library_warnings() -> None:
    """Filter the known library warnings (and every DeprecationWarning from libraries) unless --verbose."""
    if verbose_enabled():
        return
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def _quiet_python_loggers() -> None:
    if verbose_enabled():
        return
    quiet_library_warnings()
    for name in ("tensorflow", "absl", "tf2onnx", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs its advice on the root logger


@contextlib.contextmanager
def quiet_native_stderr():
    """Send what C++ libraries write straight to file descriptor 2 into a temporary file.

    Python's own stderr (rich progress, tables, error lines) is re-pointed at the real terminal, so only the native
    noise (absl init lines, "fully_quantize: ...", ONNX Runtime warnings) goes. Yields the log file, or None when
    ``--verbose`` asks for everything or stderr is not a real file descriptor.
    """
    if verbose_enabled():
        yield None
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield None
        return
    log = tempfile.TemporaryFile()
    real = sys.stderr
    try:
        real_is_fd2 = real.fileno() == 2
    except (OSError, ValueError, AttributeError):
        real_is_fd2 = False
    os.dup2(log.fileno(), 2)
    if real_is_fd2:
        sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=getattr(real, "encoding", None) or "utf-8",
                          errors="backslashreplace")
    try:
        yield log
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        if sys.stderr is not real:
            sys.stderr.close()
            sys.stderr = real
        os.dup2(saved, 2)
        os.close(saved)


def _native_tail(log, lines: int = 40) -> str:
    if log is None:
        return ""
    log.flush()
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip().splitlines()
    return "\n".join(text[-lines:])


def _show_debug(err: BaseException, log) -> None:
    native = _native_tail(log)
    if native:
        click.echo("--- native library output (last lines) ---\n" + native, err=True)
    click.echo("".join(traceback.format_exception(err)).rstrip(), err=True)


def user_errors(fn):
    """Turn an EdgetlError (and Ctrl-C) into one line on stderr and exit code 2; the traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _quiet_python_loggers()
        debug = debug_enabled()
        with quiet_native_stderr() as log, reserve_stdout():
            try:
                return fn(*args, **kwargs)
            except EdgetlError as e:
                if debug:
                    _show_debug(e, log)
                click.echo(f"error: {e}", err=True)
                code = e.exit_code
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                if debug:
                    _show_debug(e, log)
                where = f" writing {e.filename}" if e.filename else ""
                click.echo(f"error: disk full{where}; free some space and rerun (finished steps are kept, "
                           "the failed one left no file)", err=True)
                code = 2
            except KeyboardInterrupt:
                click.echo("interrupted: finished steps are kept, unfinished ones left no files", err=True)
                code = 130
            except Exception:  # a bug, not a user problem: keep the traceback, with the native log for context
                if not debug:
                    native = _native_tail(log, 15)
                    if native:
                        click.echo("--- native library output (last lines) ---\n" + native, err=True)
                raise
        sys.exit(code)

    return wrapper


def emit_json(obj) -> None:
    from edgetl.fsutil import _json_default

    click.echo(json.dumps(obj, indent=2, default=_json_default), file=results_stream)
