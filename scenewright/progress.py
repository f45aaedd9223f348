"""The progress bar every long command shows (rich, on stderr), made in one place.

>>> bar = make_progress(enabled=False, label="demo")     # disabled: draws nothing, same calls
>>> with bar:
...     task = bar.add_task("step", total=2)
...     bar.advance(task, 2)
>>> bar.tasks[0].completed
2.0
"""

from __future__ import annotations


from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


_silenced = False      # set by the command line's -q: no bar anywhere in this process


def silence(on: bool = True) -> None:
    """No progress bar from now on in this process (``-q``), whatever the callers ask for."""
    global _silenced
    _silenced = on


def silenced() -> bool:
    """Whether ``-q`` turned progress bars off (for bars made without :func:`make_progress`)."""
    return _silenced


def make_progress(enabled: bool = True, label: str = "", *columns: ProgressColumn, eta: bool = False,
                  transient: bool = False) -> Progress:
    """``[label] description | bar | done/total | extra columns | elapsed [| ETA]`` on stderr.

    ``enabled`` False (or ``-q``: :func:`silence`) gives a Progress that accepts every call and draws nothing;
    ``transient``: the bar disappears when done (for a stage inside a longer command).
    """
    head = (f"[bold]{label}[/bold] " if label else "") + "{task.description}"
    parts = [TextColumn(head), BarColumn(), MofNCompleteColumn(), *columns, TimeElapsedColumn()]
    if eta:
        parts += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*parts, console=Console(stderr=True), disable=not enabled or _silenced,
                    transient=transient)
