"""One reconstruction request of the web page, and what stays warm between requests.

The page is a thin skin over this module: :func:`run_job` takes a capture folder and a
:class:`JobRequest` (a registered method and its settings as the form gave them),
builds the method's settings with :func:`scenewright.settings.build_settings`, runs it
through :func:`scenewright.run.run_to_folder` and writes everything the page shows into
a job folder (the scene folder, a zip of it, a GLB with the room surfaces). The asset
library (with its retrieval index), the offscreen renderers and model pipelines are
kept in one process-wide :class:`~scenewright.methods.base.Resources` per library and
weights (:func:`resources_for`), so only the first request pays for loading.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from scenewright.capture import image_size, load_capture
from scenewright.config import shipped_examples
from scenewright.errors import InputError
from scenewright.export.common import ExportSettings
from scenewright.export.glb import scene_glb
from scenewright.fileio import give_umask_mode
from scenewright.methods.base import Resources
from scenewright.methods.registry import DEFAULT_METHOD, get_method, method_names
from scenewright.run import run_to_folder
from scenewright.settings import build_settings

log = logging.getLogger("scenewright.app")

REPO_EXAMPLES = shipped_examples()         # the checkout's examples/, or the wheel's copy


def _configured_library() -> str:
    from scenewright.config import get
    return get("library")


@dataclass
class AppSettings:
    """How the page is served; ``scenewright app`` options map one to one."""

    # asset library (missing: methods that need one are off); default: the configured one
    library: str | None = field(default_factory=_configured_library)
    host: str = "127.0.0.1"
    port: int = 7860
    weights: str | None = None                # checkpoint folder (None: methods that need one are off)
    examples: tuple[str, ...] = (str(REPO_EXAMPLES),)   # folders searched for capture folders
    work_dir: str | None = None               # job folders (None: a fresh temporary folder)
    keep_jobs: int = 20                       # older job folders are deleted
    warmup: str = "quick"                     # at start: off | quick (library, index, renderer, weights) |
                                              # full (also every asset's view features and symmetry)
    max_file_size: str = "200mb"              # per uploaded file
    max_pixels: int = 4_000_000               # larger pictures are refused (minutes of CPU, GBs of RAM)
    # More instances are refused: requests run one at a time, so one job's length is everyone's
    # wait. Layout costs roughly 0.5-1 s per object on a 2-core machine (retrieval and pose
    # per object), so 64 objects stay around a minute; a real room photo rarely shows more.
    max_instances: int = 64

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class JobRequest:
    """The method and its settings as chosen on the page.

    ``values``: settings fields from the form (dotted key → value); ``overrides``:
    ``KEY=VALUE`` lines, as ``--set`` takes them. ``seed`` None: the method's default.
    """

    method: str = DEFAULT_METHOD
    seed: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    def validate(self) -> None:
        if self.method not in method_names():
            raise InputError(f"method: {self.method!r} is not one of {', '.join(method_names())}")
        if self.seed is not None and not (0 <= int(self.seed) < 2 ** 32):
            raise InputError(f"seed: {self.seed} must be in [0, 2^32)")

    def settings(self):
        """The method's settings dataclass, built as the command line builds it."""
        from scenewright.config import device_overrides
        cls = get_method(self.method)
        # the configured device (scenewright config), unless the form chose one
        overrides = self.overrides if "device" in self.values else device_overrides(cls.Settings, None, self.overrides)
        return build_settings(cls.Settings, seed=self.seed, values=self.values, overrides=overrides)


@dataclass
class JobResult:
    """Everything one request produced (paths inside the job folder)."""

    scene: object                             # scenewright.scene.Scene
    capture: object                           # scenewright.capture.Capture
    job_dir: Path
    scene_dir: Path
    glb: Path
    glb_room: Path | None
    zip: Path
    preview: Path | None
    page_timings_s: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return float(sum(self.page_timings_s.values()))


_RESOURCES: dict[tuple, Resources] = {}
_RESOURCES_LOCK = threading.Lock()


def resources_for(settings: AppSettings) -> Resources:
    """The process-wide Resources of this library and these weights (made on first use)."""
    key = (settings.library and str(Path(settings.library).resolve()),
           settings.weights and str(Path(settings.weights).resolve()))
    with _RESOURCES_LOCK:
        if key not in _RESOURCES:
            _RESOURCES[key] = Resources(library=settings.library or None, weights=settings.weights or None)
        return _RESOURCES[key]


