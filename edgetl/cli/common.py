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


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread so that every ``finally`` (atomic writes) runs."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


_SIGNALLED: list = []  # the signals received while a command ran


def _on_signal(signum, frame):
    _SIGNALLED.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupt_signals():
    """SIGINT and SIGTERM both end a command the same way: one line, no partial file, exit 128 + signal."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    del _SIGNALLED[:]
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def user_errors(fn):
    """Turn an EdgetlError into one line on stderr and exit code 2, SIGINT/SIGTERM into one line and exit 130/143;
    the traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _quiet_python_loggers()
        debug = debug_enabled()
        with quiet_native_stderr() as log, reserve_stdout(), interrupt_signals():
            try:
                return fn(*args, **kwargs)
            except EdgetlError as e:
                if _SIGNALLED:  # the interrupt surfaced as a library error that edgetl then explained
                    code = _interrupted(e, debug, log)
                else:
                    if debug:
                        _show_debug(e, log)
                    click.echo(f"error: {e}", err=True)
                    code = e.exit_code
                    if kwargs.get("as_json"):  # --json: stdout stays one JSON document, a failure included
                        emit_json({"error": str(e), "exit_code": code})
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                if debug:
                    _show_debug(e, log)
                where = f" writing {e.filename}" if e.filename else ""
                click.echo(f"error: disk full{where}; free some space and rerun (finished steps are kept, "
                           "the failed one left no file)", err=True)
                code = 2
            except KeyboardInterrupt as e:
                code = _interrupted(e, debug, log)
            except Exception as e:  # a bug, not a user problem: keep the traceback, with the native log for context
                if not _SIGNALLED:
                    if not debug:
                        native = _native_tail(log, 15)
                        if native:
                            click.echo("--- native library output (last lines) ---\n" + native, err=True)
                    raise
                code = _interrupted(e, debug, log)  # a library turned the interrupt into its own error (onnxruntime)
        sys.exit(code)

    return wrapper


def _interrupted(err: BaseException, debug: bool, log) -> int:
    import signal

    if debug:
        _show_debug(err, log)
    signum = getattr(err, "signum", None) or (_SIGNALLED[0] if _SIGNALLED else signal.SIGINT)
    click.echo("interrupted: finished steps are kept, unfinished ones left no files", err=True)
    return 128 + int(signum)


def threads_option(many: bool = False, default: str | None = None, help: str | None = None):
    """The one ``--threads`` option: read as text and checked by ``parse_threads`` inside the command (one line)."""
    text = help or ("Thread counts, comma-separated (e.g. 1,2,4)." if many
                    else "Inference threads, a positive integer [default: the runtime's].")
    return click.option("--threads", default=default, show_default=default is not None, help=text)


def parse_threads(value, many: bool = True):
    """``--threads`` of every command: positive integers, comma-separated when ``many`` (a list), else one (an int);
    None stays None (the runtime's default). Anything else is a one-line EdgetlError."""
    if value is None:
        return None
    example = "1 or 1,2,4" if many else "1 or 4"
    try:
        items = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError as err:
        raise EdgetlError(f"--threads must be {'comma-separated ' if many else 'a '}positive integer"
                          f"{'s' if many else ''} such as {example}; got '{value}'") from err
    if not items or any(i < 1 for i in items) or (not many and len(items) != 1):
        raise EdgetlError(f"--threads must be {'positive integers' if many else 'positive: one integer'} such as "
                          f"{example}; got '{value}'")
    return items if many else items[0]


def emit_json(obj) -> None:
    from edgetl.fsutil import _json_default

    click.echo(json.dumps(obj, indent=2, default=_json_default), file=results_stream)
