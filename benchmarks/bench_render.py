"""Renderer throughput: frames per second for rgb + instance ids + depth.

A ~100k-triangle scene (spheres with vertex colours, face colours and a texture) is
rendered from an orbit of cameras at 512 x 512, three ways:

- ``gpu cached``     — scenewright.render.Renderer, mesh buffers uploaded once (the default);
- ``gpu re-upload``  — the same, but preparing and uploading every mesh every frame
                        (``RenderSettings(cache_meshes=False)``), the obvious alternative;
- ``cpu embree``     — trimesh ray casting with Embree (one ray per pixel centre): ids and
                        depth only plus a Lambert shade, the no-OpenGL baseline.

The ids and depth of the two ways agree (reported as the share of pixels with equal ids
and the median depth difference), so the speeds compare like for like.

    .venv/bin/python benchmarks/bench_render.py [--size 512] [--frames 30] [--scene catalog]
                                                [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image


@dataclass
class BenchSettings:
    size: int = 512                  # image width = height, pixels
    frames: int = 30                 # frames per GPU mode
    cpu_frames: int = 3              # frames of the (slow) CPU baseline
    subdivisions: int = 5            # icosphere level: 20480 triangles per sphere
    n_objects: int = 5               # 5 x 20480 = 102400 triangles
    texture_side: int = 1024         # the asset library keeps textures up to 1024 px
    hfov_deg: float = 60.0
    seed: int = 0
    scene: str = "spheres"           # or "catalog": four textured Sweet Home 3D models (~113k tris)
    catalog: str = "/usr/share/sweethome3d/furniture/BlendSwap-CC-0.sh3f"
    catalog_models: tuple = ("bedWithTexture", "cartoon_biplane", "armchair", "caballito")


def make_scene(s: BenchSettings) -> list:
    """RenderItems of the benchmark scene: spheres in a row, mixed material kinds."""
    from scenewright.render import RenderItem

    rng = np.random.default_rng(s.seed)
    items = []
    for i in range(s.n_objects):
        sphere = trimesh.creation.icosphere(subdivisions=s.subdivisions, radius=0.45)
        kind = ("texture", "vertex", "face")[i % 3]
        if kind == "texture":
            v = sphere.vertices / 0.45
            uv = np.stack([np.arctan2(v[:, 0], v[:, 2]) / (2 * np.pi) + 0.5,
                           np.arcsin(np.clip(v[:, 1], -1, 1)) / np.pi + 0.5], axis=1)
            checker = (np.indices((s.texture_side, s.texture_side)) // 32).sum(axis=0) % 2
            img = np.where(checker[..., None] == 1, [220, 180, 60], [60, 90, 200]).astype(np.uint8)
            sphere.visual = trimesh.visual.TextureVisuals(
                uv=uv, material=trimesh.visual.material.SimpleMaterial(image=Image.fromarray(img)))
        elif kind == "vertex":
            sphere.visual.vertex_colors = rng.integers(0, 256, (len(sphere.vertices), 4), dtype=np.uint8)
        else:
            sphere.visual.face_colors = rng.integers(0, 256, (len(sphere.faces), 4), dtype=np.uint8)
        T = np.eye(4)
        T[:3, 3] = [(i - (s.n_objects - 1) / 2) * 1.0, 0.45, rng.uniform(-0.3, 0.3)]
        items.append(RenderItem(sphere, T, i + 1))
    return items


def make_catalog_scene(s: BenchSettings) -> list:
    """RenderItems of real textured furniture: OBJ + MTL + textures from a Sweet Home 3D catalog,
    loaded by trimesh, each scaled to a 1 m largest extent, side by side on y = 0."""
    import tempfile
    import zipfile

    from scenewright.render import RenderItem

    items, x = [], 0.0
    with zipfile.ZipFile(s.catalog) as zf, tempfile.TemporaryDirectory() as tmp:
        names = zf.namelist()
        for i, model in enumerate(s.catalog_models):
            folder = next(n for n in names if n.endswith(f"/{model}/"))
            zf.extractall(tmp, [n for n in names if n.startswith(folder)])
            mesh = trimesh.load(Path(tmp) / folder / f"{model}.obj", force="mesh")
            mesh.apply_scale(1.0 / mesh.extents.max())      # model units vary: 1 m largest extent
            lo, hi = mesh.bounds
            T = np.eye(4)
            T[:3, 3] = [x - lo[0], -lo[1], -(lo[2] + hi[2]) / 2]
            x += hi[0] - lo[0] + 0.2
            items.append(RenderItem(mesh, T, i + 1))
    for it in items:                      # centre the row on x = 0
        it.world_from_object[0, 3] -= x / 2
    return items


def orbit(s: BenchSettings, n: int, items) -> list[np.ndarray]:
    """``n`` world_from_camera poses (OpenCV) on an arc in front of the scene, looking at its
    centre from far enough to see all of it."""
    corners = np.concatenate([trimesh.transform_points(trimesh.bounds.corners(it.mesh.bounds),
                                                       it.world_from_object) for it in items])
    target = (corners.min(axis=0) + corners.max(axis=0)) / 2
    radius = np.linalg.norm(corners.max(axis=0) - corners.min(axis=0)) / 2
    distance = 1.05 * radius / np.sin(np.radians(s.hfov_deg) / 2)
    poses = []
    for a in np.linspace(-0.6, 0.6, n):
        eye = target + distance * np.array([np.sin(a), 0.35, np.cos(a)]) / np.linalg.norm([1, 0.35])
        z = (target - eye) / np.linalg.norm(target - eye)
        x = np.cross(z, [0, 1, 0])
        x /= np.linalg.norm(x)
        T = np.eye(4)
        T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, np.cross(z, x), z, eye
        poses.append(T)
    return poses


def run_gpu(items, K, poses, s: BenchSettings, cache: bool) -> tuple[dict, list]:
    from scenewright.render import Renderer, RenderSettings

    r = Renderer(s.size, s.size, RenderSettings(cache_meshes=cache))
    try:
        first = r.render(items, K, poses[0])           # warm-up (uploads when caching)
        stages = {"upload": 0.0, "draw": 0.0, "read": 0.0}
        results = []
        t0, c0 = time.perf_counter(), time.process_time()
        for T in poses:
            res = r.render(items, K, T)
            for k in stages:
                stages[k] += res.timings_s[k]
            results.append(res)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        r.release()
    n = len(poses)
    # "read" waits for llvmpipe to finish the frame: draw + read is the rendering time.
    return ({"fps": n / total, "ms_per_frame": 1000 * total / n, "cpu_ms_per_frame": 1000 * cpu / n,
             "stage_ms": {k: 1000 * v / n for k, v in stages.items()},
             "first_frame_ms": 1000 * sum(first.timings_s.values())}, results)


def run_cpu(items, K, poses, s: BenchSettings) -> tuple[dict, list]:
    """Embree ray casting through pixel centres: ids, depth, and a Lambert headlight shade."""
    from trimesh.ray.ray_pyembree import RayMeshIntersector

    meshes = [it.mesh.copy().apply_transform(it.world_from_object) for it in items]
    face_ids = np.concatenate([np.full(len(m.faces), it.instance_id, np.int32)
                               for m, it in zip(meshes, items)])
    world = trimesh.util.concatenate(meshes)
    t_build = time.perf_counter()
    caster = RayMeshIntersector(world)
    caster.intersects_first(np.zeros((1, 3)), np.array([[0, 0, 1.0]]))   # builds the BVH
    build = time.perf_counter() - t_build
    u, v = np.meshgrid(np.arange(s.size) + 0.5, np.arange(s.size) + 0.5)
    rays_cam = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    out = []
    t0, c0 = time.perf_counter(), time.process_time()
    for T in poses:
        dirs = rays_cam @ T[:3, :3].T
        origins = np.broadcast_to(T[:3, 3], dirs.shape)
        tri = caster.intersects_first(origins, dirs)
        hit = tri >= 0
        ids = np.zeros(len(tri), np.int32)
        ids[hit] = face_ids[tri[hit]]
        # depth along z: the ray has z = 1 in the camera frame, so z = distance along it
        n = world.face_normals[tri[hit]]
        d = dirs[hit]
        p0 = world.triangles[tri[hit], 0]
        t = np.einsum("ij,ij->i", p0 - T[:3, 3], n) / np.einsum("ij,ij->i", d, n)
        depth = np.full(len(tri), np.nan, np.float32)
        depth[hit] = t
        shade = np.zeros(len(tri), np.float32)
        shade[hit] = 0.35 + 0.45 * np.abs(np.einsum("ij,ij->i", n, d / np.linalg.norm(d, axis=1)[:, None]))
        out.append((ids.reshape(s.size, s.size), depth.reshape(s.size, s.size)))
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(poses)
    return {"fps": n / total, "ms_per_frame": 1000 * total / n, "cpu_ms_per_frame": 1000 * cpu / n,
            "bvh_build_ms": 1000 * build}, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=BenchSettings.size)
    p.add_argument("--frames", type=int, default=BenchSettings.frames)
    p.add_argument("--cpu-frames", type=int, default=BenchSettings.cpu_frames)
    p.add_argument("--subdivisions", type=int, default=BenchSettings.subdivisions,
                   help="icosphere level of the spheres scene (5: 20480 triangles each)")
    p.add_argument("--scene", choices=["spheres", "catalog"], default=BenchSettings.scene,
                   help="synthetic spheres, or real textured Sweet Home 3D furniture")
    p.add_argument("--out", default="benchmarks/results/bench_render.json")
    args = p.parse_args(argv)
    s = BenchSettings(size=args.size, frames=args.frames, cpu_frames=args.cpu_frames, scene=args.scene,
                      subdivisions=args.subdivisions)

    from rich.console import Console
    from rich.table import Table

    from scenewright.capture import intrinsics_from_hfov
    from scenewright.render.gl import gl_info

    console = Console(width=max(Console().width, 130))
    items = make_catalog_scene(s) if s.scene == "catalog" else make_scene(s)
    n_tri = sum(len(it.mesh.faces) for it in items)
    K = intrinsics_from_hfov(s.size, s.size, s.hfov_deg)
    poses = orbit(s, s.frames, items)
    console.print(f"scene {s.scene}: {len(items)} meshes, {n_tri} triangles; {s.size}x{s.size}; "
                  f"{s.frames} frames")

    rows = {}
    with console.status("gpu cached"):
        rows["gpu cached"], cached = run_gpu(items, K, poses, s, cache=True)
    with console.status("gpu re-upload"):
        rows["gpu re-upload"], _ = run_gpu(items, K, poses, s, cache=False)
    cpu_idx = list(range(0, len(poses), max(1, len(poses) // s.cpu_frames)))[: s.cpu_frames]
    cpu_poses = [poses[i] for i in cpu_idx]
    try:
        with console.status("cpu embree"):
            rows["cpu embree"], cpu = run_cpu(items, K, cpu_poses, s)
        agree, ddiff = [], []
        for (ids, depth), i in zip(cpu, cpu_idx):
            g = cached[i]
            agree.append(float(np.mean(ids == g.instance_ids)))
            both = np.isfinite(depth) & np.isfinite(g.depth)
            ddiff.append(float(np.median(np.abs(depth[both] - g.depth[both]))))
        rows["cpu embree"]["id_agreement_with_gpu"] = float(np.mean(agree))
        rows["cpu embree"]["median_depth_diff_m"] = float(np.median(ddiff))
    except ImportError as exc:          # embreex missing: no baseline
        console.print(f"cpu baseline skipped: {exc}")

    base = rows.get("cpu embree", rows["gpu re-upload"])["fps"]
    table = Table(title=f"render {s.size}x{s.size}, {s.scene}, {n_tri} triangles (rgb + ids + depth)")
    for col in ("mode", "fps", "ms/frame", "cpu ms/frame", "× baseline", "notes"):
        table.add_column(col, justify="right" if col != "mode" and col != "notes" else "left")
    for name, r in rows.items():
        notes = ""
        if "stage_ms" in r:
            notes = " ".join(f"{k} {v:.1f}" for k, v in r["stage_ms"].items()) + " ms"
        if "id_agreement_with_gpu" in r:
            notes = (f"ids agree {100 * r['id_agreement_with_gpu']:.2f}%, "
                     f"depth Δ {1000 * r['median_depth_diff_m']:.3f} mm; BVH {r['bvh_build_ms']:.0f} ms")
        table.add_row(name, f"{r['fps']:.1f}", f"{r['ms_per_frame']:.1f}", f"{r['cpu_ms_per_frame']:.0f}",
                      f"{r['fps'] / base:.1f}", notes)
    console.print(table)
    console.print("fps is wall clock on a shared machine; cpu ms/frame sums every thread (llvmpipe, "
                  "embree) and is the steadier measure of work. × baseline compares fps.")

    record = {"settings": asdict(s), "triangles": n_tri, "results": rows,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average": os.getloadavg(), "gl": gl_info()},
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
