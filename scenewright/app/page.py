"""The gradio page: inputs (a photo, an example, files or a zip) → method → 3D view, tables, downloads.

Everything the page does is a call into :mod:`scenewright.app.inputs` (building and
validating the capture folder) and :mod:`scenewright.app.jobs` (running the method);
this module only lays out components and wires events.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import re
import threading
import time
from pathlib import Path

from PIL import Image

from scenewright.app.inputs import (assemble_capture, extract_capture_zip, find_examples, user_message)
from scenewright.app.jobs import (DOWNLOADS, OBJECT_COLUMNS, RELATION_COLUMNS, TIMING_COLUMNS, AppSettings,
                                  JobCancelled, JobFolders, JobProgress, JobRequest, attribution_markdown,
                                  method_status, object_rows, perceive_key, perceive_upload, perception_status,
                                  read_perceived, relation_rows, resources_for, run_job, run_text_job, timing_rows,
                                  warm)
from scenewright.errors import InputError, ScenewrightError
from scenewright.methods.registry import get_method, method_names
from scenewright.settings import field_meanings

log = logging.getLogger("scenewright.app")

SOURCES = ("photo", "example", "files", "zip")
FILE_HEIGHT = 120         # px: compact upload boxes, so the button stays in view
INTRO = """# scenewright
One picture of a room → a 3D scene with one mesh per object.
Upload a photo (press **Perceive** to see the masks, labels and depth first), pick an example or
upload a capture, choose a method, press **Reconstruct**."""
CSS = """
#status.error { border-left: 4px solid #d33; padding-left: 8px; }
#status.ok { border-left: 4px solid #3a3; padding-left: 8px; }
#progress .sw-stages { list-style: none; padding-left: 0; margin: 4px 0; }
#progress .sw-stages li { margin: 2px 0; }
#progress .sw-stages li.running { font-weight: 600; }
#progress .sw-stages li.waiting { opacity: 0.55; }
#progress progress { width: 100%; height: 14px; }
#progress .sw-inner { width: 60%; height: 8px; vertical-align: middle; }
"""
STATE_MARK = {"done": "✓", "running": "▶", "waiting": "○"}


def progress_html(snap: dict | None, title: str = "") -> str:
    """The one progress pane: an overall bar, then each stage (done ✓ / running ▶ / waiting ○) with its
    seconds, and the running stage's own steps: those it finished (✓), then the current one (objects
    placed, denoising steps, exports written)."""
    import html
    if not snap:
        return '<div class="sw-progress" data-state="idle"></div>'
    pct = round(100 * snap["fraction"])
    state = "cancelled" if snap["cancelled"] else "finished" if snap["finished"] else "running"
    head = html.escape(title) + (" — " if title else "")
    head += {"cancelled": "cancelled", "finished": "done"}.get(state, f"{pct} %")
    lines = [f'<div class="sw-progress" data-state="{state}" data-percent="{pct}">',
             f'<div><b>{head}</b> · {snap["elapsed"]:.1f} s</div>',
             f'<progress max="100" value="{pct}"></progress>', '<ul class="sw-stages">']
    for st in snap["stages"]:
        secs = "" if st["seconds"] is None else f" — {st['seconds']:.1f} s"
        inner = "".join(f'<br>&nbsp;&nbsp;&nbsp;✓ {html.escape(done)}' for done in st.get("steps_done", [])
                        if st["state"] == "running")
        if st["state"] == "running" and st.get("detail"):
            done, total = st["completed"], st["total"]
            count = f"{done:g} / {total:g}" if total else f"{done:g}"
            bar = f' <progress class="sw-inner" max="{total:g}" value="{done:g}"></progress>' if total else ""
            inner += f'<br>&nbsp;&nbsp;&nbsp;{html.escape(st["detail"])}: {count}{bar}'
        lines.append(f'<li class="{st["state"]}" data-stage="{html.escape(st["key"])}">{STATE_MARK[st["state"]]} '
                     f'{html.escape(st["text"])}{secs}{inner}</li>')
    lines.append("</ul></div>")
    return "".join(lines)


class RunningJobs:
    """The jobs running for each browser session, so a session that ends cancels its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, set] = {}

    def add(self, session: str | None, job: JobProgress) -> None:
        with self._lock:
            self._jobs.setdefault(session or "", set()).add(job)

    def remove(self, session: str | None, job: JobProgress) -> None:
        with self._lock:
            self._jobs.get(session or "", set()).discard(job)

    def cancel(self, session: str | None, reason: str) -> int:
        with self._lock:
            jobs = list(self._jobs.pop(session or "", set())) if session else []
        for job in jobs:
            job.cancel(reason)
        return len(jobs)


