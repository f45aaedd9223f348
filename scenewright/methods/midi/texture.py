"""Vertex colours from the input photo, on a CPU, for a registered scene.

Each mesh is coloured where the photo sees it: a vertex is seen when it projects inside the
image, the scene rendered from the input camera (the project's offscreen renderer: ids and
depth) shows this instance there at the vertex's depth (nothing in front of it), and the
capture's mask says the pixel is this instance. Its colour is the photo's, bilinearly
sampled. The unseen side is filled plausibly:

1. **symmetry** — for each vertical mirror plane through the object's centre along its
   footprint's principal axes under which the shape maps onto itself (median mirrored
   vertex within ``symmetry_tol`` × size of the mesh), an unseen vertex takes the colour of
   the seen vertex nearest to its mirror image;
2. **dominant visible colours** — the rest take the palette colour (k-means over the seen
   colours) of their nearest seen vertex: the object's own colours, without the photo's
   shading detail copied onto the wrong side.

Meshes with few vertices are subdivided first so colour follows the photo, not the faces.
Frames: the scene's world (Y up, metres); the camera OpenCV.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

TEXTURE_MODES = ("none", "photo")


@dataclass
class TextureSettings:
    depth_tol_rel: float = 0.01        # × depth: a vertex this close to the rendered surface is that surface
    min_vertices: int = 20000          # subdivide meshes with fewer (halving edges, up to 4 times)
    symmetry_tol: float = 0.02         # × object size, median mirrored-vertex distance of a symmetric shape
    palette: int = 4                   # dominant colours of the seen side
    seed: int = 0


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N, C) float samples of ``image`` (H, W, C) at pixel coordinates (pixel centres at +0.5)."""
    h, w = image.shape[:2]
    x = np.clip(u - 0.5, 0, w - 1)
    y = np.clip(v - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = image.astype(float)
    return ((im[y0, x0] * (1 - fx) + im[y0, x1] * fx) * (1 - fy)
            + (im[y1, x0] * (1 - fx) + im[y1, x1] * fx) * fy)


def densify(mesh: trimesh.Trimesh, min_vertices: int) -> trimesh.Trimesh:
    """The mesh subdivided (each face into four, up to 4 times) until it has ``min_vertices``."""
    out = mesh
    for _ in range(4):
        if len(out.vertices) >= min_vertices:
            break
        v, f = trimesh.remesh.subdivide(out.vertices, out.faces)
        out = trimesh.Trimesh(v, f, process=False)
    return out


def mirror_planes(vertices: np.ndarray, tol: float) -> list[np.ndarray]:
    """Horizontal unit normals (3,) of the vertical mirror planes (through the footprint's
    centre, along its principal axes) under which the vertices map onto themselves."""
    xz = vertices[:, [0, 2]]
    centre = (xz.max(0) + xz.min(0)) / 2
    _, _, vt = np.linalg.svd(xz - xz.mean(0), full_matrices=False)
    size = float(np.linalg.norm(vertices.max(0) - vertices.min(0)))
    tree = cKDTree(vertices)
    planes = []
    for axis in vt:
        n = np.array([axis[0], 0.0, axis[1]])
        c = np.array([centre[0], 0.0, centre[1]])
        mirrored = vertices - 2 * ((vertices - c) @ n)[:, None] * n
        d, _ = tree.query(mirrored)
        if np.median(d) <= tol * size:
            planes.append((n, c))
    return planes


def colour_instance(mesh_world: trimesh.Trimesh, inst_id: int, capture, render, camera_from_world,
                    s: TextureSettings) -> tuple[np.ndarray, dict]:
    """(V, 4) uint8 vertex colours of one mesh (world coordinates) and what was done."""
    K = np.asarray(capture.K, float)
    h, w = capture.seg.shape
    v = np.asarray(mesh_world.vertices, float)
    cam = v @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = K[0, 0] * cam[:, 0] / z + K[0, 2]
        vv = K[1, 1] * cam[:, 1] / z + K[1, 2]
    inside = (z > 1e-6) & (u >= 0) & (u < w) & (vv >= 0) & (vv < h)
    seen = np.zeros(len(v), bool)
    ui, vi = np.clip(u, 0, w - 1).astype(int), np.clip(vv, 0, h - 1).astype(int)
    rd = render.depth[vi, ui]
    seen[inside] = ((render.instance_ids[vi, ui] == inst_id) & (np.abs(rd - z) <= s.depth_tol_rel * z + 1e-4)
                    & (capture.seg[vi, ui] == inst_id))[inside]
    colours = np.zeros((len(v), 3))
    colours[seen] = _bilinear(np.asarray(capture.rgb), u[seen], vv[seen])
    report = {"vertices": int(len(v)), "seen": int(seen.sum()), "by_symmetry": 0, "by_palette": 0,
              "mirror_planes": 0}
    if not seen.any():
        mask = capture.seg == inst_id
        fill = np.asarray(capture.rgb)[mask].mean(0) if mask.any() else np.full(3, 178.0)
        colours[:] = fill
        report["by_palette"] = int(len(v))
        return np.concatenate([np.clip(colours, 0, 255), np.full((len(v), 1), 255)], 1).astype(np.uint8), report
    have = seen.copy()
    planes = mirror_planes(v, s.symmetry_tol)
    report["mirror_planes"] = len(planes)
    size = float(np.linalg.norm(v.max(0) - v.min(0)))
    seen_tree = cKDTree(v[seen])
    seen_idx = np.nonzero(seen)[0]
    for n, c in planes:
        todo = np.nonzero(~have)[0]
        if not len(todo):
            break
        mirrored = v[todo] - 2 * ((v[todo] - c) @ n)[:, None] * n
        d, j = seen_tree.query(mirrored)
        ok = d <= s.symmetry_tol * size
        colours[todo[ok]] = colours[seen_idx[j[ok]]]
        have[todo[ok]] = True
        report["by_symmetry"] += int(ok.sum())
    todo = np.nonzero(~have)[0]
    if len(todo):
        from scipy.cluster.vq import kmeans2
        seen_cols = colours[seen]
        k = min(s.palette, len(np.unique(np.round(seen_cols), axis=0)))
        centres, labels = kmeans2(seen_cols, k, minit="++", seed=s.seed)
        _, j = seen_tree.query(v[todo])
        colours[todo] = centres[labels[j]]
        report["by_palette"] = int(len(todo))
    rgba = np.concatenate([np.clip(colours, 0, 255), np.full((len(v), 1), 255)], 1)
    return rgba.astype(np.uint8), report


def scene_items(scene):
    from scenewright.render.renderer import RenderItem
    return [RenderItem(i.mesh, np.asarray(i.world_from_object, float), int(i.id))
            for i in scene.instances if i.mesh is not None]


def texture_from_photo(scene, capture, settings: TextureSettings | None = None, renderer=None):
    """(a copy of the registered ``scene`` with vertex-coloured meshes, report).

    ``renderer``: an offscreen :class:`scenewright.render.Renderer` of the capture's size to reuse."""
    from scenewright.render import Renderer
    s = settings or TextureSettings()
    if scene.camera is None or scene.camera.world_from_camera is None:
        raise ValueError("texture_from_photo needs a registered scene (camera.world_from_camera)")
    out = copy.copy(scene)
    out.instances = []
    dense = []
    for inst in scene.instances:
        new = copy.copy(inst)
        if inst.mesh is not None:
            new.mesh = densify(inst.mesh, s.min_vertices)
        dense.append(new)
    own = renderer is None
    renderer = renderer or Renderer(int(capture.width), int(capture.height))
    try:
        wfc = np.asarray(scene.camera.world_from_camera, float)
        render = renderer.render(scene_items(type(scene)(instances=dense)), np.asarray(capture.K, float), wfc)
    finally:
        if own:
            renderer.release()
    camera_from_world = np.linalg.inv(wfc)
    report = {"settings": {k: getattr(s, k) for k in s.__dataclass_fields__}, "instances": {}}
    for new in dense:
        if new.mesh is not None:
            world = new.mesh.copy()
            world.apply_transform(np.asarray(new.world_from_object, float))
            rgba, rep = colour_instance(world, int(new.id), capture, render, camera_from_world, s)
            new.mesh = trimesh.Trimesh(new.mesh.vertices, new.mesh.faces, vertex_colors=rgba, process=False)
            report["instances"][str(new.id)] = rep
        out.instances.append(new)
    return out, report


def masked_colour_error(scene, capture, renderer=None) -> dict:
    """Colour error of ``scene`` re-rendered unlit from the input camera against the photo,
    over pixels where both the render and the capture's mask show the same instance.

    Returns {"mae": mean absolute error (0–255), "psnr_db", "pixels"}."""
    from scenewright.render import Renderer
    from scenewright.render.renderer import RenderSettings
    unlit = RenderSettings(ambient=1.0, headlight=0.0, key=0.0)
    own = renderer is None
    renderer = renderer or Renderer(int(capture.width), int(capture.height), unlit)
    try:
        res = renderer.render(scene_items(scene), np.asarray(capture.K, float),
                              np.asarray(scene.camera.world_from_camera, float))
    finally:
        if own:
            renderer.release()
    m = (res.instance_ids > 0) & (res.instance_ids == capture.seg)
    if not m.any():
        return {"mae": None, "psnr_db": None, "pixels": 0}
    diff = res.rgb[m].astype(float) - np.asarray(capture.rgb)[m].astype(float)
    mse = float(np.mean(diff ** 2))
    return {"mae": float(np.mean(np.abs(diff))), "psnr_db": float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12))),
            "pixels": int(m.sum()), "render_rgb": res.rgb}
