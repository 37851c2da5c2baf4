"""User-facing errors: the CLI prints these as one line and exits with code 2."""


class EdgetlError(Exception):
    """A problem with the user's input, stated with its fix. Never shown with a traceback."""

    exit_code = 2


RETRAIN_FIX = "retrain with --force or restore it"


def damaged(path, what: str, fix: str = RETRAIN_FIX) -> EdgetlError:
    """The one message for a run file that exists but cannot be used: unreadable, not JSON, or the wrong shape."""
    return EdgetlError(f"damaged: {path} ({what}); {fix}")


def check_choices(values, valid, option: str, what: str) -> list:
    """Deduplicated ``values``, each one of ``valid``; else a one-line EdgetlError naming ``option`` and the choices."""
    values = list(dict.fromkeys(values or ()))
    if not values:
        raise EdgetlError(f"no {option} given; choose one or more of: {', '.join(valid)}")
    bad = [v for v in values if v not in valid]
    if bad:
        raise EdgetlError(f"unknown {what} '{bad[0]}'; choose one or more of: {', '.join(valid)}")
    return values
