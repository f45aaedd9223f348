"""Which captures a batch runs: a benchmark folder, a folder of captures or images, or a list file.

Each capture gets a name, the name of its output scene folder under OUT_ROOT, chosen
so that ``scenewright eval OUT_ROOT BENCH`` finds ``OUT_ROOT/<scene>/scene.json``:

- a benchmark folder (``manifest.json``): the manifest's scene names, captures at
  ``<scene>/capture``;
- a folder of capture folders: each sub-folder holding ``rgb.png`` (name = the
  sub-folder) or ``capture/rgb.png`` (a benchmark without manifest; name = the
  sub-folder), in name order; a folder that is itself a capture is one capture;
- image files in that folder (``.jpg``, ``.png``, ``.webp``, … beside or instead of the
  capture folders): ``NAME.ext`` or MIDI's ``NAME_rgb.ext`` is the capture ``NAME``, with
  ``NAME_seg.png`` as its instance masks when present and its labels from ``NAME.txt``,
  else from the folder's ``labels.json`` (``{"NAME": "sofa, armchair", "*": "…"}``: a
  string or a list per image, ``"*"`` for the others); an image is perceived (what it
  lacks is estimated by the models) before its method runs;
- a text file: one capture folder or image file per line (relative to the file's folder;
  blank lines and ``#`` comments skipped); a folder named ``capture`` is named after its
  parent (``scene_0003/capture`` → ``scene_0003``);
- one image file: that image.

Only the layout of the input is checked here; a capture that turns out unreadable
fails alone when it is reconstructed, so one bad file does not stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scenewright.errors import InputError
from scenewright.fileio import read_json
from scenewright.perception.image_input import IMAGE_SUFFIXES

LABELS_FILE = "labels.json"
SEG_SUFFIX = "_seg"
RGB_SUFFIX = "_rgb"


@dataclass(frozen=True)
class CaptureJob:
    """One capture of a batch: ``name`` (its output folder under OUT_ROOT) and its folder or image file.

    For an image: ``seg`` its instance-mask PNG (None: estimated), ``labels`` the label text
    from its ``NAME.txt`` or ``labels.json`` (None: the batch's ``--labels``, else the default
    vocabulary), ``labels_from`` the file they came from.
    """

    name: str
    path: Path
    seg: Path | None = None
    labels: str | None = None
    labels_from: str | None = None

    @property
    def is_image(self) -> bool:
        return self.path.is_file()


def _name_for(folder: Path) -> str:
    return folder.parent.name if folder.name == "capture" and folder.parent.name else folder.name


def _from_manifest(root: Path) -> list[CaptureJob]:
    data = read_json(root / "manifest.json")
    scenes = data.get("scenes") if isinstance(data, dict) else None
    if not isinstance(scenes, list) or not all(isinstance(s, str) and s for s in scenes):
        raise InputError(f"{root / 'manifest.json'}: 'scenes' must be a list of scene folder names")
    return [CaptureJob(s, root / s / "capture") for s in scenes]


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _image_name(path: Path) -> str:
    """``room.jpg`` → ``room``; MIDI's ``room_rgb.png`` → ``room``."""
    stem = path.stem
    return stem[:-len(RGB_SUFFIX)] if stem.endswith(RGB_SUFFIX) and len(stem) > len(RGB_SUFFIX) else stem


