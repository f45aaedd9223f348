"""Convex colliders for an object mesh: what the physics engine collides with.

A physics engine collides convex shapes. An object (a table: a top and four legs; a
chair; a shelf) is not convex, so its mesh is decomposed into a few convex hulls with
V-HACD (``vhacdx``, called through trimesh), in the object frame. An affine map keeps a convex set convex, so the
decomposition of an asset is computed once and every placed copy (scaled or not) reuses
it: the hulls are moved by the instance's ``world_from_object``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import trimesh

from scenewright.errors import ScenewrightError


@dataclass
class ColliderSettings:
    method: str = "vhacd"          # "vhacd": convex decomposition; "hull": one convex hull per object
    max_hulls: int = 16            # V-HACD: at most this many hulls per object
    resolution: int = 50_000       # V-HACD voxels; its default 400 000 costs ~8x the time here
    max_vertices_per_hull: int = 32
    min_thickness: float = 0.002   # m: flat hulls (a rug, a picture) get this thickness so they have a volume


def _require_vhacdx():
    try:
        import vhacdx
    except ModuleNotFoundError as exc:      # optional dependency: a clear message, not a traceback
        raise ScenewrightError(
            "convex decomposition needs vhacdx: pip install 'scenewright[physics]' "
            "(or choose colliders 'hull')") from exc
    return vhacdx


_CACHE: dict[tuple, list[np.ndarray]] = {}


def _mesh_key(mesh: trimesh.Trimesh, settings: ColliderSettings) -> tuple:
    digest = hashlib.sha1(np.ascontiguousarray(mesh.vertices, np.float64).tobytes())
    digest.update(np.ascontiguousarray(mesh.faces, np.int64).tobytes())
    return (digest.hexdigest(), settings.method, settings.max_hulls, settings.resolution,
            settings.max_vertices_per_hull)


def _thicken(points: np.ndarray, thickness: float) -> np.ndarray:
    """The points plus copies pushed ``thickness`` along each principal direction in which
    they spread less than that: a flat or collinear piece (no volume, so no mass and no
    inside for the engine) becomes a thin slab or rod."""
    centred = points - points.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=True)
    out = points
    for direction in vt:
        spread = np.ptp(centred @ direction)
        if spread < thickness:
            out = np.concatenate([out, out + (thickness - spread) * direction])
    return out


def object_hulls(mesh: trimesh.Trimesh, settings: ColliderSettings | None = None) -> list[np.ndarray]:
    """Convex pieces of ``mesh`` in its own frame: a list of (N_k, 3) float vertex arrays, metres.

    Each array's convex hull is one collider; together they cover the mesh. Cached per
    mesh content and settings (a scene of six chairs of one asset decomposes it once).
    """
    settings = settings or ColliderSettings()
    if settings.method not in ("vhacd", "hull"):
        raise ScenewrightError(f"colliders {settings.method!r}: choose 'vhacd' or 'hull'")
    key = _mesh_key(mesh, settings)
    if key in _CACHE:
        return _CACHE[key]
    vertices = np.asarray(mesh.vertices, np.float64)
    if settings.method == "hull" or len(mesh.faces) < 4:
        pieces = [vertices]
    else:
        _require_vhacdx()
        # trimesh hands V-HACD the faces in the layout it expects (VTK polygon list).
        hulls = trimesh.decomposition.convex_decomposition(
            mesh, maxConvexHulls=settings.max_hulls, resolution=settings.resolution,
            maxNumVerticesPerCH=settings.max_vertices_per_hull)
        pieces = [np.asarray(h["vertices"], np.float64) for h in hulls if len(h["vertices"])] or [vertices]
    out = []
    for points in pieces:
        # A hull needs 4 points off one plane; fewer or flat ones are thickened to a slab.
        if len(points):
            points = _thicken(points, settings.min_thickness)
        out.append(points)
    _CACHE[key] = out
    return out


def place(hulls: list[np.ndarray], world_from_object: np.ndarray) -> list[np.ndarray]:
    """The hull vertices moved into the world by ``world_from_object`` (4, 4; may scale)."""
    m = np.asarray(world_from_object, np.float64)
    return [points @ m[:3, :3].T + m[:3, 3] for points in hulls]
