"""Capture folder → scene folder with any method: the one write path of every entry point.

``scenewright reconstruct``, ``scenewright batch``, ``scenewright demo`` and the web page
all call :func:`run_to_folder`: load the capture, reconstruct, render the preview (a
failed preview is a note, never a lost scene), write the folder once, atomically.

>>> from scenewright import run_to_folder, read_scene
>>> scene = run_to_folder(EXAMPLE_CAPTURE, tmp / "boxes", "boxes", preview=False)
>>> len(scene.instances) == len(read_scene(tmp / "boxes").instances)
True
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from scenewright.capture import Capture, declare_depth, load_capture
from scenewright.fileio import check_output_dir
from scenewright.methods.base import Method, Resources
from scenewright.methods.registry import get_method
from scenewright.render import render_scene
from scenewright.scene import Scene, write_scene
from scenewright.settings import build_settings


def build_method(method: str | type | Method, settings=None, resources: Resources | None = None,
                 progress: bool = False) -> Method:
    """A built method from a name, a class or an instance (returned as is)."""
    if isinstance(method, Method):
        return method
    cls = get_method(method) if isinstance(method, str) else method
    return cls(settings if settings is not None else build_settings(cls.Settings), resources, progress=progress)


def render_preview(scene: Scene, capture: Capture, resources: Resources | None = None) -> tuple:
    """((H, W, 3) uint8 or None, notes): the scene over the capture; a failure is a note."""
    notes: list[str] = []
    try:
        if resources is not None:
            with resources.lock:
                return render_scene(scene, over=capture, notes=notes), notes
        return render_scene(scene, over=capture, notes=notes), notes
    except Exception as exc:        # a preview is a convenience: never lose the scene over it
        notes.append(f"preview failed: {type(exc).__name__}: {exc}")
        return None, notes


def run_to_folder(capture: str | os.PathLike | Capture, out: str | os.PathLike, method: str | type | Method,
                  settings=None, resources: Resources | None = None, overwrite: bool = False,
                  preview: bool = True, progress: bool = False, inputs=(), perception=None,
                  room: bool = True, ceiling: bool = False, settle=None, depth: str | None = None) -> Scene:
    """Reconstruct ``capture`` (a folder or a loaded Capture) with ``method`` into the folder ``out``.

    ``method``: a registered name, a Method class, or a built Method (then ``settings``
    and ``resources`` are its own). The scene folder (scene.glb, scene.json, preview.png
    unless ``preview`` is False) is written once, atomically; an existing non-empty
    ``out`` is an InputError unless ``overwrite``, and so is an ``out`` that is, holds or
    lies in what the run reads (the capture, the method's library and weights, ``inputs``).
    ``perception``: the :class:`~scenewright.perception.from_image.PerceptionRecord` of a
    capture perceived from a photo — recorded under ``"inputs"`` in scene.json, with the
    perceived capture in ``out/perceived/``. ``room``: floor and walls (and a ``ceiling``)
    textured from the capture go into scene.glb (:func:`add_room`); False records that the
    folder has none, so exports leave it out too. ``settle``: a
    :class:`~scenewright.physics.SettleSettings` (or True for the defaults) drops the
    scene under gravity in MuJoCo before anything is written (:func:`settle_in_place`):
    scene.glb and the preview show the settled poses, scene.json the report (``physics``).
    ``depth``: the capture's depth taken as given | estimated | relative | none, over what it
    declares (:func:`~scenewright.capture.declare_depth`; recorded under ``"inputs"``).
    ``scene.timings_s`` gains ``room``, ``preview`` and ``settle``. Returns the Scene.
    """
    cls = type(method) if isinstance(method, Method) else get_method(method) if isinstance(method, str) else method
    source = capture.path if isinstance(capture, Capture) else capture
    if not isinstance(capture, Capture):     # a bad capture is named before the library or weights load
        capture = load_capture(capture, require_seg="seg" in cls.capture_needs)
    declared = None
    if depth is not None:
        declared = "none" if capture.depth is None else capture.depth_kind
        capture = declare_depth(capture, depth)
    if settle:          # a missing engine or bad settle settings fail before any work
        from scenewright.physics.settle import settle_settings
        settle = settle_settings(settle)
    built = build_method(method, settings, resources, progress=progress)
    inputs = [source, *inputs, *built.resources.paths(built.needs), *built.reads(built.settings)]
    try:
        # Before the work (atomic_dir checks again): a run that could not be written costs nothing.
        check_output_dir(out, overwrite, inputs=inputs)
    except BaseException:
        if built is not method:
            built.close()
        raise
    try:
        if built.resources is not None:
            with built.resources.lock:
                scene = built.reconstruct(capture)
        else:
            scene = built.reconstruct(capture)
    finally:
        if built is not method:
            built.close()
    if settle:
        scene = settle_in_place(scene, settle, source=str(source))
    add_room(scene, capture, room, ceiling)
    image = None
    if preview:
        t = time.perf_counter()
        image, notes = render_preview(scene, capture, built.resources)
        scene.timings_s["preview"] = round(time.perf_counter() - t, 4)
        if notes:
            scene.extra.setdefault("notes", []).extend(notes)
    from scenewright.models.used import models_used
    used = models_used(built, perception)
    if used:            # which learned models made this scene: name, repository, revision, hashes
        scene.extra["models"] = used
    attach = None
    if perception is not None:
        scene.extra["inputs"] = {"from": str(source), **perception.to_json()}
        attach = _perceived_writer(capture, perception)
    if depth is not None:
        scene.extra.setdefault("inputs", {})["depth"] = {"declared": declared, "taken_as": depth, "by": "--depth"}
    write_scene(scene, out, preview=image, overwrite=overwrite, inputs=inputs, attach=attach)
    return scene


def settle_in_place(scene: Scene, settings, source: str = "scene") -> Scene:
    """``scene`` settled under gravity (:func:`scenewright.physics.settle_scene`), timed in ``timings_s["settle"]``.

    A scene that cannot be simulated (no floor, no object with a mesh) is returned as it
    is, with ``extra["physics"] = {"settled": False, "reason": ...}`` and a note: the
    reconstruction is kept, and the reason is said.
    """
    t = time.perf_counter()
    reason = None
    if not scene.floor or scene.floor.get("height") is None:
        reason = "the scene has no floor, so there is nothing to settle on"
    elif not any(inst.mesh is not None and len(inst.mesh.vertices) for inst in scene.instances):
        reason = "no object has a mesh, so there is nothing to simulate"
    if reason is not None:
        scene.extra["physics"] = {"settled": False, "reason": reason}
        scene.extra.setdefault("notes", []).append(f"--settle: not settled: {reason}")
        return scene
    from scenewright.physics.settle import settle_scene
    settled, _ = settle_scene(scene, settings, source=source)
    settled.extra["physics"] = {"settled": True, **settled.extra["physics"]}
    settled.timings_s = {**scene.timings_s, "settle": round(time.perf_counter() - t, 4)}
    return settled


def add_room(scene: Scene, capture: Capture | None, room: bool = True, ceiling: bool = False) -> None:
    """Give ``scene`` its room meshes (:func:`scenewright.export.room.room_surfaces`) unless it has them.

    Records what was built in ``scene.extra["room"]`` (scene.json) and the time in
    ``scene.timings_s["room"]``; ``room=False`` records ``{"included": False}``.
    """
    if not room:
        scene.room = {}
        scene.extra["room"] = {"included": False}
        return
    if scene.room:                 # the method built its own (the generated rooms of text → scene)
        return
    from scenewright.export.room import RoomSettings, room_surfaces
    t = time.perf_counter()
    report: dict = {}
    settings = RoomSettings(ceiling=ceiling)
    scene.room = room_surfaces(scene, capture, settings, report=report)
    scene.timings_s["room"] = round(time.perf_counter() - t, 4)
    scene.extra["room"] = {"included": bool(scene.room), "ceiling": ceiling,
                           "texture_px": settings.texture_px, "surfaces": report}


def _perceived_writer(capture: Capture, perception):
    """``attach(folder)`` writing the perceived capture into ``folder/perceived``."""
    from scenewright.perception.cli import write_perceived_into

    def attach(folder: Path) -> None:
        write_perceived_into(capture, perception, folder / "perceived")
    return attach
