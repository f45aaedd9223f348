"""Checks of a ground-truth scene written from first principles (no generator code):
the scene is read back from its folder and tested with trimesh, python-fcl and manifold3d."""

from __future__ import annotations

import itertools
import math

import numpy as np
import trimesh

CM3 = 1e-6   # m³


def hull_overlap_volume(a: trimesh.Trimesh, b: trimesh.Trimesh) -> float:
    """Volume (m³) of the intersection of two meshes' convex hulls (manifold3d): an upper bound
    on the volume the meshes share."""
    import manifold3d

    def manifold(m: trimesh.Trimesh):
        h = m.convex_hull
        return manifold3d.Manifold(manifold3d.Mesh(vert_properties=np.asarray(h.vertices, np.float32),
                                                   tri_verts=np.asarray(h.faces, np.uint32)))
    return float((manifold(a) ^ manifold(b)).volume())


def interpenetrating_pairs(scene, tolerance_m3: float = CM3) -> list[tuple[int, int, float]]:
    """Pairs whose convex hulls share more than ``tolerance_m3`` *and* whose triangles meet (fcl)."""
    meshes = {inst.id: inst.world_mesh() for inst in scene.instances}
    manager = trimesh.collision.CollisionManager()
    for i, m in meshes.items():
        manager.add_object(str(i), m)
    _, names = manager.in_collision_internal(return_names=True)
    touching = {tuple(sorted(int(n) for n in pair)) for pair in names}
    bad = []
    for a, b in itertools.combinations(sorted(meshes), 2):
        ba, bb = meshes[a].bounds, meshes[b].bounds
        if np.any(ba[1] < bb[0]) or np.any(bb[1] < ba[0]):
            continue
        vol = hull_overlap_volume(meshes[a], meshes[b])
        if vol > tolerance_m3 and (a, b) in touching:
            bad.append((a, b, vol))
    return bad


def wall_planes(scene) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(w["point"], float), np.asarray(w["normal"], float)) for w in scene.walls]


def back_gap_to_wall(inst, wall) -> float:
    """Smallest distance (m) from the object's mesh to the wall plane (negative: through it)."""
    point, normal = wall
    v = inst.world_mesh().vertices
    return float(((v - point) @ normal).min())


def front(inst) -> np.ndarray:
    """The object's front (+Z of its frame) in the world, unit."""
    f = np.asarray(inst.world_from_object, float)[:3, 2]
    return f / np.linalg.norm(f)


def rest_gap_on(inst, support) -> float:
    """Gap (m) between the object's lowest points and the support's surface right below them:
    rays cast down from the object's bottom vertices onto the support mesh."""
    m = inst.world_mesh()
    v = m.vertices
    low = v[v[:, 1] < v[:, 1].min() + 1e-3]
    s = support.world_mesh()
    origins = low + [0.0, 1e-3, 0.0]
    locs, idx, _ = s.ray.intersects_location(origins, np.tile([0, -1.0, 0], (len(low), 1)),
                                             multiple_hits=False)
    if len(locs) == 0:
        return math.inf
    return float((low[idx, 1] - locs[:, 1]).min())


def camera_params(scene) -> dict:
    cam = scene.camera
    wfc = np.asarray(cam.world_from_camera, float)
    fwd = wfc[:3, 2]
    return {"height": float(wfc[1, 3]),
            "pitch_deg": math.degrees(math.asin(-fwd[1] / np.linalg.norm(fwd))),
            "roll_deg": math.degrees(math.asin(abs(wfc[1, 0]))),    # image x axis stays level
            "hfov_deg": math.degrees(2 * math.atan(cam.width / 2 / cam.K[0, 0])),
            "position": wfc[:3, 3]}
