"""User-facing errors: the CLI prints these as one line and exits with code 2."""


class EdgetlError(Exception):
    """A problem with the user's input, stated with its fix. Never shown with a traceback."""

    exit_code = 2
