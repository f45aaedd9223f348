"""The benchmark generator: furnished rooms, rendered captures and their ground truth.

``make_bench(out, library, settings)`` writes a benchmark folder (shared
``scene-format.md``, "Benchmark folder")::

    out/manifest.json          format bench/1, scenes, library path + version, settings, timings
    out/scene_0000/capture/    rgb.png, seg.png, instances.json, depth.npy, camera.json
    out/scene_0000/gt/         scene.glb + scene.json (instances, floor, walls, relations,
                               camera, room meshes, attribution)

Scene ``i`` draws everything from ``numpy.random.default_rng([seed, i])``, so a seed
gives the same files (timings aside) and one scene can be remade alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenewright import __version__
from scenewright.bench.camera import CameraPose, CameraSettings, sample_cameras
from scenewright.bench.furnish import AssetPool, FurnishSettings, Placed, RoomFurnisher, pool_from_records
from scenewright.bench.themes import THEMES, pick_label
from scenewright.capture import Capture, write_capture
from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, check_output_dir, dumps_json
from scenewright.geometry.room import Room, plank_texture, room_meshes, room_walls
from scenewright.library import Library
from scenewright.progress import make_progress
from scenewright.render import RenderItem
from scenewright.render import Renderer
from scenewright.scene import Camera, Instance, Relation, Scene, write_scene

BENCH_FORMAT = "bench/1"
MAX_SIZE = 4096

FLOOR_COLOURS = [(150, 111, 76), (176, 138, 96), (120, 84, 58), (188, 170, 150), (110, 110, 112),
                 (200, 190, 170)]
WALL_COLOURS = [(228, 222, 210), (214, 222, 226), (232, 226, 196), (210, 218, 204), (236, 232, 228),
                (222, 204, 196)]


@dataclass
class BenchSettings:
    """Everything that decides a benchmark; recorded in ``manifest.json``."""

    scenes: int = 10
    seed: int = 0
    size: int = 512                                  # square images, pixels
    objects: tuple[int, int] = (4, 10)               # objects per room (before the visibility cut)
    themes: tuple[str, ...] = ("living", "bedroom", "dining", "office")
    room_width: tuple[float, float] = (3.5, 6.0)     # x, metres
    room_depth: tuple[float, float] = (3.0, 5.0)     # z, metres
    wall_height: float = 2.6
    assets_from: tuple[str, ...] | None = None       # catalogs that furnish rooms (None = all)
    min_visible: int = 3                             # reject views showing fewer objects
    min_truncated: int = 0                           # reject views with fewer objects cut by the image frame
    min_pixel_fraction: float = 0.001                # instances below this are dropped from the gt
    label_name_probability: float = 0.4              # label from the asset name, else a synonym
    attempts: int = 6                                # rooms tried per scene before giving up
    renders_per_room: int = 4                        # best cameras rendered per room
    wood_floor_probability: float = 0.6              # else a plain coloured floor
    layout: FurnishSettings = field(default_factory=FurnishSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)

    def validate(self) -> None:
        """InputError for settings that cannot make a benchmark."""
        if not isinstance(self.scenes, int) or self.scenes < 1:
            raise InputError(f"--scenes must be at least 1 (got {self.scenes})")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer (got {self.seed})")
        if not 32 <= self.size <= MAX_SIZE:
            raise InputError(f"--size must be between 32 and {MAX_SIZE} pixels (got {self.size})")
        lo, hi = self.objects
        if not 1 <= lo <= hi <= 40:
            raise InputError(f"--objects must be a range 1 ≤ min ≤ max ≤ 40 (got {lo}-{hi})")
        unknown = [t for t in self.themes if t not in THEMES]
        if unknown or not self.themes:
            raise InputError(f"unknown room theme(s) {unknown}; known: {sorted(THEMES)}")
        if not (0 < self.room_width[0] <= self.room_width[1] and 0 < self.room_depth[0] <= self.room_depth[1]):
            raise InputError(f"room sizes must be positive ranges (got {self.room_width}, {self.room_depth})")
        if self.min_visible < 1 or self.min_visible > hi:
            raise InputError(f"--min-visible {self.min_visible} must be within 1..{hi} (the --objects maximum)")
        if not 0 <= self.min_truncated <= self.min_visible:
            raise InputError(f"--min-truncated {self.min_truncated} must be within 0..{self.min_visible} "
                             f"(the --min-visible count)")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class GeneratedScene:
    """One benchmark scene in memory: the capture and the ground-truth scene."""

    capture: Capture
    gt: Scene
    info: dict
    timings_s: dict


def library_version(lib) -> str:
    """The library's own version string, else a digest of its assets' ids and content hashes
    (so two builds of the same assets give the same version)."""
    version = lib.info.get("version") if isinstance(getattr(lib, "info", None), dict) else None
    if version:
        return str(version)
    text = "\n".join(f"{r.asset_id}:{getattr(r, 'content_hash', '')}"
                     for r in sorted(lib.records, key=lambda r: r.asset_id))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def asset_pool(lib, assets_from: tuple[str, ...] | None, library_path) -> AssetPool:
    """The library's assets grouped by category, restricted to ``assets_from`` catalogs."""
    if not lib.records:
        raise InputError(f"{library_path}: the library has no assets")
    catalogs = sorted({r.asset_id.split("/", 1)[0] for r in lib.records})
    if assets_from is not None:
        unknown = [c for c in assets_from if c not in catalogs]
        if unknown:
            raise InputError(f"{library_path}: unknown catalog(s) {unknown} for --assets-from; "
                             f"the library has {catalogs}")
    def mesh(asset_id: str):
        try:
            return lib.mesh(asset_id)
        except Exception as exc:     # a damaged asset file: say which one
            raise InputError(f"{library_path}: cannot load the mesh of {asset_id} "
                             f"({type(exc).__name__}: {exc})") from None

    pool = pool_from_records(lib.records, mesh, list(assets_from) if assets_from else None)
    if not pool.by_category:
        raise InputError(f"{library_path}: no usable assets (catalogs {list(assets_from or catalogs)})")
    return pool


