"""Photographic benchmark variant: every scene re-rendered with Blender Cycles.

``photoreal_bench(bench, out, settings)`` copies a benchmark folder and replaces only each
capture's ``rgb.png`` by a Cycles path-traced render of the same ground-truth scene from
the same camera (``gt/`` exported with :func:`scenewright.export.blend.write_blend`, so the
geometry, textures and lens are those of the ``.blend`` export). ``seg.png``,
``depth.npy``, ``camera.json``, ``instances.json`` and ``gt/`` are kept byte for byte.

What changes in the picture, scene ``i`` drawing from ``numpy.random.default_rng([seed, i])``:

- light: one ceiling area light (0.5–1.5 m square, soft shadows), one or two point lamps
  (radius 5–15 cm, 1.2–2.2 m high, warm), and with probability ½ a window-sized area
  light on a wall (cool daylight); colours from colour temperatures 2700–6500 K, white
  balanced as a camera would (divided by their power-weighted mix: lamps stay warmer than
  daylight, the picture is not orange);
- materials: every object's Principled BSDF gets a roughness drawn in
  ``gloss_roughness`` (highlights and blurred reflections), the floor a glossier one
  (``floor_roughness``); walls and ceiling stay matte;
- film: Cycles with ``samples`` paths per pixel, OpenImageDenoise, the AgX view transform;
- exposure: metered from the linear render (``key`` / log-average luminance, in stops)
  plus an offset uniform in ``±exposure_range`` stops — under- and over-exposed pictures.

Every render is checked against the capture's masks: a second Cycles render of the same
file (one sample per pixel at the pixel centre, every object an emitter whose strength is
its instance id, the room an occluder of strength 0) gives the rendered silhouettes; the
mean per-instance IoU with ``seg.png`` must reach ``min_iou`` (0.98), else the scene is an
error — its ground truth would no longer describe its picture.

The output is written scene by scene (each scene folder renamed into place when complete)
and ``OUT/photoreal.json`` records the settings first, so running the same command again
skips the scenes already rendered; ``OUT/manifest.json`` (the benchmark's manifest plus
``photoreal``: settings, per-scene draws, IoUs and timings) is written last. Objects the
generator left out of the ground truth (under 0.1 % of the pixels) are not in ``gt/``
and so not in the re-rendered picture either; ``seg.png`` reads 0 there already.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenewright.errors import InputError
from scenewright.fileio import (check_output_dir, dumps_json, give_umask_mode, move_aside,
                                remove_stale_temporaries, temp_dir_beside, write_json)

PHOTOREAL_VERSION = "1"
RECORD = "photoreal.json"


@dataclass
class PhotorealSettings:
    """Everything that decides a photoreal render; recorded in ``OUT/photoreal.json`` and the manifest."""

    samples: int = 16                                  # Cycles paths per pixel (then denoised)
    exposure_range: float = 1.0                        # offset uniform in ±this many stops
    seed: int = 0                                      # scene i draws from default_rng([seed, i])
    view_transform: str = "AgX"                        # Blender's filmic successor
    denoise: bool = True                               # OpenImageDenoise after sampling
    max_bounces: int = 4                               # light path depth (diffuse + glossy)
    key: float = 0.18                                  # metered log-average luminance → mid grey
    gloss_roughness: tuple[float, float] = (0.15, 0.55)   # objects' roughness, uniform
    floor_roughness: tuple[float, float] = (0.2, 0.45)
    wall_roughness: float = 0.85
    ceiling_light_w: tuple[float, float] = (150.0, 400.0)   # area light power, W
    lamp_w: tuple[float, float] = (40.0, 150.0)             # each point lamp, W
    window_w: tuple[float, float] = (200.0, 600.0)          # the wall "window", W
    window_probability: float = 0.5
    white_balance: bool = True                         # light colours divided by their power-weighted mix
    min_iou: float = 0.98                              # rendered silhouettes vs seg.png, mean per instance
    threads: int = 0                                   # Cycles render threads (0: all cores)

    def validate(self) -> None:
        if not isinstance(self.samples, int) or not 1 <= self.samples <= 4096:
            raise InputError(f"--samples must be an integer in 1..4096 (got {self.samples})")
        if not (np.isfinite(self.exposure_range) and 0 <= self.exposure_range <= 6):
            raise InputError(f"--exposure-range must be within 0..6 stops (got {self.exposure_range})")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer (got {self.seed})")
        if not 0 < self.min_iou <= 1:
            raise InputError(f"min_iou must be in (0, 1] (got {self.min_iou})")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# colour temperature (K) → linear RGB, normalised to max 1 (Planckian locus, sampled)
_KELVIN_RGB = {2700: (1.0, 0.62, 0.33), 3000: (1.0, 0.67, 0.40), 3500: (1.0, 0.74, 0.51),
               4000: (1.0, 0.80, 0.61), 5000: (1.0, 0.89, 0.79), 6500: (0.95, 0.97, 1.0)}


def kelvin_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear RGB (max 1) of a black body at ``kelvin`` (2700–6500 K), interpolated from a table."""
    ks = sorted(_KELVIN_RGB)
    k = float(np.clip(kelvin, ks[0], ks[-1]))
    rgb = [float(np.interp(k, ks, [_KELVIN_RGB[t][c] for t in ks])) for c in range(3)]
    return tuple(v / max(rgb) for v in rgb)


