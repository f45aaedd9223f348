"""Scene graph from the geometry of placed objects: on, against_wall, facing, same_asset_group.

Works on anything shaped like :class:`scenewright.scene.Instance` (``id``, ``category``,
``asset_id``, ``mesh`` in the object frame, ``world_from_object`` which may carry scale;
without a mesh, ``size`` gives the object-frame box: centred in x/z, bottom at y = 0), so
the same code reads predictions and ground truth. World: Y up, floor at y = 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import trimesh

from scenewright.geometry.boxes import OrientedBox, box_of_transformed_extents
from scenewright.geometry.planes import Plane
from scenewright.library.categories import category_info
from scenewright.scene import Relation

SEAT_CATEGORIES = {"chair", "stool", "armchair", "sofa", "bench"}
TABLE_CATEGORIES = {"dining_table", "coffee_table", "desk"}


@dataclass
class SceneGraphSettings:
    """Tolerances (metres, degrees) of the geometric relations."""

    on_gap_m: float = 0.05            # |subject bottom − support top| for "on"
    on_sink_m: float = 0.10           # a subject sunk this far into its support still counts
    on_min_overlap: float = 0.5       # share of the subject's footprint over the support
    small_on_gap_m: float = 0.35      # … for small things (vases, lamps: they stand on something),
                                      # whose observed bottom may float above a hidden table top
    floor_gap_m: float = 0.05         # bottom this close to the floor: on the floor (implicit)
    wall_gap_m: float = 0.10          # back face within this of a wall
    wall_angle_deg: float = 20.0      # back normal within this of the wall's inward normal
    facing_angle_deg: float = 30.0    # front within this of the direction to the table
    facing_max_m: float = 1.5         # front-to-table distance (footprint to footprint)
    min_group: int = 2                # same_asset_group size

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def object_box(item) -> OrientedBox:
    """Upright world box of an item from its mesh bounds (or ``size``) and ``world_from_object``."""
    t = np.asarray(item.world_from_object, float)
    mesh = getattr(item, "mesh", None)
    if mesh is not None and len(mesh.vertices):
        lo, hi = mesh.bounds
        # Tight for upright objects: the world box of the posed vertices, measured in the
        # object's own yaw-aligned axes (mesh bounds alone ignore how the mesh fills them).
        box = box_of_transformed_extents(t, lo, hi)
        v = np.asarray(mesh.vertices, float) @ t[:3, :3].T + t[:3, 3]
        box.centre[1] = (v[:, 1].min() + v[:, 1].max()) / 2
        box.size[1] = v[:, 1].max() - v[:, 1].min()
        return box
    size = getattr(item, "size", None)
    if size is None:
        raise ValueError(f"instance {item.id} has neither a mesh nor a size")
    scale = np.linalg.norm(t[:3, :3], axis=0)
    half = np.asarray(size, float) / scale / 2
    return box_of_transformed_extents(t, np.array([-half[0], 0.0, -half[2]]),
                                      np.array([half[0], 2 * half[1], half[2]]))


def world_vertices(item) -> np.ndarray:
    """(V, 3) world vertices of an item's mesh, or its box corners without a mesh."""
    mesh = getattr(item, "mesh", None)
    if mesh is None:
        return object_box(item).corners()
    t = np.asarray(item.world_from_object, float)
    return np.asarray(mesh.vertices, float) @ t[:3, :3].T + t[:3, 3]


def front_direction(item) -> np.ndarray:
    """(3,) unit horizontal direction of the object's front (+Z of its frame) in the world."""
    z = np.asarray(item.world_from_object, float)[:3, 2].copy()
    z[1] = 0.0
    n = np.linalg.norm(z)
    return z / n if n > 1e-9 else np.array([0.0, 0.0, 1.0])


def footprint_samples(box: OrientedBox, n: int = 7, shrink: float = 0.9) -> np.ndarray:
    """(n*n, 2) xz points on a grid over the (shrunk) footprint."""
    g = (np.linspace(-0.5, 0.5, n) * shrink)
    gx, gz = np.meshgrid(g * box.size[0], g * box.size[2], indexing="ij")
    local = np.stack([gx.ravel(), gz.ravel()], axis=1)
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    r2 = np.array([[c, s], [-s, c]])
    return box.centre[[0, 2]] + local @ r2.T