def method_status(name: str, resources: Resources) -> tuple[bool, str]:
    """(usable, message) for the method ``name`` with these resources (a library is opened)."""
    cls = get_method(name)
    try:
        resources.check(cls.needs, name, cls.how_to_get)
        if "library" in cls.needs:
            lib = resources.library()
            return True, f"asset library `{resources.library_path}`: {len(lib.ids)} assets"
    except InputError as exc:
        return False, str(exc)
    return True, ""


def warm(settings: AppSettings, full: bool = False) -> float:
    """Build every available method that needs resources once (they stay warm); seconds taken.

    ``full``: also let each load what it otherwise loads on first use (for layout, every
    asset's view features and symmetry: ~50 ms per asset on one core).
    """
    t = time.perf_counter()
    resources = resources_for(settings)
    for name in method_names():
        cls = get_method(name)
        if cls.needs and method_status(name, resources)[0]:
            with resources.lock:          # a request arriving meanwhile waits instead of loading twice
                method = cls(cls.Settings(), resources)
            method.warm(full)             # outside the lock: filling caches twice is harmless
            method.close()
    return time.perf_counter() - t


def _zip_folder(folder: Path, target: Path, arc_root: str) -> Path:
    """Zip ``folder``'s files under ``arc_root/`` into ``target`` (written beside, then renamed)."""
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f"{arc_root}/{f.relative_to(folder)}")
    os.replace(tmp, target)
    return target


def run_job(capture_dir, job_dir, request: JobRequest, settings: AppSettings | None = None,
            progress: Callable[[float, str], None] | None = None, name: str = "scene") -> JobResult:
    """Validate ``capture_dir``, reconstruct, write the scene folder and downloads into ``job_dir``.

    ``progress(fraction, text)`` is told when each stage starts. InputError for bad input
    (the capture, the request, its settings, a missing library or weights). ``name``
    names the zip.
    """
    from scenewright.app.inputs import user_message
    settings = settings or AppSettings()
    progress = progress or (lambda f, t: None)
    request.validate()
    method_settings = request.settings()
    cls = get_method(request.method)
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    notes: list[str] = []

    progress(0.02, "Checking the capture")
    t = time.perf_counter()
    rgb_path = Path(capture_dir) / "rgb.png"
    if rgb_path.is_file():      # from the header: a huge picture is refused before it is decoded
        w, h = image_size(rgb_path)
        if w * h > settings.max_pixels:
            raise InputError(f"rgb.png: {w}x{h} is {w * h / 1e6:.3g} megapixels, more than this server's "
                             f"{settings.max_pixels / 1e6:.3g}; scale the picture, masks and depth down "
                             "together (or start the app with a larger --max-pixels)")
    capture = load_capture(capture_dir, require_seg=True)
    if len(capture.instance_ids) > settings.max_instances:
        raise InputError(f"seg.png: {len(capture.instance_ids)} instances, more than this server's "
                         f"{settings.max_instances} per request (requests run one at a time); merge or drop "
                         "small ones (or start the app with a larger --max-instances)")
    notes.extend(user_message(Exception(w), capture_dir) for w in capture.warnings)
    timings["check capture"] = time.perf_counter() - t

    progress(0.05, f"Loading {request.method}")
    t = time.perf_counter()
    resources = resources_for(settings)
    loads = resources.loads()
    method = cls(method_settings, resources)
    method.check_capture(capture)
    notes += method.notes
    timings["load method" + (" (cached)" if resources.loads() == loads else "")] = time.perf_counter() - t

    progress(0.1, f"{cls.stage} ({request.method})")
    t = time.perf_counter()
    scene_dir = job_dir / "scene"
    try:
        scene = run_to_folder(capture, scene_dir, method, overwrite=True, preview=True)
    finally:
        method.close()
    timings["reconstruct, preview, write"] = time.perf_counter() - t
    notes += scene.extra.get("notes", [])
    if capture.camera_is_default:
        notes.append(f"no camera.json: assumed a {capture.hfov_deg():.1f}° horizontal field of view")

    progress(0.9, "Preparing the downloads")
    t = time.perf_counter()
    # Downloads carry the capture's name (five "scene.glb" in a downloads folder help nobody).
    glb = job_dir / f"{name}.glb"
    # scene.glb holds the room (textured from the photo); the plain download leaves it out
    glb.write_bytes(scene_glb(scene, ExportSettings(room=False, double_sided=False)))
    glb_room = None
    if scene.room:
        glb_room = job_dir / f"{name}_with_room.glb"
        shutil.copyfile(scene_dir / "scene.glb", glb_room)
    zip_path = _zip_folder(scene_dir, job_dir / f"{name}.zip", name)
    timings["downloads"] = time.perf_counter() - t
    progress(1.0, "Done")
    preview = scene_dir / "preview.png"
    return JobResult(scene=scene, capture=capture, job_dir=job_dir, scene_dir=scene_dir,
                     glb=glb, glb_room=glb_room, zip=zip_path, preview=preview if preview.is_file() else None,
                     page_timings_s=timings, notes=notes)