@dataclass
class LightRig:
    """The drawn lights and looks of one scene (world frame: Y up, metres)."""

    lights: list[dict]
    roughness: dict[str, float]        # object node name → roughness
    floor_roughness: float
    exposure_offset: float             # stops added to the metered exposure

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def draw_rig(rng: np.random.Generator, room_bounds: np.ndarray, nodes: list[str],
             settings: PhotorealSettings) -> LightRig:
    """Lights, roughness and exposure offset of one scene.

    ``room_bounds`` (2, 3): min / max corner of the room (floor, walls, ceiling), Y up.
    """
    lo, hi = np.asarray(room_bounds, float)
    inset = 0.4
    x0, x1 = lo[0] + inset, hi[0] - inset
    z0, z1 = lo[2] + inset, hi[2] - inset
    ceiling = hi[1]
    lights = []
    size = float(rng.uniform(0.5, 1.5))
    lights.append({"type": "AREA", "position": [float(rng.uniform(x0, x1) * 0.5), ceiling - 0.02,
                                                float(rng.uniform(z0, z1) * 0.5)],
                   "direction": [0.0, -1.0, 0.0], "size": [size, size],
                   "power_w": float(rng.uniform(*settings.ceiling_light_w)),
                   "kelvin": float(rng.uniform(3000, 5000))})
    for _ in range(int(rng.integers(1, 3))):
        lights.append({"type": "POINT", "position": [float(rng.uniform(x0, x1)), float(rng.uniform(1.2, 2.2)),
                                                     float(rng.uniform(z0, z1))],
                       "radius": float(rng.uniform(0.05, 0.15)),
                       "power_w": float(rng.uniform(*settings.lamp_w)),
                       "kelvin": float(rng.uniform(2700, 3500))})
    if rng.random() < settings.window_probability:
        wall = int(rng.integers(4))
        # walls counter-clockwise from z = min: inward normals +z, -x, -z, +x
        normal = [(0, 0, 1), (-1, 0, 0), (0, 0, -1), (1, 0, 0)][wall]
        centre = np.array([(lo[0] + hi[0]) / 2, 1.5, (lo[2] + hi[2]) / 2])
        along = float(rng.uniform(-0.3, 0.3))
        if wall in (0, 2):
            centre[2] = lo[2] + 0.02 if wall == 0 else hi[2] - 0.02
            centre[0] += along * (hi[0] - lo[0])
        else:
            centre[0] = hi[0] - 0.02 if wall == 1 else lo[0] + 0.02
            centre[2] += along * (hi[2] - lo[2])
        lights.append({"type": "AREA", "position": centre.tolist(), "direction": [float(v) for v in normal],
                       "size": [1.2, 1.0], "power_w": float(rng.uniform(*settings.window_w)),
                       "kelvin": float(rng.uniform(5000, 6500))})
    colours = np.array([kelvin_rgb(light["kelvin"]) for light in lights])
    if settings.white_balance:       # as a camera's auto white balance: the lights' mix comes out grey
        mix = (np.array([light["power_w"] for light in lights])[:, None] * colours).sum(0)
        colours = colours / (mix / mix.max())
        colours = colours / colours.max()
    for light, colour in zip(lights, colours):
        light["color"] = [float(c) for c in colour]
    roughness = {n: float(rng.uniform(*settings.gloss_roughness)) for n in nodes}
    return LightRig(lights=lights, roughness=roughness,
                    floor_roughness=float(rng.uniform(*settings.floor_roughness)),
                    exposure_offset=float(rng.uniform(-settings.exposure_range, settings.exposure_range)))


