"""Small pieces every CLI command shares: the error boundary, JSON output, the rich console."""
from __future__ import annotations

import errno
import functools
import json
import sys

import click
from rich.console import Console

from edgetl.errors import EdgetlError

# Human-readable output goes to stderr so that --json on stdout stays machine-readable.
console = Console(stderr=True, highlight=False)


def user_errors(fn):
    """Turn an EdgetlError (and Ctrl-C) into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgetlError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" writing {e.filename}" if e.filename else ""
            click.echo(f"error: disk full{where}; free some space and rerun (finished steps are kept, "
                       "the failed one left no file)", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: finished steps are kept, unfinished ones left no files", err=True)
            sys.exit(130)

    return wrapper


def emit_json(obj) -> None:
    from edgetl.fsutil import _json_default

    click.echo(json.dumps(obj, indent=2, default=_json_default))
