"""What every robustness case asserts, and small real inputs to break (shared by this package).

A case runs the real command line in a subprocess, as a user would, and checks the
contract of bad input: exit code 2, exactly one ``error:`` line that names the file,
no traceback, no output written (not even a hidden temporary), and the inputs
byte-for-byte as they were (sha256 of every file before and after).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIVING_ROOM = REPO / "examples" / "living_room" / "capture"
FURNITURE = Path("/usr/share/sweethome3d/furniture")
CATALOGS = ("BlendSwap-CC-0", "KatorLegaz")
# A few light catalog assets of different roles (the app tests' selection, minus some).
ASSETS = ("BlendSwap-CC-0/couch2", "BlendSwap-CC-0/bedsideTable2", "BlendSwap-CC-0/oakTable",
          "BlendSwap-CC-0/chair2", "BlendSwap-CC-0/desklamp", "BlendSwap-CC-0/littlePlant",
          "KatorLegaz/dining-chair", "KatorLegaz/glass-dining-table")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def scenewright(*args, cwd: Path | None = None, timeout: float = 300) -> Run:
    """``python -m scenewright ARGS`` in a subprocess (this checkout first on the path)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "scenewright", *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def tree_digest(*paths: Path) -> dict[str, str]:
    """{path: sha256} of every file under ``paths`` (files or folders), plus each folder's listing."""
    out: dict[str, str] = {}
    for root in map(Path, paths):
        items = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in items:
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.is_dir():
                out[str(p)] = "dir:" + ",".join(sorted(c.name for c in p.iterdir()))
    return out


def assert_refused(run: Run, names: str | list[str], *, outputs=(), inputs_before: dict | None = None,
                   inputs=(), says: str | list[str] = ()) -> str:
    """The bad-input contract; returns the error line.

    ``names``: text(s) the error line must contain (the file, e.g. ``"camera.json"``);
    ``says``: more text it must contain (the problem); ``outputs``: paths that must not
    exist afterwards, nor any hidden temporary beside them; ``inputs_before`` (from
    :func:`tree_digest` of ``inputs``): the inputs must be unchanged.
    """
    assert run.returncode == 2, f"exit {run.returncode}, expected 2\nstdout: {run.stdout}\nstderr: {run.stderr}"
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    lines = run.error_lines
    assert len(lines) == 1, f"expected one error line, got {lines}\nstderr: {run.stderr}"
    line = lines[0]
    for text in ([names] if isinstance(names, str) else names) + ([says] if isinstance(says, str) else list(says)):
        assert text in line, f"{text!r} not in {line!r}"
    for out in map(Path, outputs):
        assert not out.exists(), f"{out} was written"
        if out.parent.is_dir():
            stale = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
            assert not stale, f"temporaries left beside {out}: {stale}"
    if inputs_before is not None:
        assert tree_digest(*inputs) == inputs_before, "an input was modified"
    return line


def copy_capture(dst: Path, src: Path = LIVING_ROOM) -> Path:
    """A writable copy of a capture folder (the shipped living room by default)."""
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


@functools.lru_cache(maxsize=None)
def small_library(root: str) -> Path:
    """A real library of 8 catalog assets with rendered views, built once per test session
    under ``root`` (~15-30 s on 2 cores); None-like skip is the caller's business."""
    from scenewright.library import BuildSettings, build_library
    out = Path(root) / "library"
    build_library(out, [FURNITURE / f"{c}.sh3f" for c in CATALOGS], workers=2, only=list(ASSETS),
                  progress=False, settings=BuildSettings(n_samples=512, voxel_grid=8, view_size=64))
    return out


def catalogs_installed() -> bool:
    return all((FURNITURE / f"{c}.sh3f").is_file() for c in CATALOGS)
