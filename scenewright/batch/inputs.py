"""Which captures a batch runs: a benchmark folder, a folder of captures, or a list file.

Each capture gets a name, the name of its output scene folder under OUT_ROOT, chosen
so that ``scenewright eval OUT_ROOT BENCH`` finds ``OUT_ROOT/<scene>/scene.json``:

- a benchmark folder (``manifest.json``): the manifest's scene names, captures at
  ``<scene>/capture``;
- a folder of capture folders: each sub-folder holding ``rgb.png`` (name = the
  sub-folder) or ``capture/rgb.png`` (a benchmark without manifest; name = the
  sub-folder), in name order; a folder that is itself a capture is one capture;
- a text file: one capture folder per line (relative to the file's folder; blank
  lines and ``#`` comments skipped); a folder named ``capture`` is named after its
  parent (``scene_0003/capture`` → ``scene_0003``).

Only the layout of the input is checked here; a capture that turns out unreadable
fails alone when it is reconstructed, so one bad file does not stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scenewright.errors import InputError
from scenewright.fileio import read_json


@dataclass(frozen=True)
class CaptureJob:
    """One capture of a batch: ``name`` (its output folder under OUT_ROOT) and its folder."""

    name: str
    path: Path


def _name_for(folder: Path) -> str:
    return folder.parent.name if folder.name == "capture" and folder.parent.name else folder.name


def _from_manifest(root: Path) -> list[CaptureJob]:
    data = read_json(root / "manifest.json")
    scenes = data.get("scenes") if isinstance(data, dict) else None
    if not isinstance(scenes, list) or not all(isinstance(s, str) and s for s in scenes):
        raise InputError(f"{root / 'manifest.json'}: 'scenes' must be a list of scene folder names")
    return [CaptureJob(s, root / s / "capture") for s in scenes]


def _from_folder(root: Path) -> list[CaptureJob]:
    if (root / "rgb.png").is_file():
        return [CaptureJob(_name_for(root.resolve()), root)]
    jobs = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (sub / "rgb.png").is_file():
            jobs.append(CaptureJob(sub.name, sub))
        elif (sub / "capture" / "rgb.png").is_file():
            jobs.append(CaptureJob(sub.name, sub / "capture"))
    return jobs


def _from_list(path: Path) -> list[CaptureJob]:
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected one capture folder per line)") from None
    jobs = []
    for k, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        folder = Path(line).expanduser()
        folder = folder if folder.is_absolute() else path.parent / folder
        if not folder.is_dir():
            raise InputError(f"{path}, line {k}: {line}: capture folder not found")
        jobs.append(CaptureJob(_name_for(folder.resolve()), folder))
    return jobs


def find_captures(source: str | Path, limit: int | None = None) -> list[CaptureJob]:
    """The captures of ``source`` (see the module docstring), at most ``limit``; InputError if none."""
    source = Path(source)
    if source.is_file():
        jobs = _from_list(source)
    elif source.is_dir():
        jobs = _from_manifest(source) if (source / "manifest.json").is_file() else _from_folder(source)
    else:
        raise InputError(f"{source}: not found (expected a benchmark folder, a folder of capture "
                         "folders or a text file listing capture folders)")
    if not jobs:
        raise InputError(f"{source}: no captures found (a capture folder holds rgb.png; a benchmark "
                         "folder holds manifest.json)")
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.name in seen:
            raise InputError(f"{source}: two captures would write the same output folder {job.name!r} "
                             f"({seen[job.name]} and {job.path})")
        if job.name in (".", "..") or "/" in job.name:
            raise InputError(f"{source}: {job.name!r} is not a usable output folder name")
        seen[job.name] = job.path
    return jobs[:limit] if limit else jobs