class JobFolders:
    """Numbered job folders under one root; only the newest ``keep`` are kept."""

    def __init__(self, root=None, keep: int = 20) -> None:
        if root is None:
            root = tempfile.mkdtemp(prefix="scenewright-app-")
            # Our own temporary folder goes when the process ends (a given one is the user's).
            atexit.register(shutil.rmtree, root, True)
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = max(1, int(keep))
        self._lock = threading.Lock()
        self._n = 0

    def new(self) -> Path:
        with self._lock:
            self._n += 1
            folder = Path(tempfile.mkdtemp(prefix=f"job-{self._n:05d}-", dir=self.root))
            give_umask_mode(folder)      # mkdtemp's 0700 → what the umask gives, like every output
            jobs = sorted((p for p in self.root.iterdir() if p.is_dir() and p.name.startswith("job-")),
                          key=lambda p: p.stat().st_mtime)
            for old in jobs[:-self.keep]:
                shutil.rmtree(old, ignore_errors=True)
            return folder


# -- what the page shows ----------------------------------------------------------------
OBJECT_COLUMNS = ["id", "label", "category", "asset", "size (m)", "score", "note"]
RELATION_COLUMNS = ["relation", "subject", "target"]
TIMING_COLUMNS = ["stage", "seconds"]


def _fmt_size(size) -> str:
    if size is None:
        return ""
    return " × ".join(f"{float(s):.2f}" for s in size)


def object_rows(scene, capture) -> list[list]:
    """One row per instance of the capture (in id order); one the method could not place says so."""
    by_id = {inst.id: inst for inst in scene.instances}
    rows = []
    for iid in sorted(set(capture.instance_ids) | set(by_id)):
        inst = by_id.get(iid)
        if inst is None:
            rows.append([iid, capture.labels.get(iid, ""), "", "", "", "", "not placed"])
            continue
        note = ""
        if inst.mesh is None:
            note = "no mesh" + (f": {inst.extra['status']}" if inst.extra.get("status") else "")
        elif inst.extra.get("flags"):
            note = ", ".join(str(f) for f in inst.extra["flags"])
        rows.append([iid, inst.label or capture.labels.get(iid, "") or "", inst.category or "",
                     inst.asset_id or "", _fmt_size(inst.size),
                     "" if inst.score is None else round(float(inst.score), 3), note])
    return rows


def relation_rows(scene) -> list[list]:
    """Relations in words: ``["on", "3 (lamp)", "2 (table)"]``."""
    def who(i):
        try:
            label = scene.instance(int(i)).label
        except KeyError:
            label = None
        return f"{i} ({label})" if label else str(i)

    rows = []
    for r in scene.relations:
        if r.members:
            rows.append([r.type, ", ".join(who(m) for m in r.members), ""])
        elif r.wall is not None:
            rows.append([r.type, who(r.subject), f"wall {r.wall}"])
        else:
            rows.append([r.type, who(r.subject), "" if r.object is None else who(r.object)])
    return rows


def attribution_markdown(scene) -> str:
    """The licences of the library assets the scene uses (CC-BY requires showing them)."""
    if not scene.attribution:
        return ("No library assets in this scene (its geometry was made by the method itself): "
                "nothing to attribute.")
    lines = ["The scene uses these assets; keep this attribution with anything you publish "
             "from it (it is also in `scene.json` and in the GLB's metadata):", ""]
    for a in scene.attribution:
        who = a.get("creator") or "unknown creator"
        lines.append(f"- **{a.get('name') or a.get('asset_id')}** (`{a.get('asset_id')}`) by {who}, "
                     f"licence {a.get('license') or 'unknown'}, from {a.get('catalog') or 'unknown catalog'}")
    return "\n".join(lines)


def timing_rows(result: JobResult) -> list[list]:
    """The method's own stages, then the page's (loading, preview, writing), then the total."""
    rows = [[f"method: {k}", round(float(v), 3)] for k, v in result.scene.timings_s.items()
            if isinstance(v, (int, float)) and k != "total"]
    rows += [[f"page: {k}", round(float(v), 3)] for k, v in result.page_timings_s.items()]
    rows.append(["total (request)", round(result.total_s, 3)])
    return rows
