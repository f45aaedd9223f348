"""scenewright: one image of a room (or a sentence) → a compositional 3D scene.

The public API (imported on first use, so ``scenewright --help`` stays fast). In one call:

>>> from scenewright import export_scene, reconstruct
>>> scene = reconstruct(EXAMPLE_CAPTURE, tmp / "boxes", method="boxes", preview=False)
>>> export_scene(tmp / "boxes", tmp / "boxes.glb").stat().st_size > 0
True

Piece by piece:

>>> from scenewright import get_method, load_capture, method_names, read_scene, run_to_folder
>>> method_names()
['layout', 'boxes', 'midi']
>>> capture = load_capture(EXAMPLE_CAPTURE)
>>> capture.rgb.shape[2], len(capture.instance_ids) > 0
(3, True)
>>> boxes = get_method("boxes")()                       # default settings, no resources needed
>>> scene = boxes.reconstruct(capture)                  # a Scene; nothing written
>>> scene = run_to_folder(capture, tmp / "scene", boxes, preview=False)
>>> [p.name for p in sorted((tmp / "scene").iterdir())]
['scene.glb', 'scene.json']
>>> read_scene(tmp / "scene").method["name"]
'boxes'

Settings are the method's own dataclass, built the way the command line builds them:

>>> from scenewright import build_settings
>>> build_settings(get_method("boxes").Settings, overrides=["percentile=5"]).percentile
5.0
"""

import importlib

__version__ = "0.1.0"

from scenewright.errors import InputError, ScenewrightError  # noqa: E402,F401

# name → module that defines it (imported when the name is first used).
_API = {
    "load_capture": "scenewright.capture", "Capture": "scenewright.capture",
    "read_scene": "scenewright.scene", "write_scene": "scenewright.scene", "Scene": "scenewright.scene",
    "get_method": "scenewright.methods.registry", "method_names": "scenewright.methods.registry",
    "register_method": "scenewright.methods.registry",
    "Method": "scenewright.methods.base", "Resources": "scenewright.methods.base",
    "run_to_folder": "scenewright.run", "reconstruct": "scenewright.api",
    "export_scene": "scenewright.export", "ExportSettings": "scenewright.export",
    "build_settings": "scenewright.settings", "describe_settings": "scenewright.settings",
}
__all__ = ["InputError", "ScenewrightError", *_API]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'scenewright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
