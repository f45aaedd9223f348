"""A toy benchmark of primitive furniture, for testing and timing the evaluator on its own.

Rooms of boxes and cylinders standing on the floor (some with a small object on top),
seen by a pinhole camera. Captures (rgb, seg, depth, camera) are ray cast with trimesh,
so this needs neither the renderer nor an asset library. Written in the benchmark folder
layout of the shared scene-format doc: ``manifest.json`` + ``scene_XXXX/{capture,gt}``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import trimesh

from scenewright.capture import intrinsics_from_hfov
from scenewright.capture import Capture, write_capture
from scenewright.fileio import atomic_dir, dumps_json
from scenewright.geometry.transforms import look_at
from scenewright.scene import Camera, Instance, Scene, write_scene

# (category, shape, (width, height, depth) ranges in metres); "small" ones go on top of supports.
FURNITURE = [
    ("cabinet", "box", ((0.6, 1.2), (0.5, 0.9), (0.35, 0.5))),
    ("coffee_table", "box", ((0.8, 1.2), (0.35, 0.45), (0.5, 0.7))),
    ("wardrobe", "box", ((0.8, 1.2), (1.6, 2.0), (0.5, 0.6))),
    ("armchair", "box", ((0.7, 0.9), (0.7, 0.9), (0.7, 0.9))),
    ("stool", "cylinder", ((0.35, 0.45), (0.45, 0.7), None)),
    ("floor_lamp", "cylinder", ((0.25, 0.35), (1.3, 1.7), None)),
]
SMALL = [("vase", "cylinder", ((0.1, 0.2), (0.2, 0.35), None)),
         ("book", "box", ((0.15, 0.25), (0.03, 0.06), (0.2, 0.3)))]


@dataclass
class ToyBenchSettings:
    n_scenes: int = 3
    objects_per_scene: int = 6        # floor objects; plus up to 2 small ones on supports
    width: int = 160
    height: int = 120
    hfov_deg: float = 60.0
    seed: int = 0


def object_mesh(shape: str, size: tuple[float, float, float]) -> trimesh.Trimesh:
    """Primitive in the library object frame: Y up, centred in x and z, lowest point y = 0."""
    w, h, d = size
    if shape == "box":
        mesh = trimesh.creation.box(extents=(w, h, d))
    else:
        mesh = trimesh.creation.cylinder(radius=w / 2, height=h, sections=24)
        mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    mesh.apply_translation([0.0, h / 2, 0.0])
    return mesh


def _sample_size(rng, ranges):
    w = rng.uniform(*ranges[0])
    h = rng.uniform(*ranges[1])
    d = rng.uniform(*ranges[2]) if ranges[2] is not None else w
    return (w, h, d)


def random_scene(rng: np.random.Generator, settings: ToyBenchSettings) -> Scene:
    """A room of non-overlapping floor objects (yaw only), plus small objects on supports."""
    instances, footprints = [], []
    next_id = 1
    attempts = 0
    while len(instances) < settings.objects_per_scene and attempts < 500:
        attempts += 1
        cat, shape, ranges = FURNITURE[rng.integers(len(FURNITURE))]
        size = _sample_size(rng, ranges)
        yaw = rng.uniform(-np.pi, np.pi)
        pos = np.array([rng.uniform(-1.6, 1.6), 0.0, rng.uniform(-1.8, 0.6)])
        radius = 0.5 * np.hypot(size[0], size[2])
        if any(np.hypot(*(pos - p)[[0, 2]]) < radius + r + 0.05 for p, r in footprints):
            continue
        footprints.append((pos, radius))
        T = trimesh.transformations.rotation_matrix(yaw, [0, 1, 0])
        T[:3, 3] = pos
        instances.append(Instance(id=next_id, mesh=object_mesh(shape, size), world_from_object=T,
                                  label=cat.replace("_", " "), category=cat,
                                  asset_id=f"toy/{cat}_{shape}", size=list(size)))
        next_id += 1
    supports = [i for i in instances if i.category in ("cabinet", "coffee_table")]
    for sup in supports[:2]:
        cat, shape, ranges = SMALL[rng.integers(len(SMALL))]
        size = _sample_size(rng, ranges)
        top = float(sup.world_mesh().bounds[1, 1])
        T = trimesh.transformations.rotation_matrix(rng.uniform(-np.pi, np.pi), [0, 1, 0])
        T[:3, 3] = sup.world_from_object[:3, 3] + [0.0, top, 0.0]
        instances.append(Instance(id=next_id, mesh=object_mesh(shape, size), world_from_object=T,
                                  label=cat, category=cat, asset_id=f"toy/{cat}_{shape}", size=list(size)))
        next_id += 1
    return Scene(instances=instances, floor={"normal": [0.0, 1.0, 0.0], "height": 0.0},
                 method={"name": "toy-bench", "version": "1", "settings": asdict(settings)})


def ray_cast_capture(scene: Scene, K: np.ndarray, world_from_camera: np.ndarray, width: int,
                     height: int) -> Capture:
    """Capture of ``scene`` from a pinhole camera: seg (ids), depth (z, metres), flat-shaded rgb.

    Pixel (u, v) is sampled at its centre (u + 0.5, v + 0.5), matching cx = W/2. The floor
    (a large quad at y = 0) is background: id 0 with depth.
    """
    floor = trimesh.Trimesh([[-50, 0, -50], [50, 0, -50], [50, 0, 50], [-50, 0, 50]],
                            [[0, 2, 1], [0, 3, 2]], process=False)
    meshes = [floor] + [i.world_mesh() for i in scene.instances]
    ids = [0] + [i.id for i in scene.instances]
    face_owner = np.concatenate([np.full(len(m.faces), k) for k, m in enumerate(meshes)])
    combined = trimesh.util.concatenate(meshes)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    dirs_cam = pix @ np.linalg.inv(K).T
    R, eye = world_from_camera[:3, :3], world_from_camera[:3, 3]
    dirs = dirs_cam @ R.T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origins = np.tile(eye, (len(dirs), 1))
    locs, index_ray, index_tri = combined.ray.intersects_location(origins, dirs, multiple_hits=False)
    seg = np.zeros(width * height, np.int32)
    depth = np.full(width * height, np.nan, np.float32)
    seg[index_ray] = np.asarray(ids)[face_owner[index_tri]]
    depth[index_ray] = ((locs - eye) @ R)[:, 2]
    normals = combined.face_normals[index_tri]
    shade = 0.35 + 0.65 * np.abs(normals @ -R[:, 2])
    palette = np.random.default_rng(7).integers(60, 255, (max(ids) + 1, 3))
    palette[0] = (200, 190, 170)
    rgb = np.zeros((width * height, 3), np.uint8)
    rgb[index_ray] = (palette[seg[index_ray]] * shade[:, None]).astype(np.uint8)
    labels = {i.id: i.label or "" for i in scene.instances}
    return Capture(rgb=rgb.reshape(height, width, 3), K=K, seg=seg.reshape(height, width),
                   depth=depth.reshape(height, width), labels=labels, camera_is_default=False)


def make_toy_bench(folder: str | os.PathLike, settings: ToyBenchSettings | None = None,
                   overwrite: bool = False) -> Path:
    """Write a toy benchmark folder; instances not visible in the capture are dropped from gt."""
    settings = settings or ToyBenchSettings()
    rng = np.random.default_rng(settings.seed)
    K = intrinsics_from_hfov(settings.width, settings.height, settings.hfov_deg)
    names = []
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        for k in range(settings.n_scenes):
            scene = random_scene(rng, settings)
            eye = [rng.uniform(-0.5, 0.5), rng.uniform(1.5, 2.0), rng.uniform(3.2, 3.8)]
            wfc = look_at(eye, [0.0, 0.3, -0.6])
            cap = ray_cast_capture(scene, K, wfc, settings.width, settings.height)
            visible = set(np.unique(cap.seg).tolist())
            scene.instances = [i for i in scene.instances if i.id in visible]
            cap.labels = {i: l for i, l in cap.labels.items() if i in visible}
            scene.camera = Camera(K=K, width=settings.width, height=settings.height, world_from_camera=wfc)
            name = f"scene_{k:04d}"
            write_capture(cap, tmp / name / "capture")
            write_scene(scene, tmp / name / "gt")
            names.append(name)
        (tmp / "manifest.json").write_text(dumps_json(
            {"format": "bench/1", "scenes": names, "library": "toy primitives (scenewright.testing.toy_bench)",
             "generator": {"name": "make_toy_bench", **asdict(settings)}}) + "\n")
    return Path(folder)