def support_top(parent, xz: np.ndarray, below_y: float, cache: dict | None = None) -> np.ndarray:
    """(N,) height of the parent's surface under each xz point, looking down from ``below_y``
    (NaN where the ray misses). Uses the mesh (ray casting) or the box top without a mesh.
    ``cache``: dict reused across calls (the posed mesh and its ray accelerator per parent)."""
    mesh = getattr(parent, "mesh", None)
    xz = np.atleast_2d(xz)
    if mesh is None:
        box = object_box(parent)
        inside = box.contains_xz(xz)
        return np.where(inside & (box.top <= below_y), box.top, np.nan)

    key = (parent.id, np.asarray(parent.world_from_object, float).tobytes())
    world = None if cache is None else cache.get(key)
    if world is None:
        t = np.asarray(parent.world_from_object, float)
        world = trimesh.Trimesh(np.asarray(mesh.vertices, float) @ t[:3, :3].T + t[:3, 3], mesh.faces,
                                process=False)
        if cache is not None:
            cache[key] = world
    return ray_heights(world, xz, below_y)


def ray_heights(mesh, xz: np.ndarray, from_y: float, offset: np.ndarray | None = None) -> np.ndarray:
    """(N,) y of the first surface of ``mesh`` (world, optionally shifted by ``offset`` (3,)) hit by a
    ray cast straight down from height ``from_y`` at each xz point; NaN on a miss."""
    xz = np.atleast_2d(np.asarray(xz, float))
    off = np.zeros(3) if offset is None else np.asarray(offset, float)
    origins = np.column_stack([xz[:, 0], np.full(len(xz), from_y), xz[:, 1]]) - off
    dirs = np.tile([0.0, -1.0, 0.0], (len(xz), 1))
    out = np.full(len(xz), np.nan)
    locs, idx_ray, _ = mesh.ray.intersects_location(origins, dirs, multiple_hits=False)
    if len(idx_ray):
        out[idx_ray] = locs[:, 1] + off[1]
    return out