def log_average_luminance(linear_rgb: np.ndarray) -> float:
    """exp(mean(log(ε + L))) of an (H, W, 3) linear image, L = Rec. 709 luminance."""
    lum = linear_rgb[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    return float(np.exp(np.mean(np.log(1e-4 + np.maximum(lum, 0.0)))))


def silhouette_iou(rendered: np.ndarray, seg: np.ndarray) -> dict[int, float]:
    """Per instance id of ``seg`` (H, W int, 0 = none): IoU of its pixels with those of ``rendered``."""
    out = {}
    for iid in np.unique(seg[seg > 0]):
        a, b = rendered == iid, seg == iid
        out[int(iid)] = float((a & b).sum() / max(int((a | b).sum()), 1))
    return out


# ---------------------------------------------------------------------------------
# Blender side


@contextlib.contextmanager
def blender_output_to(log: Path):
    """Send everything Blender prints (C and Python, stdout and stderr) to the file ``log``.

    Cycles reports every tile and sample; a failure is raised with the log's last lines.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        try:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            with contextlib.redirect_stdout(sys.stderr):
                yield
        except RuntimeError as exc:
            sys.stdout.flush()
            sys.stderr.flush()
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"{exc}\nBlender said:\n" + "\n".join(tail)) from None
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _blender_vec(v) -> tuple[float, float, float]:
    """World point / direction, Y up (glTF) → Blender, Z up."""
    x, y, z = (float(c) for c in v)
    return (x, -z, y)


def _add_lights(bpy, bscene, rig: LightRig) -> None:
    from mathutils import Vector
    for k, spec in enumerate(rig.lights):
        data = bpy.data.lights.new(f"light_{k}", type=spec["type"])
        data.energy = spec["power_w"]
        data.color = spec["color"]
        if spec["type"] == "AREA":
            data.shape = "RECTANGLE"
            data.size, data.size_y = spec["size"]
        else:
            data.shadow_soft_size = spec["radius"]
        obj = bpy.data.objects.new(f"light_{k}", data)
        bscene.collection.objects.link(obj)
        obj.location = _blender_vec(spec["position"])
        if "direction" in spec:          # Blender lights shine down their local −Z
            obj.rotation_mode = "QUATERNION"
            obj.rotation_quaternion = Vector(_blender_vec(spec["direction"])).to_track_quat("-Z", "Y")


def _principled(obj):
    for slot in obj.material_slots:
        mat = slot.material
        if mat is not None and mat.node_tree is not None:
            for node in mat.node_tree.nodes:
                if node.type == "BSDF_PRINCIPLED":
                    yield node


def _set_materials(bpy, rig: LightRig, settings: PhotorealSettings) -> None:
    for obj in bpy.data.objects:
        if obj.type != "MESH":
            continue
        if obj.name in rig.roughness:
            rough = rig.roughness[obj.name]
        elif obj.name == "floor":
            rough = rig.floor_roughness
        else:
            rough = settings.wall_roughness
        for bsdf in _principled(obj):
            bsdf.inputs["Roughness"].default_value = rough


def _cycles(bscene, samples: int, settings: PhotorealSettings, seed: int) -> None:
    bscene.render.engine = "CYCLES"
    cy = bscene.cycles
    cy.device = "CPU"
    cy.samples = samples
    cy.use_adaptive_sampling = False
    cy.seed = seed
    cy.max_bounces = settings.max_bounces
    cy.diffuse_bounces = min(settings.max_bounces, 3)
    cy.glossy_bounces = min(settings.max_bounces, 3)
    cy.transparent_max_bounces = 8
    cy.caustics_reflective = cy.caustics_refractive = False
    bscene.render.threads_mode = "FIXED" if settings.threads else "AUTO"
    if settings.threads:
        bscene.render.threads = settings.threads
    bscene.render.use_persistent_data = False
    bscene.render.dither_intensity = 0.0


def _render_to_exr(bpy, bscene, path: Path) -> np.ndarray:
    """Render the open file to a float EXR at ``path``; (H, W, 4) linear pixels, top row first."""
    fmt = bscene.render.image_settings
    fmt.file_format = "OPEN_EXR"
    fmt.color_depth = "32"
    fmt.exr_codec = "ZIP"
    bscene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(str(path))
    try:
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1]


def _id_material(bpy):
    """Emission = the object's pass index (its instance id), so a pixel's value is the id it sees."""
    mat = bpy.data.materials.new("instance_id")
    if mat.node_tree is None:
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    info = nodes.new("ShaderNodeObjectInfo")
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(info.outputs["Object Index"], emit.inputs["Strength"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def render_instance_ids(bpy, bscene, path: Path) -> np.ndarray:
    """(H, W) int: the instance id Cycles sees at each pixel centre of the open file (0: none/room)."""
    for obj in bpy.data.objects:
        if obj.type == "MESH":
            obj.pass_index = int(obj.get("instance_id", 0))
        elif obj.type == "LIGHT":
            obj.hide_render = True
    bpy.context.view_layer.material_override = _id_material(bpy)
    cy = bscene.cycles
    cy.samples = 1
    cy.use_denoising = False
    cy.filter_width = 0.01              # one ray through each pixel centre, as the rasteriser samples
    cy.max_bounces = 0
    bscene.view_settings.view_transform = "Raw"
    bscene.view_settings.exposure = 0.0
    bscene.world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
    pixels = _render_to_exr(bpy, bscene, path)
    return np.rint(pixels[..., 0]).astype(np.int64)


def render_photoreal(scene, source: Path, rgb_path: Path, rig: LightRig, settings: PhotorealSettings, seed: int,
                     work: Path) -> dict:
    """Render ``scene`` (a Scene with room and camera, read from ``source``) with ``rig`` to ``rgb_path``.

    ``rgb_path``: an 8-bit sRGB PNG. ``work``: a folder for the intermediate .blend and EXR
    files. Returns the metered and applied exposure (stops), the (H, W) instance ids Cycles
    sees at the pixel centres, and timings.
    """
    import bpy
    from scenewright.export import ExportSettings
    from scenewright.export.blend import write_blend
    t0 = time.perf_counter()
    with blender_output_to(work / "blender.log"):
        write_blend(scene, work / "scene.blend", ExportSettings(), source=str(source))
    bscene = bpy.context.scene
    t_export = time.perf_counter() - t0
    try:
        bscene.view_settings.view_transform = settings.view_transform
    except TypeError as exc:         # the message lists the view transforms this Blender knows
        raise InputError(f"view transform {settings.view_transform!r}: {exc}") from None
    t0 = time.perf_counter()
    for obj in [o for o in bscene.objects if o.type == "LIGHT"]:   # the exporter's preview-like lamps
        bpy.data.objects.remove(obj)
    _add_lights(bpy, bscene, rig)
    _set_materials(bpy, rig, settings)
    bscene.world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.05
    _cycles(bscene, settings.samples, settings, seed)
    bscene.cycles.use_denoising = settings.denoise
    if settings.denoise:
        bscene.cycles.denoiser = "OPENIMAGEDENOISE"
    bscene.view_settings.look = "None"
    bscene.view_settings.exposure = 0.0
    with blender_output_to(work / "blender.log"):
        linear = _render_to_exr(bpy, bscene, work / "linear.exr")
    t_render = time.perf_counter() - t0
    # exposure: the metered scene brought to the key, then the drawn offset
    metered = float(np.log2(settings.key / max(log_average_luminance(linear), 1e-6)))
    exposure = metered + rig.exposure_offset
    bscene.view_settings.exposure = exposure
    img = bpy.data.images.load(str(work / "linear.exr"))
    fmt = bscene.render.image_settings
    fmt.file_format, fmt.color_mode, fmt.color_depth = "PNG", "RGB", "8"
    fmt.compression = 15
    with blender_output_to(work / "blender.log"):
        img.save_render(str(rgb_path), scene=bscene)
    bpy.data.images.remove(img)
    t0 = time.perf_counter()
    with blender_output_to(work / "blender.log"):
        ids = render_instance_ids(bpy, bscene, work / "ids.exr")
    t_check = time.perf_counter() - t0
    with blender_output_to(work / "blender.log"):
        bpy.ops.wm.read_factory_settings(use_empty=True)
    return {"exposure_stops": exposure, "metered_stops": metered, "ids": ids,
            "timings_s": {"export": round(t_export, 3), "render": round(t_render, 3), "check": round(t_check, 3)}}


def without_duplicate_faces(mesh):
    """A copy of ``mesh`` keeping one of every set of triangles on the same three points.

    Models built "double-sided" carry each face twice with opposite windings; a ray tracer
    then shadows one with the other (black tops, lost handles). Cycles shades the back of a
    face like its front, so one copy gives the same picture and the same silhouette.
    """
    import trimesh
    tri = np.round(np.asarray(mesh.triangles, np.float64), 6)
    order = np.lexsort((tri[..., 2], tri[..., 1], tri[..., 0]), axis=1)     # corners in a fixed order
    keys = np.take_along_axis(tri, order[..., None], axis=1).reshape(len(tri), 9)
    _, first = np.unique(keys, axis=0, return_index=True)
    keep = np.zeros(len(tri), bool)
    keep[first] = True
    if keep.all():
        return mesh
    out = mesh.copy()
    out.update_faces(keep)
    if not isinstance(out, trimesh.Trimesh):
        raise TypeError("expected a Trimesh")
    return out


def _room_bounds(scene) -> np.ndarray:
    boxes = np.array([m.bounds for m in scene.room.values()])
    return np.array([boxes[:, 0].min(0), boxes[:, 1].max(0)])


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def photoreal_bench(bench, out, settings: PhotorealSettings | None = None, overwrite: bool = False,
                    progress: bool = True) -> dict:
    """Copy benchmark ``bench`` to ``out`` with every capture's rgb.png rendered by Cycles. Returns the manifest.

    Resumable: ``out`` holding ``photoreal.json`` with the same source and settings keeps its
    finished scenes (a scene folder exists only once complete) and renders the rest.
    """
    settings = settings or PhotorealSettings()
    settings.validate()
    bench, out = Path(bench), Path(out)
    man_path = bench / "manifest.json"
    if not man_path.is_file():
        raise InputError(f"{man_path}: not a benchmark folder (no manifest.json)")
    try:
        manifest = json.loads(man_path.read_text())
    except ValueError as exc:
        raise InputError(f"{man_path}: not valid JSON ({exc})") from None
    if "photoreal" in manifest:
        raise InputError(f"{man_path}: already a photoreal variant; render the original benchmark")
    names = list(manifest.get("scenes", []))
    for name in names:
        for part in ("capture/rgb.png", "capture/seg.png", "gt/scene.json", "gt/scene.glb"):
            if not (bench / name / part).is_file():
                raise InputError(f"{bench / name / part}: missing (benchmark scene {name})")
    record = {"format": f"photoreal/{PHOTOREAL_VERSION}", "from": str(bench.resolve()),
              "settings": settings.to_json(), "scenes": names}
    record = json.loads(dumps_json(record))          # as it reads back from the file (tuples → lists)
    old = _read_record(out / RECORD) if (out / RECORD).is_file() else None
    resume = old is not None and old == record and not overwrite
    previous = None                  # --overwrite: the old folder, kept aside until the new one is complete
    if not resume:
        check_output_dir(out, overwrite, inputs=[bench])
        if out.exists():
            previous = move_aside(out)
        out.mkdir(parents=True)
        give_umask_mode(out)
        (out / RECORD).write_text(dumps_json(record) + "\n")
        give_umask_mode(out / RECORD)
    remove_stale_temporaries(out)
    try:
        manifest = _render_all(bench, out, names, manifest, record, settings, progress)
    except BaseException:
        if previous is not None:     # nothing already there is lost
            shutil.rmtree(out, ignore_errors=True)
            os.replace(previous, out)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    return manifest


def _render_all(bench: Path, out: Path, names: list[str], manifest: dict, record: dict,
                settings: PhotorealSettings, progress: bool) -> dict:
    from scenewright.progress import make_progress
    per_scene: dict[str, dict] = {}
    t_start = time.perf_counter()
    with make_progress(progress, "photoreal", eta=True) as bar:
        task = bar.add_task("", total=len(names))
        for i, name in enumerate(names):
            done = out / name / "photoreal.json"
            if done.is_file():
                per_scene[name] = json.loads(done.read_text())
                bar.update(task, advance=1, description=f"{name} (done before)")
                continue
            bar.update(task, description=f"{name} rendering")
            tmp = temp_dir_beside(out / name)
            try:
                shutil.copytree(bench / name, tmp, dirs_exist_ok=True)
                per_scene[name] = _render_scene(bench / name, tmp, i, settings)
                (tmp / "photoreal.json").write_text(dumps_json(per_scene[name]) + "\n")
                _give_modes(tmp)
                os.replace(tmp, out / name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            s = per_scene[name]
            bar.update(task, advance=1, description=f"{name} {s['timings_s']['total']:.0f} s, "
                                                    f"IoU {s['iou_mean']:.3f}, {s['exposure_offset']:+.2f} EV")
        for extra in bench.iterdir():       # anything else at the top (READMEs...) comes along
            if extra.name not in names and extra.name != "manifest.json" and not (out / extra.name).exists():
                (shutil.copytree if extra.is_dir() else shutil.copy2)(extra, out / extra.name)
    times = [per_scene[n]["timings_s"]["total"] for n in names]
    manifest["photoreal"] = {**record, "per_scene": per_scene,
                             "iou_min": min(per_scene[n]["iou_min"] for n in names) if names else None,
                             "seconds_per_scene": float(np.mean(times)) if times else None,
                             "this_run_s": round(time.perf_counter() - t_start, 3)}
    write_json(out / "manifest.json", manifest)
    return manifest


def _give_modes(folder: Path) -> None:
    for p in folder.rglob("*"):
        give_umask_mode(p)
    give_umask_mode(folder)


def _render_scene(src: Path, dst: Path, index: int, settings: PhotorealSettings) -> dict:
    """Render scene folder ``src`` into the copy ``dst`` (its capture/rgb.png replaced); the scene's record."""
    from PIL import Image
    from scenewright.scene import read_scene
    t0, c0 = time.perf_counter(), time.process_time()
    scene = read_scene(src / "gt")
    if not scene.room or scene.camera is None or scene.camera.world_from_camera is None:
        raise InputError(f"{src / 'gt'}: the ground truth needs its room meshes and camera to be re-rendered")
    seg = np.asarray(Image.open(src / "capture" / "seg.png"))
    if seg.ndim != 2:
        raise InputError(f"{src / 'capture' / 'seg.png'}: expected instance ids (one channel)")
    if seg.shape != (scene.camera.height, scene.camera.width):
        raise InputError(f"{src / 'capture' / 'seg.png'}: {seg.shape[1]}×{seg.shape[0]} pixels, "
                         f"the gt camera {scene.camera.width}×{scene.camera.height}")
    for inst in scene.instances:
        if inst.mesh is not None:
            inst.mesh = without_duplicate_faces(inst.mesh)
    rng = np.random.default_rng([settings.seed, index])
    rig = draw_rig(rng, _room_bounds(scene), [i.node for i in scene.instances], settings)
    with tempfile.TemporaryDirectory(prefix="photoreal-") as work:
        result = render_photoreal(scene, src / "gt", dst / "capture" / "rgb.png", rig, settings,
                                  seed=int(rng.integers(2 ** 31)), work=Path(work))
    iou = silhouette_iou(result["ids"], seg)
    mean_iou = float(np.mean(list(iou.values()))) if iou else 1.0
    if mean_iou < settings.min_iou:
        worst = min(iou, key=iou.get)
        raise InputError(f"{src}: the Cycles render's silhouettes match seg.png with mean IoU {mean_iou:.3f} "
                           f"< {settings.min_iou} (worst: instance {worst}, {iou[worst]:.3f}); "
                           "its ground truth would not describe the picture")
    # wall time is what a user waits; CPU time (all of Cycles' threads) what it costs on a shared machine
    timings = {**result["timings_s"], "total": round(time.perf_counter() - t0, 3),
               "cpu": round(time.process_time() - c0, 3)}
    return {"lights": rig.lights, "roughness": rig.roughness, "floor_roughness": rig.floor_roughness,
            "exposure_offset": rig.exposure_offset, "metered_stops": result["metered_stops"],
            "exposure_stops": result["exposure_stops"], "iou": {str(k): v for k, v in iou.items()},
            "iou_mean": mean_iou, "iou_min": min(iou.values()) if iou else 1.0, "timings_s": timings}