def _read_labels_json(path: Path) -> dict[str, str]:
    """``labels.json``: ``{"NAME": "sofa, chair" | ["sofa", "chair"], "*": …}`` → name → label text."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object {{\"NAME\": \"sofa, armchair\", ...}} (image name → labels)")
    out = {}
    for name, value in data.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ", ".join(value)
        if not isinstance(value, str):
            raise InputError(f"{path}: labels of {name!r} must be a string or a list of strings, "
                             f"not {type(value).__name__}")
        out[name] = value
    return out


def _image_job(path: Path, labels_json: dict[str, str] | None = None, labels_path: Path | None = None,
               name: str | None = None) -> CaptureJob:
    """The job of one image file: its ``NAME_seg.png`` and labels (``NAME.txt``, else ``labels.json``)."""
    name = name or _image_name(path)
    seg = path.parent / f"{name}{SEG_SUFFIX}.png"
    txt = path.parent / f"{name}.txt"
    labels, labels_from = None, None
    if txt.is_file():
        try:
            labels, labels_from = txt.read_text(), str(txt)
        except (UnicodeDecodeError, OSError) as exc:
            raise InputError(f"{txt}: cannot read the labels ({exc})") from None
    elif labels_json is not None and (name in labels_json or "*" in labels_json):
        labels, labels_from = labels_json.get(name, labels_json.get("*")), str(labels_path)
    return CaptureJob(name, path, seg=seg if seg.is_file() else None, labels=labels, labels_from=labels_from)


def _images_in(root: Path) -> list[CaptureJob]:
    """The image files of ``root`` as jobs (see the module docstring)."""
    files = sorted(p for p in root.iterdir() if p.is_file() and _is_image_name(p))
    segs = {p for p in files if p.stem.endswith(SEG_SUFFIX)}
    images = [p for p in files if p not in segs]
    labels_path = root / LABELS_FILE
    labels_json = _read_labels_json(labels_path) if labels_path.is_file() else None
    jobs = [_image_job(p, labels_json, labels_path) for p in images]
    names = {j.name for j in jobs}
    for seg in segs:
        if seg.stem[:-len(SEG_SUFFIX)] not in names and seg.suffix.lower() == ".png":
            raise InputError(f"{seg}: a segmentation without its image (expected "
                             f"{seg.stem[:-len(SEG_SUFFIX)]}.jpg/.png/.webp or …{RGB_SUFFIX}.png beside it)")
    unknown = sorted(set(labels_json or {}) - names - {"*"})
    if unknown:
        raise InputError(f"{labels_path}: labels for {', '.join(map(repr, unknown[:5]))}, which no image of "
                         f"{root} is called (images: {', '.join(sorted(names)[:5]) or 'none'})")
    return jobs


def _from_folder(root: Path) -> list[CaptureJob]:
    if (root / "rgb.png").is_file():
        return [CaptureJob(_name_for(root.resolve()), root)]
    jobs = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (sub / "rgb.png").is_file():
            jobs.append(CaptureJob(sub.name, sub))
        elif (sub / "capture" / "rgb.png").is_file():
            jobs.append(CaptureJob(sub.name, sub / "capture"))
    jobs += _images_in(root)
    return sorted(jobs, key=lambda j: j.name)


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
        if folder.is_file() and _is_image_name(folder):
            jobs.append(_image_job(folder))
            continue
        if not folder.is_dir():
            what = "image file" if _is_image_name(folder) else "capture folder"
            raise InputError(f"{path}, line {k}: {line}: {what} not found")
        jobs.append(CaptureJob(_name_for(folder.resolve()), folder))
    return jobs


def find_captures(source: str | Path, limit: int | None = None) -> list[CaptureJob]:
    """The captures of ``source`` (see the module docstring), at most ``limit``; InputError if none."""
    source = Path(source)
    if source.is_file() and _is_image_name(source):
        jobs = [_image_job(source)]
    elif source.is_file():
        jobs = _from_list(source)
    elif source.is_dir():
        jobs = _from_manifest(source) if (source / "manifest.json").is_file() else _from_folder(source)
    else:
        raise InputError(f"{source}: not found (expected a benchmark folder, a folder of capture "
                         "folders or images, or a text file listing them)")
    if not jobs:
        raise InputError(f"{source}: no captures found (a capture folder holds rgb.png; a benchmark "
                         "folder holds manifest.json; images end in .jpg, .png, .webp, …)")
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.name in seen:
            raise InputError(f"{source}: two captures would write the same output folder {job.name!r} "
                             f"({seen[job.name]} and {job.path})")
        if job.name in (".", "..") or "/" in job.name:
            raise InputError(f"{source}: {job.name!r} is not a usable output folder name")
        seen[job.name] = job.path
    return jobs[:limit] if limit else jobs
