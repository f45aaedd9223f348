"""After MIDI's meshes: registration into the camera frame and photo textures, by settings.

The one hook the pipeline calls (``finish_scene``), so registration (:mod:`.register`) and
texturing (:mod:`.texture`) stay out of the inference code. With ``register="off"`` and
``texture="none"`` (the defaults) the scene is returned unchanged: MIDI's raw frame, as
the original writes it.
"""

from __future__ import annotations

import time
from pathlib import Path

from scenewright.errors import InputError


def check_finish_settings(settings) -> None:
    """InputError for register/texture settings that cannot work."""
    from scenewright.methods.midi.register import MODES
    from scenewright.methods.midi.texture import TEXTURE_MODES
    if settings.register not in MODES:
        raise InputError(f"register must be one of {', '.join(MODES)} (got {settings.register!r})")
    if settings.texture not in TEXTURE_MODES:
        raise InputError(f"texture must be one of {', '.join(TEXTURE_MODES)} (got {settings.texture!r})")
    if settings.texture == "photo" and settings.register == "off":
        raise InputError("texture=photo needs a registered scene (register auto, depth or masks): "
                         "the photo can only colour what is placed where the photo shows it")


def size_priors(library_path) -> dict:
    """{category: (n, 3) sizes of its assets} of an asset library folder, {} when there is none."""
    if library_path is None or not (Path(library_path) / "library.json").is_file():
        return {}
    from scenewright.library import Library
    from scenewright.methods.midi.register import category_sizes
    return category_sizes(Library.open(library_path))


def finish_scene(scene, capture, settings):
    """Register and texture ``scene`` (MIDI's raw scene of ``capture``) as ``settings`` say."""
    if settings.register == "off":
        return scene
    from scenewright.methods.midi.register import RegisterSettings, register, registered_scene
    t0 = time.perf_counter()
    meshes = {inst.id: inst.mesh for inst in scene.instances if inst.mesh is not None}
    reg = register(meshes, capture, RegisterSettings(mode=settings.register),
                   sizes=size_priors(settings.size_library))
    out = registered_scene(scene, capture, reg, plausibility=settings.plausibility)
    out.timings_s = dict(out.timings_s)
    out.timings_s["register"] = round(time.perf_counter() - t0, 4)
    if settings.texture == "photo":
        from scenewright.methods.midi.texture import texture_from_photo
        t0 = time.perf_counter()
        out, report = texture_from_photo(out, capture)
        out.extra["midi"]["texture"] = report
        out.timings_s["texture"] = round(time.perf_counter() - t0, 4)
    return out
