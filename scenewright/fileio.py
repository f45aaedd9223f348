"""Writing output folders so a failed run never leaves half a result.

Everything scenewright writes goes to a temporary sibling folder first and is
renamed into place only when complete (a rename within one file system is atomic).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from scenewright.errors import InputError


def check_writable_parent(target: Path) -> None:
    """Raise InputError unless ``target``'s parent exists (or can be made) and is writable."""
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{target}: cannot create the parent folder ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{target}: the folder {parent} is not writable")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder that replaces ``target`` when the block succeeds.

    An existing non-empty ``target`` is an error unless ``overwrite``; when
    overwriting, the old folder is kept until the new one is in place, so a
    failure at any point leaves the old one untouched.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise InputError(f"{target}: folder exists and is not empty (pass --overwrite to replace it)")
    check_writable_parent(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.resolve().parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it becomes ``target`` if the block succeeds."""
    target = Path(target)
    check_writable_parent(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", suffix=target.suffix,
                                dir=target.resolve().parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps_json(data) -> str:
    """JSON text with numpy values converted (arrays become nested lists)."""
    return json.dumps(data, indent=2, default=_json_default)


def write_json(path: str | os.PathLike, data) -> None:
    """Write ``data`` as JSON atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(dumps_json(data) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON file; a missing or malformed file is an InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def refuse_to_replace(target: str | os.PathLike, overwrite: bool, empty_folder_ok: bool = True) -> None:
    """InputError if ``target`` is there and not ``overwrite`` (an empty folder is fine when
    ``empty_folder_ok``: a scene folder made ahead for the output).

    Checked before a long run, so it fails at once instead of when writing its result.
    """
    target = Path(target)
    if overwrite or not target.exists():
        return
    if target.is_dir() and empty_folder_ok:
        if not any(target.iterdir()):
            return
        raise InputError(f"{target}: folder exists and is not empty (pass --overwrite to replace it)")
    raise InputError(f"{target}: exists (pass --overwrite to replace it)")
