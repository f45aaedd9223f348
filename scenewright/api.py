"""Reconstruct in one call; with ``load_capture``, ``read_scene`` and ``export_scene`` (all at
``scenewright``'s top level) the few calls most scripts need.

>>> import scenewright
>>> capture = scenewright.load_capture(EXAMPLE_CAPTURE)           # rgb, seg, depth, camera
>>> scene = scenewright.reconstruct(capture, method="boxes")       # in memory; nothing written
>>> len(scene.instances) == len(capture.instance_ids)
True
>>> scene = scenewright.reconstruct(EXAMPLE_CAPTURE, tmp / "scene", method="boxes", preview=False)
>>> sorted(p.name for p in (tmp / "scene").iterdir())
['scene.glb', 'scene.json']
>>> scenewright.read_scene(tmp / "scene").method["name"]
'boxes'
>>> scenewright.export_scene(tmp / "scene", tmp / "scene_export.glb").name
'scene_export.glb'

The layout method with its asset library (``library`` defaults to the configured one,
``scenewright config show``) and its settings as dotted keys:

>>> scene = scenewright.reconstruct(BENCH_CAPTURE, method="layout", library=LIBRARY,
...                                 settings={"pose.render_size": 64})
>>> all(inst.asset_id for inst in scene.instances), scene.method["settings"]["pose"]["render_size"]
(True, 64)

Settled under gravity in MuJoCo (``pip install 'scenewright[physics]'``) before anything is
written, as ``reconstruct --settle`` does; scene.json keeps the report:

>>> scene = scenewright.reconstruct(BENCH_CAPTURE, tmp / "settled", method="layout", library=LIBRARY,
...                                 settings={"pose.render_size": 64}, settle=True, preview=False)
>>> physics = scenewright.read_scene(tmp / "settled").extra["physics"]
>>> physics["settled"], len(physics["per_object"]) == sum(i.mesh is not None for i in scene.instances)
(True, True)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from scenewright.capture import Capture

if TYPE_CHECKING:
    from scenewright.physics import SettleSettings


def reconstruct(capture: str | os.PathLike | Capture, out: str | os.PathLike | None = None,
                method: str = "layout", *, library: str | os.PathLike | None = None,
                weights: str | os.PathLike | None = None, seed: int | None = None,
                settings: Mapping[str, Any] | None = None, overrides: Iterable[str] = (),
                config: str | os.PathLike | None = None, device: str | None = None,
                overwrite: bool = False, preview: bool = True, progress: bool = False,
                settle: bool | SettleSettings = False):
    """Reconstruct ``capture`` (a capture folder or a loaded :class:`~scenewright.Capture`) with
    the registered ``method``; returns the :class:`~scenewright.Scene`.

    ``out``: a scene folder to write (scene.glb, scene.json, preview.png unless ``preview``
    is False), atomically, as ``scenewright reconstruct`` does; None keeps the scene in memory.
    ``library``/``weights``/``device``: as the command's flags (None: ``scenewright config``'s
    values). The method's settings are its dataclass with, in this order, the ``config`` file,
    ``settings`` (dotted key → value), ``seed`` and ``overrides`` (``"KEY=VALUE"``) applied.
    ``settle``: drop the scene under gravity in MuJoCo before it is returned or written
    (:func:`~scenewright.run.settle_in_place`, default :class:`~scenewright.physics.SettleSettings`;
    a :class:`~scenewright.physics.SettleSettings` is taken too); ``scene.extra["physics"]``
    (scene.json's ``physics``) holds the report, or ``settled: False`` and why.
    """
    from scenewright.capture import load_capture
    from scenewright.config import device_overrides, library_for
    from scenewright.methods.base import Resources
    from scenewright.methods.registry import get_method
    from scenewright.run import run_to_folder, settle_in_place
    from scenewright.settings import build_settings

    if settle:          # a missing engine or bad settle settings fail before any work
        from scenewright.physics.settle import settle_settings
        settle = settle_settings(settle)
    cls = get_method(method)
    overrides = device_overrides(cls.Settings, config, overrides, device)
    built_settings = build_settings(cls.Settings, seed=seed, config=config, values=settings, overrides=overrides)
    resources = Resources(library=library_for(cls.needs, library), weights=weights)
    try:
        if out is not None:
            return run_to_folder(capture, out, cls, built_settings, resources, overwrite=overwrite,
                                 preview=preview, progress=progress, settle=settle or None)
        if not isinstance(capture, Capture):
            capture = load_capture(capture, require_seg="seg" in cls.capture_needs)
        built = cls(built_settings, resources, progress=progress)
        try:
            scene = built.reconstruct(capture)
        finally:
            built.close()
        return settle_in_place(scene, settle, source=str(capture.path or "capture")) if settle else scene
    finally:
        resources.close()

