"""One rich progress view for long work (stderr, so --json stdout stays clean)."""
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from edgetl.cli.common import console


class _Progress(Progress):
    """rich's Progress, without the empty line it prints on stop when stderr is not a terminal and nothing is shown
    (a command that fails before its first step would otherwise print a blank line above its one-line error)."""

    def stop(self) -> None:
        if self.disable:
            return
        shown = any(t.visible for t in self.tasks)
        self.live.stop()
        if shown and not self.console.is_interactive and not self.console.is_jupyter:
            self.console.print()


def progress_bar() -> Progress:
    return _Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     TimeRemainingColumn(), console=console, transient=False)
