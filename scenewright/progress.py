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


def make_progress(enabled: bool = True, label: str = "", *columns: ProgressColumn, eta: bool = False,
                  transient: bool = False) -> Progress:
    """``[label] description | bar | done/total | extra columns | elapsed [| ETA]`` on stderr.

    ``enabled`` False gives a Progress that accepts every call and draws nothing;
    ``transient``: the bar disappears when done (for a stage inside a longer command).
    """
    head = (f"[bold]{label}[/bold] " if label else "") + "{task.description}"
    parts = [TextColumn(head), BarColumn(), MofNCompleteColumn(), *columns, TimeElapsedColumn()]
    if eta:
        parts += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*parts, console=Console(stderr=True), disable=not enabled, transient=transient)
