"""One reconstruction request of the web page, and what stays warm between requests.

The page is a thin skin over this module: :func:`run_job` takes a capture folder and a
:class:`JobRequest`, runs the chosen method, and writes everything the page shows into a
job folder (the scene folder, a zip of it, a GLB with the room surfaces). The asset
library (with its retrieval index), the offscreen renderer and the MIDI weights are
kept in a process-wide :class:`WarmCache`, so only the first request pays for loading.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable


from scenewright.errors import InputError
from scenewright.fileio import give_umask_mode

log = logging.getLogger("scenewright.app")

METHODS = ("layout", "boxes", "midi")
REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class AppSettings:
    """How the page is served; ``scenewright app`` options map one to one."""

    library: str | None = "data/library"     # layout's asset library (missing: layout is off)
    host: str = "127.0.0.1"
    port: int = 7860
    weights_midi: str | None = None           # MIDI checkpoint folder (None: midi is off)
    examples: tuple[str, ...] = (str(REPO_EXAMPLES),)   # folders searched for capture folders
    work_dir: str | None = None               # job folders (None: a fresh temporary folder)
    keep_jobs: int = 20                       # older job folders are deleted
    warmup: str = "quick"                     # at start: off | quick (library, index, renderer) |
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
    """The method and its settings as chosen on the page."""

    method: str = "layout"
    seed: int | None = None                   # None: the method's default (layout 0, midi 42)
    render_refine: bool = True                # layout: render-and-compare refinement
    midi_steps: int = 50
    midi_guidance: float = 7.0
    midi_octree_depth: int = 8

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method: {self.method!r} is not one of {', '.join(METHODS)}")
        if self.seed is not None and not (0 <= int(self.seed) < 2 ** 32):
            raise InputError(f"seed: {self.seed} must be in [0, 2^32)")


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


class WarmCache:
    """Process-wide cache of what is slow to load: libraries, renderers, MIDI pipelines.

    One lock serialises loading and use (the page runs one job at a time anyway). A
    library is reloaded when its ``library.json`` changes (a rebuild while serving).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._libraries: dict[str, tuple[float, object]] = {}
        self._renderers: dict[tuple[int, int], object] = {}
        self._midi: dict[tuple[str, str, str], object] = {}

    def library(self, path) -> tuple[object, bool]:
        """(Library, was_cached). InputError if ``path`` is not a library."""
        from scenewright.library import Library
        key = str(Path(path).resolve())
        stamp_file = Path(key) / "library.json"
        stamp = stamp_file.stat().st_mtime if stamp_file.is_file() else -1.0
        with self.lock:
            hit = self._libraries.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1], True
            lib = Library.open(path)
            self._libraries[key] = (stamp, lib)
            return lib, False

    def renderer(self, width: int, height: int):
        from scenewright.render import Renderer
        with self.lock:
            r = self._renderers.get((width, height))
            if r is None:
                r = self._renderers[(width, height)] = Renderer(width, height)
            return r

    def midi(self, weights, device: str = "cpu", dtype: str = "float32") -> tuple[object, bool]:
        from scenewright.methods.midi.pipeline import MIDIPipeline
        key = (str(Path(weights).resolve()), device, dtype)
        with self.lock:
            pipe = self._midi.get(key)
            if pipe is not None:
                return pipe, True
            pipe = self._midi[key] = MIDIPipeline.from_pretrained(weights, device, dtype)
            return pipe, False

    def warm_layout(self, library_path, seed: int = 0, full: bool = False) -> float:
        """Open the library, build its retrieval index and the pose renderer; seconds taken.

        ``full``: also compute every asset's surface-sample tree, view descriptors (the
        default extractor) and shape symmetry, which the index otherwise fills in on first
        use (~50 ms per asset on one core; 481 assets ≈ 36 s). That part runs outside the
        lock, so a request arriving meanwhile is not held up (filling the same entry twice
        is harmless: both threads compute the same value).
        """
        from scenewright.methods.layout.features import make_extractor
        from scenewright.methods.layout.pipeline import LayoutSettings
        from scenewright.methods.layout.retrieval import library_index
        t = time.perf_counter()
        s = LayoutSettings(seed=seed)
        with self.lock:
            lib, _ = self.library(library_path)
            index = library_index(lib, s.retrieval.n_points, s.seed)
            try:
                self.renderer(s.pose.render_size, s.pose.render_size)
            except Exception as exc:       # no EGL: layout runs without render refinement
                log.warning("renderer not available: %s", exc)
        if full:
            extractor = make_extractor(s.features, s.dinov2_weights)
            for asset_id in list(index.ids):
                index.geometry(asset_id)
                index.view_features(asset_id, extractor)
                index.symmetry(asset_id)
        return time.perf_counter() - t


