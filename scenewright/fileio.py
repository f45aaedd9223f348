"""Writing outputs so a failed run never leaves half a result, loses data, or hides it.

Everything scenewright writes goes to a temporary sibling first and is renamed into
place only when complete (a rename within one file system is atomic). On top of that:

- **No output over an input.** :func:`refuse_overlap` refuses an output that is,
  contains, or lies inside one of the command's inputs (capture, benchmark, library,
  weights, the models folder), comparing the files themselves (``os.path.samestat``
  on each existing ancestor), so symlinks, ``..`` and bind mounts cannot fool it.
  Commands call :func:`check_output_dir` / :func:`check_output_file` before any work.
- **Normal permissions.** ``mkdtemp``/``mkstemp`` make 0700/0600 entries; the
  temporaries are given what the umask gives a new folder or file (0o777 / 0o666
  minus the umask) before they are renamed into place.
- **A full disk is an input problem**, reported as ``<path>: no space left on
  device`` (InputError), with the temporary removed.
- **Stale temporaries are cleaned.** Temporaries are named
  ``.<name>.tmp-<pid>@<host>-<random>`` (an output moved aside while being replaced:
  ``.<name>.old-<pid>@<host>-<random>``), ``<host>`` a short hash of the host name. The
  next write into the same place removes those left by a process of this host that is
  no longer alive (a killed run); an ``.old-`` whose target is missing (killed between
  the two renames) is renamed back, so the previous output is never lost. Nothing else
  is ever touched: only names of exactly this form, from dead processes of this host.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from scenewright.errors import InputError
from scenewright.models.folder import models_dir

# ---------------------------------------------------------------------------------
# modes


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows.

    Linux reports it in /proc/self/status; elsewhere it is read by setting and
    restoring it under a lock (``os.umask`` is process-wide, so two threads doing
    that at once could leave a wrong umask behind).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def dir_mode() -> int:
    """Mode a new folder gets from the umask (0o777 minus the umask)."""
    return 0o777 & ~current_umask()


def file_mode() -> int:
    """Mode a new file gets from the umask (0o666 minus the umask)."""
    return 0o666 & ~current_umask()


def give_umask_mode(path: Path) -> None:
    """chmod ``path`` (a folder or file made by mkdtemp/mkstemp) to what the umask gives."""
    os.chmod(path, dir_mode() if path.is_dir() else file_mode())


# ---------------------------------------------------------------------------------
# temporaries


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


_HOST = _host_tag()
# .<name>.<tmp|old>-<pid>@<host>-<random>[<suffix>]
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)@(?P<host>[0-9a-f]{8})-"
                      r"[A-Za-z0-9_]{8}(?P<suffix>\.[^/]*)?$")


def _owner_prefix(name: str, kind: str) -> str:
    return f".{name}.{kind}-{os.getpid()}@{_HOST}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # someone else's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Clean up after killed scenewright runs in ``folder``; returns what was removed or restored.

    Only entries named like our temporaries (see the module docstring), made on this
    host by a process that is gone, are touched; ``name`` limits it to those of one
    target. A stale ``.old-`` whose target is missing is renamed back to the target.
    """
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    done = []
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if (m is None or (name is not None and m["name"] != name) or m["host"] != _HOST
                or _alive(int(m["pid"]))):
            continue
        target = folder / m["name"]
        try:
            if m["kind"] == "old" and not os.path.lexists(target):
                os.replace(entry, target)     # killed between the two renames: restore it
            else:
                _remove(entry)
        except OSError:
            continue
        done.append(entry)
    return done


def temp_dir_beside(target: Path) -> Path:
    """A fresh, empty temporary folder beside ``target`` with the umask's mode (stale ones cleaned)."""
    parent = target.resolve().parent
    remove_stale_temporaries(parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=_owner_prefix(target.name, "tmp"), dir=parent))
    give_umask_mode(tmp)
    return tmp


def move_aside(path: Path) -> Path:
    """Rename ``path`` to a hidden ``.old-`` sibling (restored by the next run if this one is killed)."""
    old = path.parent / f"{_owner_prefix(path.name, 'old')}{secrets.token_hex(4)}"
    os.replace(path, old)
    return old


# ---------------------------------------------------------------------------------
# checks


def _chain(path: Path) -> list[os.stat_result]:
    """Stats of ``path`` (resolved) and of every existing folder above it."""
    stats = []
    p = Path(os.path.realpath(path))
    for q in (p, *p.parents):
        with contextlib.suppress(OSError):
            stats.append(os.stat(q))
    return stats


def refuse_overlap(target: str | os.PathLike, inputs: Iterable = (), models: bool = True) -> None:
    """InputError when ``target`` is, contains or lies inside one of ``inputs``.

    ``inputs``: paths (None entries are ignored, as are paths that do not exist).
    ``models``: also protect the models folder (``scenewright.models.folder.models_dir``). Files are compared, not names:
    symlinks, ``..``, hard-linked folders and bind mounts are seen through.
    """
    target = Path(target)
    candidates = [Path(p) for p in inputs if p is not None and str(p) != ""]
    if models:
        candidates.append(models_dir())
    chain = _chain(target)
    try:
        own = os.stat(os.path.realpath(target))
    except OSError:
        own = None
    for inp in candidates:
        try:
            st = os.stat(inp)
        except OSError:
            continue
        if own is not None and os.path.samestat(own, st):
            raise InputError(f"{target}: is the input {inp}; choose another output")
        if any(os.path.samestat(st, s) for s in chain):
            raise InputError(f"{target}: lies inside the input {inp}; choose an output outside it")
        # the folders above the input, and above the entry naming it when that is a symlink
        # (replacing the output would take the symlink with it)
        above = _chain(inp)[1:] + _chain(Path(os.path.abspath(inp)).parent)
        if own is not None and any(os.path.samestat(own, s) for s in above):
            raise InputError(f"{target}: contains the input {inp}; choose an output outside it")


