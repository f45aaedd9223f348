"""What the web page receives, turned into a capture folder that ``load_capture`` validates.

The page never validates by itself: uploads are written into a fresh capture folder
(``rgb.png``, ``seg.png``, ``depth.npy``/``depth.png``, ``instances.json``,
``camera.json``) and :func:`scenewright.capture.load_capture` judges it, so the page
accepts exactly what the command line accepts and says the same things about bad input.
"""

from __future__ import annotations

import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from scenewright.errors import InputError
from scenewright.fileio import read_json
from scenewright.fileio import dumps_json

CAPTURE_FILES = ("rgb.png", "seg.png", "depth.npy", "depth.png", "instances.json", "camera.json")
# A zip is a capture folder (a few images and arrays): refuse archives that could fill the disk.
MAX_ZIP_BYTES = 512 * 1024 ** 2
MAX_ZIP_MEMBERS = 10_000


@dataclass
class Example:
    """A capture folder offered in the page's examples picker."""

    name: str            # shown in the picker: the folder's path under the examples root
    path: Path


def find_examples(roots, max_depth: int = 4) -> list[Example]:
    """Capture folders (those holding ``rgb.png``) under each of ``roots``, sorted by name.

    A folder called ``capture`` is named after its parent (``living_room/capture`` →
    ``living_room``), as in the shipped examples and in benchmark folders.
    """
    found: dict[str, Example] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        candidates = [root] + [p for p in sorted(root.rglob("*"))
                               if p.is_dir() and len(p.relative_to(root).parts) <= max_depth]
        for folder in candidates:
            if not (folder / "rgb.png").is_file():
                continue
            rel = folder.relative_to(root)
            if rel.name == "capture":
                rel = rel.parent
            name = str(rel) if str(rel) != "." else root.name
            if name in found:         # same name under two roots: keep both, told apart by root
                name = f"{root.name}/{name}"
            found[name] = Example(name, folder)
    return [found[k] for k in sorted(found)]


_LABEL_ENTRY = re.compile(r"^\s*(\d+)\s*[:=]\s*(.+?)\s*$")


