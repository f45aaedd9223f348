"""The gradio page: inputs (an example, files or a zip) → method → 3D view, tables, downloads.

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
from scenewright.app.jobs import (OBJECT_COLUMNS, RELATION_COLUMNS, TIMING_COLUMNS, AppSettings, JobFolders,
                                  JobRequest, attribution_markdown, method_status, object_rows, relation_rows,
                                  resources_for, run_job, timing_rows, warm)
from scenewright.errors import InputError, ScenewrightError
from scenewright.methods.registry import get_method, method_names
from scenewright.settings import field_meanings

log = logging.getLogger("scenewright.app")

SOURCES = ("example", "files", "zip")
FILE_HEIGHT = 120         # px: compact upload boxes, so the button stays in view
INTRO = """# scenewright
One picture of a room, its instance masks and depth → a 3D scene with one mesh per object.
Pick an example or upload a capture, choose a method, press **Reconstruct**."""
CSS = """
#status.error { border-left: 4px solid #d33; padding-left: 8px; }
#status.ok { border-left: 4px solid #3a3; padding-left: 8px; }
"""


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
    if settings.warmup not in ("off", "quick", "full"):
        raise InputError(f"warmup: {settings.warmup!r} is not off, quick or full")
    if settings.warmup != "off":
        threading.Thread(target=_warm, args=(settings, settings.warmup == "full"), daemon=True,
                         name="scenewright-warmup").start()
    fields = form_fields(methods)

    # delete_cache: gradio's copies of uploads and outputs older than an hour go, hourly.
    with gr.Blocks(title="scenewright", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(" · ".join(notes), elem_id="availability")
        job_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                source = gr.Textbox(value="example" if examples else "files", visible=False, label="source")
                with gr.Tabs(selected="example" if examples else "files"):
                    with gr.Tab("Example", id="example", elem_id="tab-example") as tab_example:
                        example = gr.Dropdown([e.name for e in examples],
                                              value=examples[0].name if examples else None,
                                              label="Example capture", elem_id="example")
                        example_image = gr.Image(_rgb_thumbnail(examples[0].path / "rgb.png") if examples else None,
                                                 label="Picture", interactive=False, height=220)
                    with gr.Tab("Upload files", id="files", elem_id="tab-files") as tab_files:
                        rgb = gr.File(label="Picture (rgb: PNG or JPEG)", file_types=["image"], elem_id="rgb",
                                      height=FILE_HEIGHT)
                        with gr.Row():
                            seg = gr.File(label="Instance masks (seg.png: ids or a colour palette)",
                                          file_types=[".png"], elem_id="seg", height=FILE_HEIGHT)
                            depth = gr.File(label="Depth (.npy metres or 16-bit .png mm)",
                                            file_types=[".npy", ".png"], elem_id="depth", height=FILE_HEIGHT)
                        labels_text = gr.Textbox(label="Labels", placeholder="1: sofa, 2: floor lamp",
                                                 elem_id="labels")
                        with gr.Row():
                            instances = gr.File(label="…or instances.json", file_types=[".json"],
                                                elem_id="instances", height=FILE_HEIGHT)
                            camera = gr.File(label="Camera (optional camera.json)", file_types=[".json"],
                                             elem_id="camera", height=FILE_HEIGHT)
                    with gr.Tab("Upload a zip", id="zip", elem_id="tab-zip") as tab_zip:
                        zip_file = gr.File(label="A zipped capture folder", file_types=[".zip"], elem_id="zip")
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
                run = gr.Button("Reconstruct", variant="primary", elem_id="reconstruct")
                status = gr.Markdown("", elem_id="status")
            with gr.Column(scale=2, min_width=480):
                model = gr.Model3D(label="Scene (drag to turn)", height=480, elem_id="model3d",
                                   clear_color=(0.95, 0.95, 0.95, 1.0))
                with gr.Row():
                    preview = gr.Image(label="Preview over the input", interactive=False, elem_id="preview",
                                       height=300)
                    downloads = gr.File(label="Downloads", file_count="multiple", interactive=False,
                                        elem_id="downloads")
                objects = gr.Dataframe(headers=OBJECT_COLUMNS, label="Objects", interactive=False,
                                       elem_id="objects", wrap=True)
                relations = gr.Dataframe(headers=RELATION_COLUMNS, label="Relations", interactive=False,
                                         elem_id="relations")
                with gr.Accordion("Attribution (asset licences)", open=True):
                    attribution = gr.Markdown(elem_id="attribution")
                timings = gr.Dataframe(headers=TIMING_COLUMNS, label="Timings (s)", interactive=False,
                                       elem_id="timings")

        tab_example.select(lambda: "example", None, source, api_name=False, queue=False)
        tab_files.select(lambda: "files", None, source, api_name=False, queue=False)
        tab_zip.select(lambda: "zip", None, source, api_name=False, queue=False)
        by_name = {e.name: e for e in examples}
        example.change(lambda n: _rgb_thumbnail(by_name[n].path / "rgb.png") if n in by_name else None,
                       example, example_image, api_name=False, queue=False)

        def reconstruct(*args):
            """Build the capture from the chosen source, run the method, fill every output."""
            (source, example, rgb, seg, depth, instances, camera, labels_text, zip_file, method, seed) = args[:11]
            values = args[11:11 + len(fields)]
            more_settings, include_room, progress = args[11 + len(fields):]
            empty = (None, None, None, [], [], "", [], None)
            t0 = time.perf_counter()
            job_dir = jobs.new()
            capture_dir = None
            name = "scene"
            try:
                if source == "example":
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
                request = JobRequest(method=method or "", seed=None if seed is None else int(seed),
                                     values={f.key: _form_value(f, v) for f, v in zip(fields, values)
                                             if f.method == method},
                                     overrides=tuple(line.strip() for line in (more_settings or "").splitlines()
                                                     if line.strip()))
                if request.method not in methods:
                    raise InputError(f"method {request.method!r} is not available on this server "
                                     f"(available: {', '.join(methods)})")
                # Download names come from user file names: keep them to safe characters.
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "scene"
                result = run_job(capture_dir, job_dir, request, settings,
                                 progress=lambda f, text: progress(f, desc=text), name=f"{name}_{request.method}")
            except ScenewrightError as exc:     # bad input (InputError) or a known failure (no renderer...)
                msg = user_message(exc, capture_dir)
                kind = "Input problem" if isinstance(exc, InputError) else "Problem"
                return (_status(f"**{kind}:** {msg}", ok=False),) + empty
            except Exception as exc:      # a bug: the page says so in one line, the log has the traceback
                log.exception("reconstruction failed")
                return (_status(f"**Internal error** ({type(exc).__name__}: {exc}); the server log has "
                                "the details.", ok=False),) + empty
            wall = time.perf_counter() - t0
            n_mesh = sum(inst.mesh is not None for inst in result.scene.instances)
            text = (f"**Done:** {n_mesh} of {len(result.capture.instance_ids)} objects placed, "
                    f"{len(result.scene.relations)} relations, {wall:.1f} s ({request.method}).")
            if result.notes:
                text += "\n\n" + "\n".join(f"- {n}" for n in result.notes)
            state = {"glb": str(result.glb), "glb_room": None if result.glb_room is None else str(result.glb_room),
                     "zip": str(result.zip)}
            return (_status(text, ok=True), *_view(state, include_room), str(result.preview) if result.preview
                    else None, object_rows(result.scene, result.capture), relation_rows(result.scene),
                    attribution_markdown(result.scene), timing_rows(result), state)

        def _view(state, include_room):
            glb = state["glb_room"] if include_room and state.get("glb_room") else state["glb"]
            return glb, [state["zip"], glb]

        def _status(text, ok):
            return gr.Markdown(text, elem_classes=["ok" if ok else "error"])

        # The API names the parameters (gradio reads the signature): the form's settings
        # fields are METHOD__FIELD, after the fixed inputs.
        names = ["source", "example", "rgb", "seg", "depth", "instances", "camera", "labels_text", "zip_file",
                 "method", "seed", *(f.param for f in fields), "more_settings", "include_room"]
        P = inspect.Parameter
        reconstruct.__signature__ = inspect.Signature(
            [P(n, P.POSITIONAL_OR_KEYWORD) for n in names]
            + [P("progress", P.POSITIONAL_OR_KEYWORD, default=gr.Progress())])
        run.click(reconstruct,
                  [source, example, rgb, seg, depth, instances, camera, labels_text, zip_file, method, seed,
                   *controls, more_settings, include_room],
                  [status, model, downloads, preview, objects, relations, attribution, timings, job_state],
                  api_name="reconstruct", concurrency_limit=1)

        def toggle_room(state, include_room):
            if not state:
                return gr.skip(), gr.skip()
            return _view(state, include_room)

        def show_controls(chosen):
            return [gr.update(visible=f.method == chosen) for f in fields]

        if controls:
            method.change(show_controls, method, controls, api_name=False, queue=False)
        include_room.change(toggle_room, [job_state, include_room], [model, downloads], api_name=False,
                            queue=False)
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