CACHE = WarmCache()


def library_status(path) -> tuple[bool, str]:
    """(usable, message) for the layout method's library at ``path``."""
    if not path:
        return False, "no asset library given (start with `--library DIR`)"
    p = Path(path)
    if not (p / "library.json").is_file():
        return False, (f"no asset library at `{p}` (build one with `scenewright library build`, "
                       f"or start with `--library DIR`)")
    try:
        lib, _ = CACHE.library(p)
    except InputError as exc:
        return False, f"the asset library at `{p}` cannot be opened: {exc}"
    return True, f"asset library `{p}`: {len(lib.ids)} assets"


def _reconstruct(capture, request: JobRequest, settings: AppSettings, cache: WarmCache,
                 timings: dict, notes: list[str]):
    """Run the requested method on a loaded capture → Scene."""
    if request.method == "layout":
        from scenewright.methods.layout.pipeline import LayoutSettings, reconstruct
        if not settings.library:
            raise InputError("layout: no asset library (start the app with --library DIR, or use boxes)")
        t = time.perf_counter()
        library, cached = cache.library(settings.library)
        s = LayoutSettings(seed=0 if request.seed is None else int(request.seed),
                           render_refine=bool(request.render_refine))
        renderer = None
        if s.render_refine:
            try:
                renderer = cache.renderer(s.pose.render_size, s.pose.render_size)
            except Exception as exc:
                notes.append(f"render refinement off: no renderer ({type(exc).__name__}: {exc})")
        timings["load library" + ("" if not cached else " (cached)")] = time.perf_counter() - t
        t = time.perf_counter()
        with cache.lock:
            scene = reconstruct(capture, library, s, renderer=renderer, progress=False)
        timings["reconstruct"] = time.perf_counter() - t
        return scene
    if request.method == "boxes":
        from scenewright.methods.boxes import BoxesSettings, reconstruct_boxes
        t = time.perf_counter()
        scene = reconstruct_boxes(capture, BoxesSettings(seed=0 if request.seed is None else int(request.seed)))
        timings["reconstruct"] = time.perf_counter() - t
        return scene
    # midi
    from scenewright.methods.midi.pipeline import MIDISettings, build_scene
    if not settings.weights_midi:
        raise InputError("midi: no weights (start the app with --weights-midi DIR)")
    s = MIDISettings(steps=int(request.midi_steps), guidance=float(request.midi_guidance),
                     seed=42 if request.seed is None else int(request.seed),
                     octree_depth=int(request.midi_octree_depth))
    s.validate()
    if len(capture.instance_ids) > s.max_instances:
        raise InputError(f"seg.png: {len(capture.instance_ids)} instances, more than MIDI's "
                         f"{s.max_instances} (it denoises all instances jointly)")
    t = time.perf_counter()
    pipe, cached = cache.midi(settings.weights_midi, s.device, s.dtype)
    timings["load weights" + ("" if not cached else " (cached)")] = time.perf_counter() - t
    t = time.perf_counter()
    with cache.lock:
        result = pipe(capture, steps=s.steps, guidance=s.guidance, seed=s.seed, octree_depth=s.octree_depth,
                      extraction=s.extraction, smooth=s.smooth, progressive=s.progressive,
                      pad_image=s.pad_image, max_instances=s.max_instances, mi_blocks=s.mi_blocks,
                      show_progress=False)
    scene = build_scene(capture, result, s, dict(result.timings_s), [])
    timings["reconstruct"] = time.perf_counter() - t
    return scene


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
            cache: WarmCache | None = None, progress: Callable[[float, str], None] | None = None,
            name: str = "scene") -> JobResult:
    """Validate ``capture_dir``, reconstruct, write the scene folder and downloads into ``job_dir``.

    ``progress(fraction, text)`` is told when each stage starts. InputError for bad input
    (the capture, the request, a missing library or weights). ``name`` names the zip.
    """
    from scenewright.app.inputs import user_message
    from scenewright.capture import image_size, load_capture
    from scenewright.scene import write_scene
    settings = settings or AppSettings()
    cache = cache or CACHE
    progress = progress or (lambda f, t: None)
    request.validate()
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
    if request.method in ("layout", "boxes") and capture.depth is None:
        raise InputError(f"{request.method}: needs depth (depth.npy in metres or a 16-bit depth.png in "
                         "millimetres); midi works without")
    timings["check capture"] = time.perf_counter() - t

    progress(0.1, {"layout": "Retrieving and posing library assets (layout)",
                   "boxes": "Fitting boxes (baseline)", "midi": "Denoising all objects at once (MIDI)"}[request.method])
    scene = _reconstruct(capture, request, settings, cache, timings, notes)
    if capture.camera_is_default:
        notes.append(f"no camera.json: assumed a {capture.hfov_deg():.1f}° horizontal field of view")

    progress(0.8, "Rendering the preview")
    t = time.perf_counter()
    preview = None
    try:
        from scenewright.render import render_scene
        with cache.lock:
            preview = render_scene(scene, over=capture, notes=notes)
    except Exception as exc:   # a preview is a convenience: never lose the scene over it
        notes.append(f"no preview: {type(exc).__name__}: {exc}")
    timings["preview"] = time.perf_counter() - t

    progress(0.9, "Writing the scene")
    t = time.perf_counter()
    scene_dir = job_dir / "scene"
    write_scene(scene, scene_dir, preview=preview, overwrite=True, inputs=[capture_dir])
    # Downloads carry the capture's name (five "scene.glb" in a downloads folder help nobody).
    glb = job_dir / f"{name}.glb"
    shutil.copyfile(scene_dir / "scene.glb", glb)
    glb_room = None
    from scenewright.app.room import room_surfaces
    surfaces = room_surfaces(scene)
    if surfaces:
        scene.room = surfaces
        glb_room = job_dir / f"{name}_with_room.glb"
        glb_room.write_bytes(scene.to_trimesh_scene().export(file_type="glb"))
        scene.room = {}
    timings["write"] = time.perf_counter() - t
    t = time.perf_counter()
    zip_path = _zip_folder(scene_dir, job_dir / f"{name}.zip", name)
    timings["zip"] = time.perf_counter() - t
    progress(1.0, "Done")
    return JobResult(scene=scene, capture=capture, job_dir=job_dir, scene_dir=scene_dir,
                     glb=glb, glb_room=glb_room, zip=zip_path,
                     preview=scene_dir / "preview.png" if preview is not None else None,
                     page_timings_s=timings, notes=notes)


class JobFolders:
    """Numbered job folders under one root; only the newest ``keep`` are kept."""

    def __init__(self, root=None, keep: int = 20) -> None:
        if root is None:
            root = tempfile.mkdtemp(prefix="scenewright-app-")
            # Our own temporary folder goes when the process ends (a given one is the user's).
            import atexit
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