def run_streaming(work, progress: JobProgress, running: RunningJobs, session: str | None, title: str,
                  every_s: float = 0.3, job: str = "job"):
    """Run ``work()`` in a thread; yield ``("progress", html)`` while it runs, then ``("done", result)``
    or ``("error", exception)``. The job is cancelled when the consumer stops listening."""
    box: dict = {}

    def target():
        try:
            box["result"] = work()
        except JobCancelled as exc:           # logged here: the page may no longer be listening
            log.warning("%s cancelled: %s", job, exc)
            box["error"] = exc
        except BaseException as exc:          # handed to the page, which says what it was
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="scenewright-job")
    running.add(session, progress)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(every_s)
            yield "progress", progress_html(progress.snapshot(), title)
    finally:
        if thread.is_alive():                 # the page stopped listening (closed, reloaded)
            progress.cancel("the page stopped listening")
        running.remove(session, progress)
    if "error" in box:
        yield "error", box["error"]
    else:
        yield "done", box["result"]


def _offline_environment() -> None:
    """No analytics, no version check, no hub calls: the page works without a network."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _rgb_thumbnail(path: Path):
    try:
        with Image.open(path) as img:
            return img.convert("RGB").copy()
    except Exception:
        return None


@dataclasses.dataclass
class FormField:
    """One settings field a method shows on the page (``Method.form``)."""

    method: str
    key: str
    default: object
    meaning: str

    @property
    def param(self) -> str:
        """Its name in the page's API: ``layout__render_refine``."""
        return f"{self.method}__{self.key.replace('.', '__')}"


def form_fields(methods: list[str]) -> list[FormField]:
    """The form's settings controls: each method's ``form`` fields, defaults from its Settings."""
    fields = []
    for name in methods:
        cls = get_method(name)
        defaults, meanings = cls.Settings(), field_meanings(cls.Settings)
        for key in cls.form:
            fields.append(FormField(name, key, getattr(defaults, key), meanings.get(key, "") or key))
    return fields


def _control(gr, f: FormField, visible: bool):
    label = f"{f.method}: {f.meaning}"
    elem_id = f"setting-{f.method}-{f.key}"
    if isinstance(f.default, bool):
        return gr.Checkbox(f.default, label=label, elem_id=elem_id, visible=visible)
    if isinstance(f.default, int):
        return gr.Number(f.default, precision=0, label=label, elem_id=elem_id, visible=visible)
    if isinstance(f.default, float):
        return gr.Number(f.default, label=label, elem_id=elem_id, visible=visible)
    return gr.Textbox("" if f.default is None else str(f.default), label=label, elem_id=elem_id, visible=visible)


def _form_value(f: FormField, value):
    """A control's value as the settings field's type (gradio Numbers come back as floats)."""
    if value is None or value == "":
        return f.default
    if isinstance(f.default, bool):
        return bool(value)
    if isinstance(f.default, int) and float(value).is_integer():
        return int(value)                 # a whole number; anything else fails in build_settings
    if isinstance(f.default, float):
        return float(value)
    return value


def upload_labels(settings: AppSettings, methods: list[str]) -> dict[str, str]:
    """What each upload box says it is for, including whether depth and masks are needed here."""
    have = perception_status(settings)
    needs_depth = [m for m in methods if "depth" in get_method(m).capture_needs]
    if have["depth"]:
        depth = "Depth, optional (estimated from the picture when absent): .npy metres or 16-bit .png millimetres"
    elif needs_depth:
        depth = (f"Depth, needed by {' and '.join(needs_depth)} (no depth model installed to estimate it): "
                 ".npy metres or 16-bit .png millimetres")
    else:
        depth = "Depth, optional: .npy metres or 16-bit .png millimetres"
    masks = "Instance masks (seg.png: one id or colour per object, background 0/black)"
    masks += (", optional: found by the detector and SAM when absent" if have["detector"] and have["segmenter"]
              else ", needed (no detector and segmenter models installed to find them)")
    return {"depth": depth, "seg": masks}


