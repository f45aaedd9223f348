"""One reconstruction request of the web page, and what stays warm between requests.

The page is a thin skin over this module: :func:`run_job` takes a capture folder and a
:class:`JobRequest` (a registered method and its settings as the form gave them),
builds the method's settings with :func:`scenewright.settings.build_settings`, runs it
through :func:`scenewright.run.run_to_folder` and writes everything the page shows into
a job folder (the scene folder and every download: zip, GLB, USDZ, USD zip, .blend). The asset
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
from typing import Any

import numpy as np

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
    models: str | None = None                 # perception models folder (None: $SCENEWRIGHT_MODELS, else the cache)
    device: str = "cpu"                       # where the perception models run

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class JobRequest:
    """The method and its settings as chosen on the page.

    ``values``: settings fields from the form (dotted key → value); ``overrides``:
    ``KEY=VALUE`` lines, as ``--set`` takes them. ``seed`` None: the method's default.
    ``settle``: drop the scene under gravity in MuJoCo before it is written, as
    ``scenewright reconstruct --settle`` does.
    """

    method: str = DEFAULT_METHOD
    seed: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    settle: bool = False

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
    files: dict = field(default_factory=dict)     # every download: {"zip", "glb", "usdz", "usd", "blend"} → path

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


class JobCancelled(Exception):
    """A job stopped at its next step because nobody waits for it any more (the browser left)."""


# Share of the overall bar each stage takes (roughly where a layout job's time goes).
STAGE_WEIGHTS = {"check": 0.03, "perceive": 0.3, "load": 0.05, "reconstruct": 0.5, "exports": 0.12}


class JobProgress:
    """What one job has done, told to the page: its stages, the current one's inner steps, a cancel flag.

    The job calls :meth:`stage` when a stage starts and :meth:`step` for the steps inside it
    (every bar a method draws reports here through :func:`scenewright.progress.watch_progress`);
    both raise :class:`JobCancelled` once :meth:`cancel` was called, so a job nobody waits
    for stops at its next step. Thread-safe: the job runs in one thread, the page reads
    :meth:`snapshot` from another.
    """

    def __init__(self, stages: dict[str, str] | None = None) -> None:
        # stage key → what the page says; a stage may be added later (perception when needed)
        self.stages: dict[str, str] = dict(stages or {})
        self.done_s: dict[str, float] = {}
        self.current: str | None = None
        self.detail = ""
        self.completed: float = 0.0
        self.total: float | None = None
        # the current stage's earlier steps, as the page lists them (a step may pass between
        # two of the page's updates: a few objects' retrieval + pose takes a fraction of a second)
        self.steps_done: list[str] = []
        self.finished = False
        self.cancelled = threading.Event()
        self.reason = ""
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._stage_t0 = self._t0
        self._stage_share = 0.0

    def check(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled(self.reason or "cancelled")

    def cancel(self, reason: str) -> None:
        """Stop at the next step; the first reason given is the one told."""
        with self._lock:
            if not self.cancelled.is_set():
                self.reason = reason
                self.cancelled.set()

    def stage(self, key: str, text: str | None = None) -> None:
        """Start stage ``key`` (the previous one is done)."""
        self.check()
        with self._lock:
            now = time.perf_counter()
            if self.current is not None:
                self.done_s[self.current] = now - self._stage_t0
            if text is not None or key not in self.stages:
                self.stages[key] = text or key
            self.current, self.detail, self.completed, self.total = key, "", 0.0, None
            self.steps_done = []
            self._stage_share = 0.0
            self._stage_t0 = now
        log.info("job stage: %s", self.stages[key])

    def step(self, description: str, completed: float, total: float | None) -> None:
        """An inner step of the current stage (a method's bar: ``retrieval + pose``, 3 of 6)."""
        self.check()
        with self._lock:
            if self.detail and str(description) != self.detail:
                count = f"{self.completed:g} / {self.total:g}" if self.total else f"{self.completed:g}"
                self.steps_done.append(f"{self.detail}: {count}")
            self.detail, self.completed, self.total = str(description), float(completed), total
            if total:         # a stage's share only grows: its next bar (a new phase) starts from 0
                self._stage_share = max(self._stage_share, min(1.0, float(completed) / float(total)))

    def finish(self) -> None:
        with self._lock:
            if self.current is not None:
                self.done_s[self.current] = time.perf_counter() - self._stage_t0
            self.current, self.finished = None, True

    def fraction(self) -> float:
        """Overall share done in [0, 1]: finished stages by their weight, the current one by its steps."""
        with self._lock:
            weights = {k: STAGE_WEIGHTS.get(k.split(":")[0], 0.05) for k in self.stages}
            total = sum(weights.values()) or 1.0
            done = sum(weights[k] for k in self.done_s if k in weights and k != self.current)
            if self.current in weights:
                done += weights[self.current] * self._stage_share
            return 1.0 if self.finished else min(1.0, done / total)

    def snapshot(self) -> dict:
        """What the page draws: each stage with its state (done / running / waiting) and seconds."""
        fraction = self.fraction()
        with self._lock:
            now = time.perf_counter()
            stages = []
            for key, text in self.stages.items():
                if key in self.done_s and key != self.current:
                    stages.append({"key": key, "text": text, "state": "done", "seconds": self.done_s[key]})
                elif key == self.current:
                    stages.append({"key": key, "text": text, "state": "running",
                                   "seconds": now - self._stage_t0, "detail": self.detail,
                                   "steps_done": list(self.steps_done),
                                   "completed": self.completed, "total": self.total})
                else:
                    stages.append({"key": key, "text": text, "state": "waiting", "seconds": None})
            return {"fraction": fraction, "stages": stages, "elapsed": now - self._t0,
                    "finished": self.finished, "cancelled": self.cancelled.is_set()}


_PERCEPTION: dict[tuple, Any] = {}


def perception_models(settings: AppSettings):
    """The process-wide :class:`~scenewright.perception.from_image.PerceptionModels` (loaded on first use)."""
    from scenewright.models.folder import models_dir
    from scenewright.perception.from_image import ImagePerceptionSettings, PerceptionModels
    key = (str(models_dir(settings.models)), settings.device)
    with _RESOURCES_LOCK:
        if key not in _PERCEPTION:
            _PERCEPTION[key] = PerceptionModels(settings.models, settings.device,
                                                ImagePerceptionSettings(device=settings.device))
        return _PERCEPTION[key]


def perception_status(settings: AppSettings) -> dict[str, bool]:
    """Which perception models the models folder holds: ``{"depth": True, "detector": False, ...}``."""
    models = perception_models(settings)
    return {name: models.has(name) for name in ("depth", "detector", "segmenter")}


@dataclass
class Perceived:
    """A capture perceived from a photo, written as a folder (``perception.png`` to look at)."""

    folder: Path
    capture: object                           # scenewright.capture.Capture
    record: object                            # PerceptionRecord
    overlay: Path
    key: str                                  # what was perceived (files and labels): reused only for the same

    def summary(self) -> str:
        given = ", ".join(f"{k} {v.get('source')}" for k, v in self.record.inputs.items())
        labels = sorted({self.capture.labels.get(i) or "?" for i in self.capture.instance_ids})
        return (f"{len(self.capture.instance_ids)} objects found ({', '.join(labels)}); {given}; "
                f"{self.record.timings_s.get('total', 0.0):.1f} s")


def perceive_key(photo, seg, labels_text: str | None) -> str:
    """Identifies a perception request: the uploaded files (path, size, mtime) and the labels text."""
    parts = []
    for f in (photo, seg):
        if f:
            st = Path(f).stat()
            parts.append(f"{Path(f).resolve()}:{st.st_size}:{st.st_mtime_ns}")
        else:
            parts.append("-")
    parts.append(" ".join((labels_text or "").split()))
    return "|".join(parts)


def perceive_upload(photo, seg, labels_text: str | None, folder, settings: AppSettings,
                    progress: JobProgress | None = None) -> Perceived:
    """An uploaded photo (and optional seg png, labels) → a perceived capture folder in ``folder``.

    Masks, labels, depth and camera are estimated as ``scenewright perceive`` does; the
    folder holds the capture files, ``perception.json`` and ``perception.png`` (masks,
    labels, depth). InputError for a missing or unreadable photo, a seg of another size,
    a missing model (with the command that fetches it), or nothing found.
    """
    from scenewright.perception.cli import write_perceived
    from scenewright.perception.from_image import perceive_image
    from scenewright.perception.image_input import load_image, load_seg, parse_labels
    if not photo:
        raise InputError("photo: no image given (upload a photo of the room)")
    progress = progress or JobProgress()
    progress.stage("perceive", "Perceiving: masks, labels, depth, camera")
    photo = Path(photo)
    if photo.stat().st_size == 0:
        raise InputError(f"photo ({photo.name}): the file is empty")
    image = load_image(photo)
    w, h = image.rgb.shape[1], image.rgb.shape[0]
    seg_ids = None
    if seg:
        if Path(seg).suffix.lower() != ".png":
            raise InputError(f"segmentation ({Path(seg).name}): must be a PNG (lossless ids or colours), "
                             f"not {Path(seg).suffix or 'a file without extension'}")
        seg_ids = load_seg(seg, (w, h))
    models = perception_models(settings)
    resources = resources_for(settings)
    with resources.lock:        # the models are shared: one perception at a time
        capture, record = perceive_image(image, parse_labels(labels_text), models, models.settings, seg=seg_ids)
    if len(capture.instance_ids) > settings.max_instances:
        raise InputError(f"{photo.name}: {len(capture.instance_ids)} objects found, more than this server's "
                         f"{settings.max_instances} per request; name fewer labels")
    progress.check()
    folder = Path(folder)
    write_perceived(capture, record, folder, overwrite=True)
    from scenewright.capture import load_capture as _load
    capture = _load(folder, require_seg=True)          # as it will be reconstructed (paths in the folder)
    return Perceived(folder=folder, capture=capture, record=record, overlay=folder / "perception.png",
                     key=perceive_key(photo, seg, labels_text))


def read_perceived(folder) -> tuple:
    """(Capture, PerceptionRecord) of a folder :func:`perceive_upload` wrote."""
    from scenewright.fileio import read_json
    from scenewright.perception.from_image import PerceptionRecord
    folder = Path(folder)
    capture = load_capture(folder, require_seg=True)
    record = PerceptionRecord(**read_json(folder / "perception.json"))
    return capture, record


# -- downloads ------------------------------------------------------------------------------
#: (format key, what the page calls it): each is a file in the job folder, named <name>.<ext>
DOWNLOADS = (("zip", "scene folder (.zip)"), ("glb", "glTF binary (.glb)"), ("usdz", "USDZ (.usdz)"),
             ("usd", "USD + textures (.zip)"), ("blend", "Blender (.blend)"))

_BLEND_WORKER = None
_BLEND_LOCK = threading.Lock()


def _export_in_blender_process(scene_dir: Path, out: Path) -> Path:
    """.blend through the one Blender worker process (see :mod:`scenewright.app.blend_worker`)."""
    global _BLEND_WORKER
    from scenewright.app.blend_worker import BlendWorker
    with _BLEND_LOCK:
        if _BLEND_WORKER is None:
            _BLEND_WORKER = BlendWorker()
            atexit.register(_BLEND_WORKER.close)
    return _BLEND_WORKER.export(scene_dir, out)


def write_downloads(scene_dir: Path, job_dir: Path, name: str, progress: JobProgress, scene=None) -> tuple:
    """Every export format of ``scene_dir`` into ``job_dir``: ({format: path}, notes).

    A format that fails (bpy or usd-core missing, a writer's error) is a note: the others,
    and the scene, are still offered. ``scene``: the scene read from ``scene_dir`` (not read
    again); when it has a room, the GLB download leaves the room out (``scene.glb`` keeps it).
    """
    from scenewright.export import export_scene
    files: dict[str, Path] = {}
    notes: list[str] = []
    for n, (fmt, what) in enumerate(DOWNLOADS):
        progress.step(f"export {what}", n, len(DOWNLOADS))
        try:
            if fmt == "zip":
                files[fmt] = _zip_folder(scene_dir, job_dir / f"{name}.zip", name)
            elif fmt == "glb":
                files[fmt] = job_dir / f"{name}.glb"
                if scene is not None and scene.room:   # scene.glb holds the room; this GLB leaves it out
                    files[fmt].write_bytes(scene_glb(scene, ExportSettings(room=False, double_sided=False)))
                else:
                    shutil.copyfile(scene_dir / "scene.glb", files[fmt])
            elif fmt == "usdz":
                files[fmt] = export_scene(scene_dir, job_dir / f"{name}.usdz", overwrite=True, scene=scene)
            elif fmt == "usd":
                usd_dir = job_dir / f"{name}_usd"
                export_scene(scene_dir, usd_dir / f"{name}.usdc", overwrite=True, scene=scene)
                files[fmt] = _zip_folder(usd_dir, job_dir / f"{name}_usd.zip", f"{name}_usd")
                shutil.rmtree(usd_dir, ignore_errors=True)
            elif fmt == "blend":
                files[fmt] = _export_in_blender_process(scene_dir, job_dir / f"{name}.blend")
        except JobCancelled:
            raise
        except Exception as exc:       # one format missing is a note, never a lost job
            log.warning("export %s failed: %s", fmt, exc)
            files.pop(fmt, None)
            notes.append(f"{what} not offered: {type(exc).__name__}: {exc}")
    progress.step("exports written", len(DOWNLOADS), len(DOWNLOADS))
    return files, notes


def run_job(capture_dir, job_dir, request: JobRequest, settings: AppSettings | None = None,
            progress: JobProgress | None = None, name: str = "scene", perceived: Perceived | None = None) -> JobResult:
    """Validate ``capture_dir``, reconstruct, write the scene folder and downloads into ``job_dir``.

    ``progress`` is told each stage and each step inside it (:class:`JobProgress`; its
    ``cancel`` stops the job at the next step with :class:`JobCancelled`, nothing written).
    ``perceived``: a capture :func:`perceive_upload` made (not perceived again; scene.json
    records the perception). A capture folder lacking the seg or depth the method wants
    is perceived first, as ``scenewright reconstruct`` does. InputError for bad input
    (the capture, the request, its settings, a missing library, weights or model).
    ``name`` names the downloads.
    """
    from scenewright.app.inputs import user_message
    from scenewright.progress import watch_progress
    settings = settings or AppSettings()
    progress = progress or JobProgress()
    request.validate()
    method_settings = request.settings()
    cls = get_method(request.method)
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    notes: list[str] = []
    for key, text in (("check", "Checking the input"), ("load", f"Loading {request.method}"),
                      ("reconstruct", f"{cls.stage} ({request.method}), "
                                      f"{'settle, ' if request.settle else ''}preview, scene folder"),
                      ("exports", "Downloads: zip, GLB, USDZ, USD, .blend")):
        progress.stages.setdefault(key, text)

    progress.stage("check")
    t = time.perf_counter()
    record = None
    if perceived is not None:
        capture, record, capture_dir = perceived.capture, perceived.record, perceived.folder
        notes.append("perceived from the photo (masks, labels, depth, camera: see perception.png)")
    else:
        rgb_path = Path(capture_dir) / "rgb.png"
        if rgb_path.is_file():      # from the header: a huge picture is refused before it is decoded
            w, h = image_size(rgb_path)
            if w * h > settings.max_pixels:
                raise InputError(f"rgb.png: {w}x{h} is {w * h / 1e6:.3g} megapixels, more than this server's "
                                 f"{settings.max_pixels / 1e6:.3g}; scale the picture, masks and depth down "
                                 "together (or start the app with a larger --max-pixels)")
        folder = Path(capture_dir)
        present = {"seg": (folder / "seg.png").is_file(),
                   "depth": (folder / "depth.npy").is_file() or (folder / "depth.png").is_file()}
        missing = [c for c in cls.perceive_missing if not present.get(c, True)]
        capture = load_capture(capture_dir, require_seg=not missing and "seg" in cls.capture_needs)
        if missing:             # estimated from the picture, as `scenewright reconstruct` does
            from scenewright.perception.from_image import perceive_image
            progress.stages = {"check": progress.stages["check"],
                               "perceive": f"Perceiving the missing {' and '.join(missing)}",
                               **{k: v for k, v in progress.stages.items() if k != "check"}}
            timings["check capture"] = time.perf_counter() - t
            progress.stage("perceive")
            t = time.perf_counter()
            models = perception_models(settings)
            with resources_for(settings).lock:
                capture, record = perceive_image(capture, None, models, models.settings)
            timings["perceive"] = time.perf_counter() - t
            how = ", ".join(f"{k} {v.get('source')}" for k, v in record.inputs.items())
            notes.append(f"{' and '.join(missing)} estimated from the picture ({how})")
            t = time.perf_counter()
    if len(capture.instance_ids) > settings.max_instances:
        raise InputError(f"seg.png: {len(capture.instance_ids)} instances, more than this server's "
                         f"{settings.max_instances} per request (requests run one at a time); merge or drop "
                         "small ones (or start the app with a larger --max-instances)")
    notes.extend(user_message(Exception(w), capture_dir) for w in capture.warnings)
    timings["check capture"] = timings.get("check capture", 0.0) + time.perf_counter() - t

    progress.stage("load")
    t = time.perf_counter()
    resources = resources_for(settings)
    loads = resources.loads()
    method = cls(method_settings, resources)
    method.check_capture(capture)
    notes += method.notes
    timings["load method" + (" (cached)" if resources.loads() == loads else "")] = time.perf_counter() - t

    progress.stage("reconstruct")
    t = time.perf_counter()
    scene_dir = job_dir / "scene"
    try:
        with watch_progress(progress.step):
            scene = run_to_folder(capture, scene_dir, method, overwrite=True, preview=True, perception=record,
                                  settle=request.settle or None)
    finally:
        method.close()
    timings["reconstruct, preview, write"] = time.perf_counter() - t
    notes += scene.extra.get("notes", [])
    if scene.extra.get("physics", {}).get("settled"):
        from scenewright.physics.cli import settle_summary
        notes += settle_summary(scene.extra["physics"]).splitlines()
    if capture.camera_is_default:
        notes.append(f"no camera.json: assumed a {capture.hfov_deg():.1f}° horizontal field of view")

    progress.stage("exports")
    t = time.perf_counter()
    # Downloads carry the capture's name (five "scene.glb" in a downloads folder help nobody).
    files, export_notes = write_downloads(scene_dir, job_dir, name, progress, scene=scene)
    notes += export_notes
    glb_room = None
    if scene.room:     # scene.glb holds the room, textured from the photo
        glb_room = job_dir / f"{name}_with_room.glb"
        shutil.copyfile(scene_dir / "scene.glb", glb_room)
    timings["downloads"] = time.perf_counter() - t
    progress.finish()
    preview = scene_dir / "preview.png"
    glb = files.get("glb") or job_dir / f"{name}.glb"
    if "glb" not in files:
        shutil.copyfile(scene_dir / "scene.glb", glb)
    return JobResult(scene=scene, capture=capture, job_dir=job_dir, scene_dir=scene_dir,
                     glb=glb, glb_room=glb_room, zip=files["zip"], preview=preview if preview.is_file() else None,
                     page_timings_s=timings, notes=notes, files=files)


def run_text_job(prompt: str, job_dir, settings: AppSettings | None = None, seed: int = 0,
                 progress: JobProgress | None = None, name: str = "room") -> JobResult:
    """A sentence → a furnished room (``scenewright generate``, the offline path) in ``job_dir``,
    with every download. InputError for an empty prompt, a missing library or a prompt the
    library cannot furnish."""
    from scenewright.progress import watch_progress
    from scenewright.text.generate import generate_to_folder
    settings = settings or AppSettings()
    progress = progress or JobProgress()
    if not (prompt or "").strip():
        raise InputError("prompt: empty (describe the room, e.g. 'a bedroom with a double bed and two nightstands')")
    if not settings.library or not Path(settings.library).is_dir():
        raise InputError(f"{settings.library}: library folder not found (text needs an asset library: --library)")
    if not 0 <= int(seed) < 2 ** 32:
        raise InputError(f"seed: {seed} must be in [0, 2^32)")
    for key, text in (("generate", "Generating the room from the text"),
                      ("exports", "Downloads: zip, GLB, USDZ, USD, .blend")):
        progress.stages.setdefault(key, text)
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    progress.stage("generate")
    t = time.perf_counter()
    scene_dir = job_dir / "scene"
    with watch_progress(progress.step):
        summary = generate_to_folder(prompt.strip(), scene_dir, settings.library, seed=int(seed), overwrite=True,
                                     models=settings.models,
                                     progress=lambda done, total: progress.step("rooms written", done, total))
    timings = {"generate": time.perf_counter() - t}
    from scenewright.scene import read_scene
    scene = read_scene(scene_dir)
    req = summary["request"]
    notes = [f"room: {req['room_type'] or 'unspecified'} {req['room_size'][0]:g} × {req['room_size'][1]:g} m"]
    notes += [f"'{u['phrase']}' matches nothing in the library (closest: {u['via']}); left out"
              for u in req.get("unmatched", [])]
    notes += list(req.get("notes", []))
    progress.stage("exports")
    t = time.perf_counter()
    files, export_notes = write_downloads(scene_dir, job_dir, name, progress, scene=scene)
    notes += export_notes
    timings["downloads"] = time.perf_counter() - t
    progress.finish()
    preview = scene_dir / "preview.png"
    return JobResult(scene=scene, capture=None, job_dir=job_dir, scene_dir=scene_dir, glb=files.get("glb"),
                     glb_room=None, zip=files.get("zip"), preview=preview if preview.is_file() else None,
                     page_timings_s=timings, notes=notes, files=files)


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
    """One row per instance of the capture (in id order); one the method could not place says so.

    ``capture`` None (a scene made from text): one row per instance of the scene.
    """
    by_id = {inst.id: inst for inst in scene.instances}
    if capture is None:
        from scenewright.capture import Capture
        capture = Capture(rgb=np.zeros((1, 1, 3), np.uint8), K=np.eye(3))
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
