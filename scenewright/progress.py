"""The progress bar every long command shows (rich, on stderr), made in one place.

>>> bar = make_progress(enabled=False, label="demo")     # disabled: draws nothing, same calls
>>> with bar:
...     task = bar.add_task("step", total=2)
...     bar.advance(task, 2)
>>> bar.tasks[0].completed == 2
True

A caller that shows progress elsewhere (the web page) watches every bar made inside a
block, drawn or not; an exception the callback raises stops the work at its next step:

>>> seen = []
>>> with watch_progress(lambda description, done, total: seen.append((description, done, total))):
...     with make_progress(enabled=False) as bar:
...         task = bar.add_task("objects", total=2)
...         bar.advance(task)
>>> [(description, float(done), total) for description, done, total in seen]
[('objects', 0.0, 2), ('objects', 1.0, 2)]
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

#: ``callback(description, completed, total)`` told of every step of every bar (total may be None).
ProgressWatcher = Callable[[str, float, "float | None"], None]
_WATCHER: ContextVar[ProgressWatcher | None] = ContextVar("scenewright_progress_watcher", default=None)


@contextmanager
def watch_progress(callback: ProgressWatcher) -> Iterator[None]:
    """Report every bar :func:`make_progress` makes in this block (same thread or context) to ``callback``."""
    token = _WATCHER.set(callback)
    try:
        yield
    finally:
        _WATCHER.reset(token)


class _WatchedProgress(Progress):
    """A Progress that also tells a watcher each time a task is added or moves."""

    def __init__(self, *columns, watcher: ProgressWatcher, **kwargs) -> None:
        super().__init__(*columns, **kwargs)
        self._watcher = watcher

    def _tell(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        self._watcher(task.description, task.completed, task.total)

    def add_task(self, *args, **kwargs) -> TaskID:
        task_id = super().add_task(*args, **kwargs)
        self._tell(task_id)
        return task_id

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._tell(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._tell(task_id)


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
    Inside :func:`watch_progress` the bar also reports each step to the watcher.
    """
    head = (f"[bold]{label}[/bold] " if label else "") + "{task.description}"
    parts = [TextColumn(head), BarColumn(), MofNCompleteColumn(), *columns, TimeElapsedColumn()]
    if eta:
        parts += [TextColumn("ETA"), TimeRemainingColumn()]
    watcher = _WATCHER.get()
    options = dict(console=Console(stderr=True), disable=not enabled or _silenced, transient=transient)
    if watcher is not None:
        return _WatchedProgress(*parts, watcher=watcher, **options)
    return Progress(*parts, **options)