def visible_instances(placed: list[Placed], counts: np.ndarray, min_pixels: float) -> np.ndarray:
    """(N,) bool: objects kept in the ground truth — at least ``min_pixels`` pixels, and (for
    things on a support) a support that is kept too, so nothing in the gt floats."""
    keep = counts >= min_pixels
    for i, p in enumerate(placed):      # a support is always placed before what stands on it
        if p.support is not None and not keep[p.support]:
            keep[i] = False
    return keep


def cut_by_frame(instance_ids: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: objects 1..n whose visible pixels reach the image border, i.e. the frame cuts them.

    ``instance_ids``: (H, W) int render ids, 0 = none.
    """
    border = np.concatenate([instance_ids[0], instance_ids[-1], instance_ids[:, 0], instance_ids[:, -1]])
    return np.bincount(border.ravel(), minlength=n + 1)[1:n + 1] > 0


def _render_items(placed: list[Placed], room: dict, ids: list[int]):
    items = [RenderItem(mesh, np.eye(4), 0) for _, mesh in sorted(room.items())]
    items += [RenderItem(p.mesh, p.world_from_object, i) for p, i in zip(placed, ids)]
    return items


def generate_scene(index: int, pool: AssetPool, lib, renderer, settings: BenchSettings) -> GeneratedScene:
    """Furnish, photograph and label scene ``index`` (its randomness: ``default_rng([seed, index])``).

    Raises InputError when no room with enough visible objects comes out in
    ``settings.attempts`` tries (a library too small for the settings).
    """
    rng = np.random.default_rng([settings.seed, index])
    timings = {"layout": 0.0, "camera": 0.0, "render": 0.0}
    size, n_pix = settings.size, settings.size * settings.size
    best, best_cut_ok = None, False
    for attempt in range(settings.attempts):
        t0 = time.perf_counter()
        theme = settings.themes[int(rng.integers(len(settings.themes)))]
        room = Room(round(float(rng.uniform(*settings.room_width)), 3),
                    round(float(rng.uniform(*settings.room_depth)), 3), settings.wall_height)
        n_objects = int(rng.integers(settings.objects[0], settings.objects[1] + 1))
        furnisher = RoomFurnisher(rng, room, pool, settings.layout)
        placed = furnisher.furnish(theme, n_objects)
        timings["layout"] += time.perf_counter() - t0
        if len(placed) < min(settings.objects[0], settings.min_visible):
            continue
        t0 = time.perf_counter()
        floor_c = FLOOR_COLOURS[int(rng.integers(len(FLOOR_COLOURS)))]
        wall_c = WALL_COLOURS[int(rng.integers(len(WALL_COLOURS)))]
        shade = [1.0, 0.94, 0.97, 0.9]     # walls a little apart, so corners read in the image
        texture = plank_texture(rng, floor_c) if rng.random() < settings.wood_floor_probability else None
        surfaces = room_meshes(room, floor_colour=(*floor_c, 255),
                               wall_colours=[(*(int(c * s) for c in wall_c), 255) for s in shade],
                               ceiling_colour=(240, 240, 238, 255), floor_texture=texture)
        cameras = sample_cameras(rng, room, placed, size, size, settings.camera)
        timings["camera"] += time.perf_counter() - t0
        ids = list(range(1, len(placed) + 1))
        items = _render_items(placed, surfaces, ids)
        for cam in cameras[:settings.renders_per_room]:
            t0 = time.perf_counter()
            res = renderer.render(items, cam.K, cam.world_from_camera)
            timings["render"] += time.perf_counter() - t0
            counts = np.bincount(res.instance_ids.ravel(), minlength=len(placed) + 1)[1:]
            visible = visible_instances(placed, counts, settings.min_pixel_fraction * n_pix)
            cut_ok = int((cut_by_frame(res.instance_ids, len(placed)) & visible).sum()) >= settings.min_truncated
            # keep the view showing the most objects (ties: the better-scored, earlier one);
            # with --min-truncated, a view with enough objects cut by the frame comes first
            if best is None or (cut_ok, visible.sum()) > (best_cut_ok, best[-1].sum()):
                best, best_cut_ok = (theme, room, placed, surfaces, cam, res, counts, visible), cut_ok
            if visible.all() and cut_ok:
                break
        if best is not None and best[-1].sum() >= settings.min_visible and best_cut_ok:
            break
    if best is None or best[-1].sum() < settings.min_visible or not best_cut_ok:
        raise InputError(f"scene {index}: no room with at least {settings.min_visible} visible objects"
                         + (f" ({settings.min_truncated} cut by the frame)" if settings.min_truncated else "")
                         + f" in {settings.attempts} attempts (library too small for these settings?)")
    theme, room, placed, surfaces, cam, res, counts, visible = best
    t0 = time.perf_counter()
    capture, gt, info = _ground_truth(rng, lib, theme, room, placed, surfaces, cam, res, counts, visible,
                                      settings)
    timings["label"] = time.perf_counter() - t0
    info["attempts"] = attempt + 1
    info["cut_by_frame"] = int(cut_by_frame(capture.seg, len(gt.instances)).sum())
    return GeneratedScene(capture, gt, info, timings)


def _ground_truth(rng, lib, theme, room, placed, surfaces, cam: CameraPose, res, counts, visible,
                  settings: BenchSettings):
    """Capture + gt scene for the visible objects, renumbered 1..k in placement order."""
    keep = np.flatnonzero(visible)
    new_id = {int(i): k + 1 for k, i in enumerate(keep)}         # placed index → gt id
    lut = np.zeros(len(placed) + 1, np.int32)
    for i, k in new_id.items():
        lut[i + 1] = k
    seg = lut[res.instance_ids]
    labels, instances = {}, []
    for i, k in new_id.items():
        p = placed[i]
        ext = p.mesh.extents
        label = pick_label(rng, p.category, p.name, settings.label_name_probability,
                           footprint=(float(ext[0]), float(ext[2])))
        labels[k] = label
        instances.append(Instance(id=k, mesh=p.mesh, world_from_object=p.world_from_object, label=label,
                                  category=p.category, asset_id=p.asset_id,
                                  size=[float(ext[0]), float(ext[1]), float(ext[2])],
                                  extra={"pixels": int(counts[i])}))
    relations = []
    for i, k in new_id.items():
        p = placed[i]
        if p.support is not None and p.support in new_id:
            relations.append(Relation("on", subject=k, object=new_id[p.support]))
        if p.wall is not None:
            relations.append(Relation("against_wall", subject=k, wall=int(p.wall)))
        if p.facing is not None and p.facing in new_id:
            relations.append(Relation("facing", subject=k, object=new_id[p.facing]))
    groups: dict[int, list[int]] = {}
    for i, k in new_id.items():
        if placed[i].group is not None:
            groups.setdefault(placed[i].group, []).append(k)
    for g in sorted(groups):
        if len(groups[g]) >= 2:
            relations.append(Relation("same_asset_group", members=sorted(groups[g])))
    walls = [{"point": w.midpoint.tolist(), "normal": w.normal.tolist()} for w in room_walls(room)]
    used = sorted({p.asset_id for p in placed})
    camera = Camera(K=cam.K, width=settings.size, height=settings.size, world_from_camera=cam.world_from_camera)
    info = {"theme": theme, "room": dataclasses.asdict(room), "placed": len(placed), "visible": len(keep),
            "camera": {"height_m": cam.height, "pitch_deg": cam.pitch_deg, "hfov_deg": cam.hfov_deg}}
    gt = Scene(camera=camera, instances=instances, floor={"normal": [0.0, 1.0, 0.0], "height": 0.0},
               walls=walls, relations=relations,
               method={"name": "bench", "version": __version__, "settings": {"generator": BENCH_FORMAT}},
               room=dict(surfaces), attribution=[lib.attribution(a) for a in used],
               extra={"bench": info})
    depth = res.depth.astype(np.float32)
    capture = Capture(rgb=res.rgb, K=cam.K, seg=seg, depth=depth, labels=labels, camera_is_default=False)
    return capture, gt, info


def write_generated(scene: GeneratedScene, folder: Path) -> None:
    """``folder/capture`` and ``folder/gt`` (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_capture(scene.capture, folder / "capture")
    write_scene(scene.gt, folder / "gt")


def make_bench(out, library, settings: BenchSettings | None = None, overwrite: bool = False,
               progress: bool = True) -> dict:
    """Write a benchmark folder at ``out`` from the library folder ``library``; returns the manifest."""

    settings = settings or BenchSettings()
    settings.validate()
    out = Path(out)
    check_output_dir(out, overwrite, inputs=[library])       # before opening the library
    t_start = time.perf_counter()
    lib = Library.open(library)
    pool = asset_pool(lib, settings.assets_from, library)
    names = [f"scene_{i:04d}" for i in range(settings.scenes)]
    per_scene, scene_info = [], []
    with atomic_dir(out, overwrite=overwrite, inputs=[library]) as tmp, make_progress(progress, "bench") as bar:
        task = bar.add_task("", total=settings.scenes)
        with Renderer(settings.size, settings.size) as renderer:
            for i, name in enumerate(names):
                t0 = time.perf_counter()
                scene = generate_scene(i, pool, lib, renderer, settings)
                t1 = time.perf_counter()
                write_generated(scene, tmp / name)
                timings = {**{k: round(v, 4) for k, v in scene.timings_s.items()},
                           "write": round(time.perf_counter() - t1, 4),
                           "total": round(time.perf_counter() - t0, 4)}
                per_scene.append({"scene": name, **timings})
                scene_info.append({"scene": name, **scene.info})
                bar.update(task, advance=1, description=f"{name} {scene.info['theme']}")
        manifest = {"format": BENCH_FORMAT, "scenes": names, "library": str(Path(library).resolve()),
                    "library_version": library_version(lib),
                    "generator": {"name": "scenewright.bench", "version": __version__, **settings.to_json()},
                    "scene_info": scene_info,
                    "timings_s": {"total": round(time.perf_counter() - t_start, 4), "per_scene": per_scene}}
        (tmp / "manifest.json").write_text(dumps_json(manifest) + "\n")
    return manifest