def perception_note(settings: AppSettings) -> str:
    have = perception_status(settings)
    missing = [name for name, ok in have.items() if not ok]
    if not missing:
        return "photo input: depth, detector and segmenter models found"
    return (f"**photo input needs** the {', '.join(missing)} model{'s' if len(missing) > 1 else ''} "
            f"(`scenewright models download {' '.join(missing)}`; or start the app with `--models DIR`)")


def build_app(settings: AppSettings | None = None):
    """The page as a ``gr.Blocks`` (not launched): mount it, or ``launch_app`` it.

    Opens the library (when given) to decide which methods to offer, and starts warming
    the methods' resources (library index, renderer, weights) in the background (``settings.warmup``).
    """
    _offline_environment()
    import gradio as gr

    settings = settings or AppSettings()
    jobs = JobFolders(settings.work_dir, settings.keep_jobs)
    gr.set_static_paths([str(jobs.root)])
    examples = find_examples(settings.examples)
    resources = resources_for(settings)
    status = {name: method_status(name, resources) for name in method_names()}
    methods = [name for name in method_names() if status[name][0]]
    notes = [msg if ok else f"**{name} is off**: {msg}" for name, (ok, msg) in status.items() if msg]
    notes.append(perception_note(settings))
    labels_for = upload_labels(settings, methods)
    if settings.warmup not in ("off", "quick", "full"):
        raise InputError(f"warmup: {settings.warmup!r} is not off, quick or full")
    if settings.warmup != "off":
        threading.Thread(target=_warm, args=(settings, settings.warmup == "full"), daemon=True,
                         name="scenewright-warmup").start()
    fields = form_fields(methods)
    running = RunningJobs()
    first_tab = "example" if examples else "photo"

    # delete_cache: gradio's copies of uploads and outputs older than an hour go, hourly.
    with gr.Blocks(title="scenewright", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(" · ".join(notes), elem_id="availability")
        job_state = gr.State(None)
        perceived_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                source = gr.Textbox(value=first_tab, visible=False, label="source")
                with gr.Tabs(selected=first_tab):
                    with gr.Tab("Photo", id="photo", elem_id="tab-photo") as tab_photo:
                        photo = gr.File(label="Photo of the room (JPEG, PNG or WebP; masks, labels, depth and "
                                              "camera are estimated from it)", file_types=["image"],
                                        elem_id="photo", height=FILE_HEIGHT)
                        photo_seg = gr.File(label="Segmentation, optional (PNG: one colour or id per object, "
                                                  "background black, as MIDI's seg.png; skips the detector)",
                                            file_types=[".png"], elem_id="photo-seg", height=FILE_HEIGHT)
                        photo_labels = gr.Textbox(label="What to look for, optional (default: the library's "
                                                        "categories)", placeholder="sofa, armchair, coffee table",
                                                  elem_id="photo-labels")
                        perceive_btn = gr.Button("Perceive (see the masks first)", elem_id="perceive")
                        perception = gr.Image(label="Perception: masks and labels, depth", interactive=False,
                                              elem_id="perception", height=260)
                    with gr.Tab("Example", id="example", elem_id="tab-example") as tab_example:
                        example = gr.Dropdown([e.name for e in examples],
                                              value=examples[0].name if examples else None,
                                              label="Example capture", elem_id="example")
                        example_image = gr.Image(_rgb_thumbnail(examples[0].path / "rgb.png") if examples else None,
                                                 label="Picture", interactive=False, height=220)
                    with gr.Tab("Capture", id="files", elem_id="tab-files") as tab_files:
                        rgb = gr.File(label="Picture (rgb: PNG or JPEG)", file_types=["image"], elem_id="rgb",
                                      height=FILE_HEIGHT)
                        seg = gr.File(label=labels_for["seg"], file_types=[".png"], elem_id="seg",
                                      height=FILE_HEIGHT)
                        depth = gr.File(label=labels_for["depth"], file_types=[".npy", ".png"], elem_id="depth",
                                        height=FILE_HEIGHT)
                        labels_text = gr.Textbox(label="Labels of the mask ids (or upload instances.json)",
                                                 placeholder="1: sofa, 2: floor lamp", elem_id="labels")
                        instances = gr.File(label="Labels file, optional (instances.json)", file_types=[".json"],
                                            elem_id="instances", height=FILE_HEIGHT)
                        camera = gr.File(label="Camera, optional (camera.json; default a 61.9° field of view)",
                                         file_types=[".json"], elem_id="camera", height=FILE_HEIGHT)
                    with gr.Tab("Zip", id="zip", elem_id="tab-zip") as tab_zip:
                        zip_file = gr.File(label="A zipped capture folder", file_types=[".zip"], elem_id="zip")
                    with gr.Tab("Text", id="text", elem_id="tab-text"):
                        prompt = gr.Textbox(label="Describe the room (`scenewright generate`: offline, seconds)",
                                            placeholder="a living room with a sofa, two armchairs and a coffee table",
                                            lines=3, elem_id="prompt")
                        text_seed = gr.Number(value=0, precision=0, minimum=0, label="Seed (other seeds, other rooms)",
                                              elem_id="text-seed")
                        generate_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                method = gr.Radio(methods, value=methods[0] if methods else None, label="Method",
                                  elem_id="method",
                                  info=" · ".join(f"{m}: {get_method(m).summary}" for m in methods))
                with gr.Accordion("Settings", open=False):
                    seed = gr.Number(value=None, precision=0, minimum=0, label="Seed (empty: the method's default)")
                    controls = [_control(gr, f, visible=bool(methods) and f.method == methods[0]) for f in fields]
                    more_settings = gr.Textbox("", label="More settings: KEY=VALUE per line (as `--set`; "
                                               "`scenewright reconstruct --method M --help-settings` lists them)",
                                               lines=2, elem_id="more-settings")
                include_room = gr.Checkbox(True, label="Show the floor and walls", elem_id="include-room")
                settle = gr.Checkbox(False, label="Settle under gravity (MuJoCo: objects drop to rest before the "
                                     "scene is written; the notes say how far they moved)", elem_id="settle")
                run = gr.Button("Reconstruct", variant="primary", elem_id="reconstruct")
                progress_pane = gr.HTML(progress_html(None), elem_id="progress", padding=False)
                status = gr.Markdown("", elem_id="status")
            with gr.Column(scale=2, min_width=480):
                model = gr.Model3D(label="Scene (drag to turn)", height=480, elem_id="model3d",
                                   clear_color=(0.95, 0.95, 0.95, 1.0))
                # full width: a narrow file box cuts names down to their extension
                downloads = gr.File(label="Downloads: scene folder (.zip), GLB, USDZ, USD (.zip), Blender",
                                    file_count="multiple", interactive=False, elem_id="downloads")
                preview = gr.Image(label="Preview over the input", interactive=False, elem_id="preview",
                                   height=300)
                objects = gr.Dataframe(headers=OBJECT_COLUMNS, label="Objects", interactive=False,
                                       elem_id="objects", wrap=True)
                relations = gr.Dataframe(headers=RELATION_COLUMNS, label="Relations", interactive=False,
                                         elem_id="relations")
                with gr.Accordion("Attribution (asset licences)", open=True):
                    attribution = gr.Markdown(elem_id="attribution")
                timings = gr.Dataframe(headers=TIMING_COLUMNS, label="Timings (s)", interactive=False,
                                       elem_id="timings")

        for tab, key in ((tab_photo, "photo"), (tab_example, "example"), (tab_files, "files"), (tab_zip, "zip")):
            tab.select(lambda key=key: key, None, source, api_name=False, queue=False)
        by_name = {e.name: e for e in examples}
        example.change(lambda n: _rgb_thumbnail(by_name[n].path / "rgb.png") if n in by_name else None,
                       example, example_image, api_name=False, queue=False)

        def _status(text, ok):
            return gr.Markdown(text, elem_classes=["ok" if ok else "error"])

        def _failure(exc, capture_dir) -> str:
            if isinstance(exc, JobCancelled):
                return f"**Cancelled:** {exc}"
            if isinstance(exc, ScenewrightError):   # bad input (InputError) or a known failure (no renderer...)
                kind = "Input problem" if isinstance(exc, InputError) else "Problem"
                return f"**{kind}:** {user_message(exc, capture_dir)}"
            log.error("job failed", exc_info=exc)   # a bug: one line on the page, the traceback in the log
            return f"**Internal error** ({type(exc).__name__}: {exc}); the server log has the details."

        def _session(request) -> str | None:
            return getattr(request, "session_hash", None) if request is not None else None

        def _reuse(perceived, photo, photo_seg, photo_labels):
            """The perceived capture of these very uploads, if the page perceived them already."""
            if not perceived or not photo:
                return None
            try:
                if perceived["key"] != perceive_key(photo, photo_seg, photo_labels):
                    return None
                from scenewright.app.jobs import Perceived
                capture, record = read_perceived(perceived["folder"])
                folder = Path(perceived["folder"])
                return Perceived(folder, capture, record, folder / "perception.png", perceived["key"])
            except (OSError, InputError, KeyError, TypeError):
                return None          # its job folder was pruned, or the files changed: perceive again

        def perceive(photo, photo_seg, photo_labels, request: gr.Request = None):
            """Photo (+ optional seg, labels) → the perception overlay, before any 3D work."""
            job_dir = jobs.new()
            progress = JobProgress({"perceive": "Perceiving: masks, labels, depth, camera"})
            work = lambda: perceive_upload(photo, photo_seg, photo_labels, job_dir / "perceived",  # noqa: E731
                                           settings, progress)
            for kind, value in run_streaming(work, progress, running, _session(request), "Perceive",
                                             job=job_dir.name):
                if kind == "progress":
                    yield value, gr.skip(), gr.skip(), gr.skip()
                elif kind == "error":
                    progress.finish()
                    yield (progress_html(progress.snapshot(), "Perceive"), _status(_failure(value, None), ok=False),
                           None, None)
                else:
                    progress.finish()
                    yield (progress_html(progress.snapshot(), "Perceive"),
                           _status(f"**Perceived:** {value.summary()}. Check the masks, then press "
                                   "**Reconstruct** (the photo is not perceived again).", ok=True),
                           str(value.overlay), {"folder": str(value.folder), "key": value.key})

        perceive.__annotations__ = {"request": gr.Request}     # gradio passes the session (the page's own import)
        perceive_btn.click(perceive, [photo, photo_seg, photo_labels],
                           [progress_pane, status, perception, perceived_state], api_name="perceive",
                           concurrency_limit=1, concurrency_id="job", show_progress="minimal",
                           show_progress_on=[progress_pane])

        def reconstruct(*args):
            """Build the capture from the chosen source, run the method, fill every output (progress streams)."""
            (source, example, rgb, seg, depth, instances, camera, labels_text, zip_file, method, seed) = args[:11]
            values = args[11:11 + len(fields)]
            more_settings, include_room, settle, photo, photo_seg, photo_labels, perceived, request = \
                args[11 + len(fields):]
            keep = (gr.skip(),) * 9
            job_dir = jobs.new()
            name = "scene"
            capture_dir = None
            progress = JobProgress()
            t0 = time.perf_counter()

            def work():
                nonlocal capture_dir, name
                reuse = None
                if source == "photo":
                    reuse = _reuse(perceived, photo, photo_seg, photo_labels)
                    if reuse is None:
                        reuse = perceive_upload(photo, photo_seg, photo_labels, job_dir / "perceived",
                                                settings, progress)
                    capture_dir, name = reuse.folder, Path(photo).stem
                elif source == "example":
                    if example not in by_name:
                        raise InputError(f"example {example!r}: pick one of the listed examples")
                    capture_dir, name = by_name[example].path, Path(example).name
                elif source == "zip":
                    if not zip_file:
                        raise InputError("zip: no file uploaded")
                    capture_dir = extract_capture_zip(zip_file, job_dir / "capture")
                    name = Path(zip_file).stem
                elif source == "files":
                    capture_dir = assemble_capture(job_dir / "capture", rgb, seg, depth, instances, camera,
                                                   labels_text)
                    name = Path(rgb).stem if rgb else name
                else:
                    raise InputError(f"source {source!r}: expected one of {', '.join(SOURCES)}")
                request_ = JobRequest(method=method or "", seed=None if seed is None else int(seed),
                                      values={f.key: _form_value(f, v) for f, v in zip(fields, values)
                                              if f.method == method},
                                      overrides=tuple(line.strip() for line in (more_settings or "").splitlines()
                                                      if line.strip()), settle=bool(settle))
                if request_.method not in methods:
                    raise InputError(f"method {request_.method!r} is not available on this server "
                                     f"(available: {', '.join(methods)})")
                # Download names come from user file names: keep them to safe characters.
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "scene"
                return reuse, request_, run_job(capture_dir, job_dir, request_, settings, progress=progress,
                                                name=f"{name}_{request_.method}", perceived=reuse)

            if source == "photo" and not _reuse(perceived, photo, photo_seg, photo_labels):
                progress.stages["perceive"] = "Perceiving: masks, labels, depth, camera"
            title = f"Reconstruct ({method})"
            for kind, value in run_streaming(work, progress, running, _session(request), title, job=job_dir.name):
                if kind == "progress":
                    yield (gr.skip(), value) + keep
                    continue
                if kind == "error":
                    progress.finish()
                    yield (_status(_failure(value, capture_dir), ok=False),
                           progress_html(progress.snapshot(), title), [], None, [], [], "", [], None,
                           gr.skip(), gr.skip())
                    return
                reuse, request_, result = value
                wall = time.perf_counter() - t0
                n_mesh = sum(inst.mesh is not None for inst in result.scene.instances)
                text = (f"**Done:** {n_mesh} of {len(result.capture.instance_ids)} objects placed, "
                        f"{len(result.scene.relations)} relations, {wall:.1f} s ({request_.method}).")
                if result.notes:
                    text += "\n\n" + "\n".join(f"- {n}" for n in result.notes)
                state = {"glb": str(result.glb),
                         "glb_room": None if result.glb_room is None else str(result.glb_room),
                         "files": [str(result.files[k]) for k, _ in DOWNLOADS if k in result.files]}
                yield (_status(text, ok=True), progress_html(progress.snapshot(), title), _view(state, include_room)[1],
                       str(result.preview) if result.preview else None, object_rows(result.scene, result.capture),
                       relation_rows(result.scene), attribution_markdown(result.scene), timing_rows(result), state,
                       str(reuse.overlay) if reuse is not None else gr.skip(),
                       {"folder": str(reuse.folder), "key": reuse.key} if reuse is not None else gr.skip())

        def generate(prompt, text_seed, include_room, request: gr.Request = None):
            """A sentence → a room, with the same outputs as a reconstruction."""
            job_dir = jobs.new()
            progress = JobProgress()
            title = "Generate"
            work = lambda: run_text_job(prompt, job_dir, settings, 0 if text_seed is None else int(text_seed),  # noqa: E731
                                        progress, name=f"text_{int(text_seed or 0)}")
            for kind, value in run_streaming(work, progress, running, _session(request), title, job=job_dir.name):
                if kind == "progress":
                    yield (gr.skip(), value) + (gr.skip(),) * 7
                elif kind == "error":
                    progress.finish()
                    yield (_status(_failure(value, None), ok=False), progress_html(progress.snapshot(), title),
                           [], None, [], [], "", [], None)
                else:
                    result = value
                    text = (f"**Done:** {len(result.scene.instances)} objects, {len(result.scene.relations)} "
                            f"relations, {result.total_s:.1f} s (text).")
                    text += "\n\n" + "\n".join(f"- {n}" for n in result.notes)
                    state = {"glb": str(result.glb), "glb_room": None,
                             "files": [str(result.files[k]) for k, _ in DOWNLOADS if k in result.files]}
                    yield (_status(text, ok=True), progress_html(progress.snapshot(), title),
                           _view(state, include_room)[1], str(result.preview) if result.preview else None,
                           object_rows(result.scene, None), relation_rows(result.scene),
                           attribution_markdown(result.scene), timing_rows(result), state)

        def _view(state, include_room):
            glb = state["glb_room"] if include_room and state.get("glb_room") else state["glb"]
            files = list(state["files"])
            if glb not in files:
                files.insert(1, glb)
            return glb, files

        def show_scene(state, include_room):
            # The viewer only draws a GLB given by a plain event: one that a streaming event (the
            # job, which streams its progress) ever set stays blank in gradio 6's Model3D.
            if not state:
                return None
            return _view(state, include_room)[0]

        # The API names the parameters (gradio reads the signature): the form's settings
        # fields are METHOD__FIELD, after the fixed inputs; the photo's after those.
        names = ["source", "example", "rgb", "seg", "depth", "instances", "camera", "labels_text", "zip_file",
                 "method", "seed", *(f.param for f in fields), "more_settings", "include_room", "settle",
                 "photo", "photo_seg", "photo_labels", "perceived"]
        P = inspect.Parameter
        reconstruct.__signature__ = inspect.Signature(
            [P(n, P.POSITIONAL_OR_KEYWORD) for n in names]
            + [P("request", P.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)])
        reconstruct.__annotations__ = {"request": gr.Request}
        run.click(reconstruct,
                  [source, example, rgb, seg, depth, instances, camera, labels_text, zip_file, method, seed,
                   *controls, more_settings, include_room, settle, photo, photo_seg, photo_labels, perceived_state],
                  [status, progress_pane, downloads, preview, objects, relations, attribution, timings,
                   job_state, perception, perceived_state],
                  api_name="reconstruct", concurrency_limit=1, concurrency_id="job", show_progress="minimal",
                  show_progress_on=[progress_pane]
                  ).then(show_scene, [job_state, include_room], model, api_name=False, queue=False,
                         show_progress="hidden", show_progress_on=[progress_pane])

        generate.__annotations__ = {"request": gr.Request}
        generate_btn.click(generate, [prompt, text_seed, include_room],
                           [status, progress_pane, downloads, preview, objects, relations, attribution, timings,
                            job_state], api_name="generate", concurrency_limit=1, concurrency_id="job",
                           show_progress="minimal", show_progress_on=[progress_pane]
                           ).then(show_scene, [job_state, include_room], model, api_name=False, queue=False,
                                  show_progress="hidden", show_progress_on=[progress_pane])

        def toggle_room(state, include_room):
            if not state:
                return gr.skip(), gr.skip()
            return _view(state, include_room)

        def show_controls(chosen):
            return [gr.update(visible=f.method == chosen) for f in fields]

        def leave(request: gr.Request):
            """The browser closed or reloaded the page: its running jobs stop at their next step."""
            n = running.cancel(_session(request), "the browser left the page")
            if n:
                log.warning("browser left: %d job(s) cancelled", n)

        leave.__annotations__ = {"request": gr.Request}
        if controls:
            method.change(show_controls, method, controls, api_name=False, queue=False)
        include_room.change(toggle_room, [job_state, include_room], [model, downloads], api_name=False,
                            queue=False)
        demo.unload(leave)
    demo.queue(default_concurrency_limit=1, max_size=32)
    demo.scenewright_jobs = jobs          # the job folders' root, for launch (allowed paths) and tests
    demo.scenewright_methods = methods
    return demo


def _warm(settings: AppSettings, full: bool) -> None:
    try:
        seconds = warm(settings, full=full)
        what = "every asset's features" if full else "library index, renderer, weights"
        print(f"scenewright app: methods warm ({what}) in {seconds:.1f} s", flush=True)
    except Exception as exc:          # warming is an optimisation; the first request will say what is wrong
        log.warning("warm-up failed: %s", exc)


def launch_app(settings: AppSettings, block: bool = True):
    """Build and serve the page on ``settings.host:settings.port`` (never a share link).

    Returns the Blocks (with ``block=False`` the server runs in a background thread).
    """
    demo = build_app(settings)
    try:
        # quiet: gradio's own banner suggests share links, which this page never makes.
        demo.launch(server_name=settings.host, server_port=int(settings.port), share=False,
                    inbrowser=False, show_error=False, quiet=True, ssr_mode=False, pwa=False,
                    mcp_server=False, enable_monitoring=False, max_file_size=settings.max_file_size,
                    allowed_paths=[str(demo.scenewright_jobs.root)], prevent_thread_lock=True,
                    css=CSS, footer_links=["api"])
    except OSError as exc:
        raise InputError(f"cannot serve on {settings.host}:{settings.port} ({exc}); "
                         "pass another --port or --host") from None
    print(f"scenewright app: {demo.local_url} — methods: {', '.join(demo.scenewright_methods)}; "
          f"job folders in {demo.scenewright_jobs.root} (Ctrl-C stops)", flush=True)
    if block:
        demo.block_thread()
    return demo