def build_scene_graph(objects, floor=None, walls=(), settings: SceneGraphSettings | None = None) -> list[Relation]:
    """Relations of a placed scene, derived from geometry alone.

    ``objects``: Instance-like items; ``floor``: Plane / scene floor dict / None (y = 0 assumed);
    ``walls``: Planes or ``{"point", "normal"}`` dicts (normals into the room; index = wall id).
    Returns ``on`` (subject stands on object's top; floor support is implicit, not listed),
    ``against_wall`` (back face flush with wall ``wall``, roughly parallel), ``facing`` (a seat's
    front points at a table/desk) and ``same_asset_group`` (≥ 2 instances of one asset_id).
    """
    s = settings or SceneGraphSettings()
    items = sorted(objects, key=lambda o: o.id)
    boxes = {o.id: object_box(o) for o in items}
    floor_y = 0.0 if floor is None else float(Plane.from_any(floor).point[1])
    wall_planes = [Plane.from_any(w) for w in walls]
    rel: list[Relation] = []
    posed_cache: dict = {}

    # ---- on --------------------------------------------------------------------------
    for o in items:
        b = boxes[o.id]
        if b.bottom - floor_y <= s.floor_gap_m:
            continue
        samples = footprint_samples(b)
        small = category_info(getattr(o, "category", None) or "").role == "small"
        max_gap = max(s.on_gap_m, s.small_on_gap_m) if small else s.on_gap_m
        best = _best_support(o, b, items, boxes, samples, max_gap, s, posed_cache)
        if best is None and small:
            # A small thing seen well above every support top (on a shelf or hutch the
            # retrieved support lacks) stands on the highest one under it, not on the floor
            # a metre or more below where it was seen.
            # Its footprint may also overhang the support (a newspaper at the desk's edge,
            # a book whose retrieved asset is larger than the real one): a fifth will do.
            best = _best_support(o, b, items, boxes, samples, np.inf, s, posed_cache,
                                 min_overlap=min(0.2, s.on_min_overlap))
        if best is not None:
            rel.append(Relation(type="on", subject=o.id, object=best[1]))

    # ---- against_wall --------------------------------------------------------------------
    cos_wall = np.cos(np.radians(s.wall_angle_deg))
    for o in items:
        back = -front_direction(o)
        v = world_vertices(o)
        best = None
        for k, w in enumerate(wall_planes):
            n = w.normal.copy()
            n[1] = 0.0
            n /= max(np.linalg.norm(n), 1e-12)
            if float(back @ -n) < cos_wall:
                continue
            gap = float(w.distance(v).min())
            if -s.wall_gap_m <= gap <= s.wall_gap_m and (best is None or abs(gap) < best[0]):
                best = (abs(gap), k)
        if best is not None:
            rel.append(Relation(type="against_wall", subject=o.id, wall=best[1]))

    # ---- facing ----------------------------------------------------------------------
    cos_face = np.cos(np.radians(s.facing_angle_deg))
    tables = [p for p in items if p.category in TABLE_CATEGORIES or category_info(p.category or "").role == "table"]
    for o in items:
        if not (o.category in SEAT_CATEGORIES or category_info(o.category or "").role == "seat"):
            continue
        f = front_direction(o)
        c = boxes[o.id].centre[[0, 2]]
        best = None
        for p in tables:
            if p.id == o.id:
                continue
            pb = boxes[p.id]
            # Direction to the nearest point of the table's footprint (a chair at a long table
            # faces its edge, not necessarily its centre), falling back to the centre when inside.
            foot = pb.footprint()
            near = _closest_on_polygon(c, foot)
            d = near - c
            dist = float(np.linalg.norm(d))
            to_centre = pb.centre[[0, 2]] - c
            dirs = [to_centre / max(np.linalg.norm(to_centre), 1e-9)]
            if dist > 1e-6 and not pb.contains_xz(c[None])[0]:
                dirs.append(d / dist)
            gap = max(dist - boxes[o.id].size[[0, 2]].min() / 2, 0.0)
            cosang = max(float(f[[0, 2]] @ u) for u in dirs)
            if cosang >= cos_face and gap <= s.facing_max_m and (best is None or gap < best[0]):
                best = (gap, p.id)
        if best is not None:
            rel.append(Relation(type="facing", subject=o.id, object=best[1]))

    # ---- same_asset_group ---------------------------------------------------------------
    groups: dict[str, list[int]] = {}
    for o in items:
        if getattr(o, "asset_id", None):
            groups.setdefault(o.asset_id, []).append(o.id)
    for aid in sorted(groups):
        if len(groups[aid]) >= s.min_group:
            rel.append(Relation(type="same_asset_group", members=sorted(groups[aid])))
    return rel


def _best_support(o, b, items, boxes, samples, max_gap: float, s: SceneGraphSettings, posed_cache,
                  min_overlap: float | None = None):
    """(score, id) of the support under ``o`` whose top is nearest its bottom (within
    ``max_gap`` above or ``on_sink_m`` into it), or None."""
    best = None
    for p in items:
        if p.id == o.id:
            continue
        pb = boxes[p.id]
        if pb.top < b.bottom - max_gap or pb.bottom > b.bottom or pb.volume() <= b.volume() * 0.5:
            continue
        over = pb.contains_xz(samples)
        if over.mean() < (s.on_min_overlap if min_overlap is None else min_overlap):
            continue
        tops = support_top(p, samples[over], b.bottom + min(b.size[1] / 2, 0.5) + s.on_sink_m, posed_cache)
        tops = tops[np.isfinite(tops)]
        if len(tops) == 0:
            continue
        gap = b.bottom - float(tops.max())
        if -s.on_sink_m <= gap <= max_gap:
            score = (abs(gap), -over.mean())
            if best is None or score < best[0]:
                best = (score, p.id)
    return best


def _closest_on_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Closest point to p (2,) on the boundary of polygon (K, 2)."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum("ij,ij->i", p - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0, 1)
    q = a + t[:, None] * ab
    return q[np.argmin(np.linalg.norm(q - p, axis=1))]


def support_parents(relations) -> dict[int, int]:
    """subject id → support object id from ``on`` relations (the floor is implicit)."""
    return {r.subject: r.object for r in relations if r.type == "on"}
