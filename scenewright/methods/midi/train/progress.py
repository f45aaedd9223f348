"""Progress bars of the training command (rich, on stderr)."""

from __future__ import annotations


def bar(enabled: bool, *extra_columns):
    """A rich Progress with description, bar, count, elapsed time and ``extra_columns``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scenewright.progress import silenced
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), *extra_columns, console=Console(stderr=True),
                    disable=not enabled or silenced(), transient=False)


def train_bar(enabled: bool):
    """Bar with the latest loss and the throughput (optimizer steps and scenes per second)."""
    from rich.progress import TextColumn
    return bar(enabled, TextColumn("loss {task.fields[loss]}"),
               TextColumn("{task.fields[rate]} step/s, {task.fields[scenes]} scenes/s"))