def parse_labels(text: str) -> dict[int, str]:
    """``"1: sofa, 2: floor lamp"`` (commas, semicolons or new lines between entries) → {1: "sofa", 2: "floor lamp"}.

    An entry that is not ``id: label`` with a positive integer id, or a repeated id, is an
    InputError quoting it.
    """
    labels: dict[int, str] = {}
    for raw in re.split(r"[,;\n]", text or ""):
        if not raw.strip():
            continue
        m = _LABEL_ENTRY.match(raw)
        if m is None:
            raise InputError(f"labels: {raw.strip()!r} is not 'id: label' (e.g. '1: sofa, 2: lamp')")
        iid, label = int(m.group(1)), m.group(2)
        if iid <= 0:
            raise InputError(f"labels: id {iid} in {raw.strip()!r} must be a positive instance id (0 is background)")
        if iid in labels:
            raise InputError(f"labels: id {iid} is given twice ({labels[iid]!r} and {label!r})")
        labels[iid] = label
    return labels


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def assemble_capture(folder, rgb=None, seg=None, depth=None, instances=None, camera=None,
                     labels_text: str | None = None) -> Path:
    """Write uploaded files into ``folder`` as a capture folder (not yet validated).

    ``rgb``: any image PIL reads (saved as ``rgb.png``; PNG bytes are copied as they are);
    ``seg``: a PNG (copied byte for byte: ids must not be touched); ``depth``: ``.npy``
    (metres) or 16-bit ``.png`` (millimetres); ``instances``: ``instances.json``;
    ``camera``: ``camera.json``; ``labels_text``: ``"1: sofa, 2: lamp"``, which takes
    precedence over ``instances`` for the ids it names. Paths may be None.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if rgb is None:
        raise InputError("rgb: no image given (upload the room's picture, or pick an example)")
    rgb = Path(rgb)
    if _suffix(rgb) == ".png":
        shutil.copyfile(rgb, folder / "rgb.png")
    else:
        try:
            with Image.open(rgb) as img:
                # A phone JPEG is stored sideways with an EXIF turn; masks are drawn on the upright view.
                ImageOps.exif_transpose(img).convert("RGB").save(folder / "rgb.png")
        except Exception as exc:
            raise InputError(f"rgb ({rgb.name}): cannot read image ({exc})") from None
    if seg is not None:
        seg = Path(seg)
        if _suffix(seg) != ".png":
            raise InputError(f"seg ({seg.name}): instance masks must be a PNG (lossless ids), not {seg.suffix or 'no extension'}")
        shutil.copyfile(seg, folder / "seg.png")
    if depth is not None:
        depth = Path(depth)
        if _suffix(depth) not in (".npy", ".png"):
            raise InputError(f"depth ({depth.name}): expected .npy (float metres) or .png (16-bit millimetres)")
        shutil.copyfile(depth, folder / f"depth{_suffix(depth)}")
    labels: dict[int, str] = {}
    if instances is not None:
        shutil.copyfile(instances, folder / "instances.json")
    if labels_text and labels_text.strip():
        labels = parse_labels(labels_text)
        if instances is not None:
            data = read_json(folder / "instances.json")
            try:
                base = {int(e["id"]): str(e.get("label") or "") for e in data["instances"]}
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"instances.json: expected {{'instances': [{{'id': int, 'label': str}}]}} ({exc})") from None
            labels = {**base, **labels}
        (folder / "instances.json").write_text(dumps_json(
            {"instances": [{"id": i, "label": s} for i, s in sorted(labels.items())]}) + "\n")
    if camera is not None:
        shutil.copyfile(camera, folder / "camera.json")
    return folder


def extract_capture_zip(zip_path, folder) -> Path:
    """Unpack the capture files of a zip into ``folder`` (flat) and return it.

    The zip holds one capture folder, at its root or inside one sub-folder (as zipping a
    folder gives). Only the capture's own files are taken; absolute or ``..`` paths,
    archives over ``MAX_ZIP_BYTES`` unpacked, and zips with several captures are refused.
    """
    zip_path, folder = Path(zip_path), Path(folder)
    name = zip_path.name
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{name}: not a zip file ({exc})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_MEMBERS:
            raise InputError(f"{name}: {len(infos)} files; a capture zip holds a handful")
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise InputError(f"{name}: unpacks to {total / 1e6:.0f} MB, more than {MAX_ZIP_BYTES / 1e6:.0f} MB")
        by_dir: dict[str, dict[str, zipfile.ZipInfo]] = {}
        for info in infos:
            parts = info.filename.replace("\\", "/").split("/")
            if info.filename.startswith("/") or ".." in parts or parts[0].endswith(":"):
                raise InputError(f"{name}: unsafe path {info.filename!r} in the zip")
            if parts[0] == "__MACOSX" or parts[-1].startswith("._"):
                continue           # Finder's resource forks
            if parts[-1] in CAPTURE_FILES:
                by_dir.setdefault("/".join(parts[:-1]), {})[parts[-1]] = info
        roots = [d for d, files in by_dir.items() if "rgb.png" in files]
        if not roots:
            raise InputError(f"{name}: no rgb.png in the zip (zip a capture folder: rgb.png, seg.png, depth, ...)")
        if len(roots) > 1:
            shown = ", ".join(sorted(r or "(top level)" for r in roots)[:5])
            raise InputError(f"{name}: {len(roots)} capture folders in one zip ({shown}); upload one at a time")
        folder.mkdir(parents=True, exist_ok=True)
        for fname, info in by_dir[roots[0]].items():
            try:
                with zf.open(info) as src, open(folder / fname, "wb") as dst:
                    # reads at most the stated size: a member longer than its header says fails its CRC
                    shutil.copyfileobj(src, dst)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise InputError(f"{name}: {info.filename} is damaged in the zip "
                                 f"({type(exc).__name__}: {exc}); zip the capture folder again") from None
            except RuntimeError as exc:       # zipfile: "File ... is encrypted, password required"
                raise InputError(f"{name}: {info.filename} cannot be unpacked ({exc})") from None
    return folder


def user_message(exc: Exception, capture_dir: Path | None) -> str:
    """An error message with the page's temporary folder left out of file names."""
    msg = str(exc)
    if capture_dir is not None:
        for prefix in (str(Path(capture_dir).resolve()), str(capture_dir)):
            msg = msg.replace(prefix + "/", "").replace(prefix, "capture folder")
    return msg