def check_writable_parent(target: Path) -> None:
    """Raise InputError unless ``target``'s parent exists (or can be made) and is writable."""
    parent = Path(target).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{target}: cannot create the parent folder ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{target}: the folder {parent} is not writable")


def check_output_dir(target: str | os.PathLike, overwrite: bool = False, inputs: Iterable = (),
                     models: bool = True) -> Path:
    """Everything that can be checked about an output folder before the work: InputError if not usable.

    Not a folder, not empty without ``overwrite``, overlapping an input (see
    :func:`refuse_overlap`), or in a folder that cannot be written. Stale temporaries
    of earlier, killed runs writing ``target`` are cleaned.
    """
    target = Path(target)
    refuse_overlap(target, inputs, models)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    check_writable_parent(target)
    remove_stale_temporaries(target.resolve().parent, target.name)
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise InputError(f"{target}: folder exists and is not empty (pass --overwrite to replace it)")
    return target


def check_output_file(target: str | os.PathLike, overwrite: bool = False, inputs: Iterable = (),
                      models: bool = True) -> Path:
    """Like :func:`check_output_dir` for an output file (a folder there is refused)."""
    target = Path(target)
    refuse_overlap(target, inputs, models)
    if target.is_dir():
        raise InputError(f"{target}: is a folder; give the output file name")
    check_writable_parent(target)
    remove_stale_temporaries(target.resolve().parent, target.name)
    if target.exists() and not overwrite:
        raise InputError(f"{target}: exists (pass --overwrite to replace it)")
    return target


NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_no_space_text(text: str) -> bool:
    """True for an error message that says the disk (or quota) is full."""
    text = text.lower()
    return any(s in text for s in ("no space left on device", "disk quota exceeded", "database or disk is full"))


def is_no_space(exc: BaseException) -> bool:
    """True for an error caused by a full disk (or quota), however a library wrapped it.

    pxr raises ``Tf.ErrorException`` and sqlite ``OperationalError`` with the OS's words
    in the text, not an errno: the message is read too, along the exception's chain.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
            return True
        if is_no_space_text(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def no_space_error(target: str | os.PathLike) -> InputError:
    return InputError(f"{target}: no space left on device")


FULL_BELOW_BYTES = 64 * 1024


def disk_nearly_full(folder: str | os.PathLike) -> bool:
    """True when the file system holding ``folder`` has less than 64 KiB left for this user.

    For writers that do not say why a write failed (numpy's "4096 requested and 992
    written", Blender and UsdUtils reporting success over a truncated file): a failed or
    short write on a file system in this state ran out of space. Root may use the blocks
    reserved for it, other users may not.
    """
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    free = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return free * st.f_frsize < FULL_BELOW_BYTES


def _is_no_space_in(exc: BaseException, folder: Path) -> bool:
    """Did ``exc``, raised while writing into ``folder``, come from a full disk?

    A nested write's InputError saying so counts too: the outer write then names its
    own target instead of a temporary path the user never chose.
    """
    if not isinstance(exc, Exception):
        return False
    if is_no_space(exc):
        return True
    # a short write reported without an errno (numpy's tofile) on a full file system
    return isinstance(exc, OSError) and exc.errno is None and disk_nearly_full(folder)


# ---------------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = False, inputs: Iterable = (),
               models: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder that replaces ``target`` when the block succeeds.

    The output is checked first (:func:`check_output_dir`: an existing non-empty
    ``target`` is an error unless ``overwrite``; an output overlapping ``inputs`` is
    always one). When overwriting, the old folder is kept until the new one is in
    place, so a failure at any point leaves the old one untouched. A full disk is an
    InputError naming ``target``; the temporary is removed.
    """
    target = Path(target)
    check_output_dir(target, overwrite, inputs, models)
    tmp = temp_dir_beside(target)
    try:
        yield tmp
    except BaseException as exc:
        full = _is_no_space_in(exc, tmp)         # judged before the temporary frees its space
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise no_space_error(target) from None
        raise
    old = move_aside(target) if target.exists() else None
    os.replace(tmp, target)
    if old is not None:
        _remove(old)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, inputs: Iterable = (), models: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it becomes ``target`` if the block succeeds.

    The file gets the umask's mode; a full disk is an InputError naming ``target``.
    An output overlapping ``inputs`` is refused (:func:`refuse_overlap`).
    """
    target = Path(target)
    if inputs:
        refuse_overlap(target, inputs, models)
    check_writable_parent(target)
    parent = target.resolve().parent
    remove_stale_temporaries(parent, target.name)
    fd, name = tempfile.mkstemp(prefix=_owner_prefix(target.name, "tmp"), suffix=target.suffix, dir=parent)
    os.close(fd)
    tmp = Path(name)
    try:
        give_umask_mode(tmp)
        yield tmp
    except BaseException as exc:
        full = _is_no_space_in(exc, parent)
        tmp.unlink(missing_ok=True)
        if full:
            raise no_space_error(target) from None
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
