"""Floor and wall surfaces for viewing a scene: finite quads cut from its infinite planes.

A scene stores the floor (y = 0) and walls as planes (``scene.json``); a viewer needs
finite geometry. The floor becomes the rectangle around the objects and the camera
(plus a margin), cut by every wall's half-space (the room side), and each wall the
edge of that floor polygon it cut, raised to ``wall_height``. Walls are one-sided,
facing into the room, so from outside a viewer sees into the room through them
(the "dollhouse" view). World frame: Y up, metres.
"""

from __future__ import annotations

import numpy as np
import trimesh

FLOOR_RGBA = (176, 148, 118, 255)
WALL_RGBA = (226, 222, 214, 255)


def clip_polygon(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Keep the part of a convex polygon (N, 2) where ``normal · p + offset >= 0`` (Sutherland–Hodgman)."""
    if len(poly) == 0:
        return poly
    d = poly @ normal + offset
    out = []
    for k in range(len(poly)):
        a, b, da, db = poly[k], poly[(k + 1) % len(poly)], d[k], d[(k + 1) % len(poly)]
        if da >= 0:
            out.append(a)
        if (da >= 0) != (db >= 0):
            out.append(a + (b - a) * (da / (da - db)))
    return np.array(out, float).reshape(-1, 2)


def scene_extent_xz(scene, margin: float = 0.5) -> np.ndarray | None:
    """(2, 2) [[xmin, zmin], [xmax, zmax]] around the placed meshes and the camera, or None."""
    pts = []
    for inst in scene.instances:
        if inst.mesh is None or len(inst.mesh.vertices) == 0:
            continue
        corners = trimesh.bounds.corners(inst.mesh.bounds)
        T = np.asarray(inst.world_from_object, float)
        pts.append((corners @ T[:3, :3].T + T[:3, 3])[:, [0, 2]])
    cam = scene.camera
    if cam is not None and cam.world_from_camera is not None:
        pts.append(np.asarray(cam.world_from_camera, float)[None, [0, 2], 3])
    if not pts:
        return None
    pts = np.concatenate(pts)
    return np.stack([pts.min(0) - margin, pts.max(0) + margin])


def _quad(corners: np.ndarray, rgba) -> trimesh.Trimesh:
    """A one-sided quad; ``corners`` (4, 3) counter-clockwise seen from the side it faces."""
    mesh = trimesh.Trimesh(corners, [[0, 1, 2], [0, 2, 3]], process=False)
    mesh.visual.face_colors = np.tile(np.asarray(rgba, np.uint8), (2, 1))
    return mesh


def room_surfaces(scene, margin: float = 0.5, wall_height: float | None = None) -> dict[str, trimesh.Trimesh]:
    """``{"floor": mesh, "wall_<k>": mesh}`` in world coordinates for a scene with a floor.

    Empty when the scene has no floor (no-floor frame, MIDI's own frame): there is then
    no ground to draw. ``wall_height``: default the top of the highest object + 0.3 m,
    at least 2.5 m. Wall ``k`` keeps its index in ``scene.walls``.
    """
    if scene.floor is None:
        return {}
    extent = scene_extent_xz(scene, margin)
    if extent is None:
        return {}
    walls = []
    for k, w in enumerate(scene.walls or []):
        n = np.asarray(w["normal"], float)[[0, 2]]
        if np.linalg.norm(n) < 1e-6:
            continue
        n = n / np.linalg.norm(n)
        p = np.asarray(w["point"], float)[[0, 2]]
        walls.append((k, n, -float(n @ p)))
        # Reach the wall even when nothing stands near it (within 10 m of the objects).
        centre = extent.mean(0)
        foot = centre - (n @ (centre - p)) * n        # the wall point nearest the scene's centre
        if np.all(np.abs(foot - centre) < 10):
            extent = np.stack([np.minimum(extent[0], foot - 0.01), np.maximum(extent[1], foot + 0.01)])
    (x0, z0), (x1, z1) = extent
    poly = np.array([[x0, z0], [x0, z1], [x1, z1], [x1, z0]], float)
    for _, n, off in walls:
        poly = clip_polygon(poly, n, off)
    if len(poly) < 3:
        return {}
    if wall_height is None:
        top = 0.0
        for inst in scene.instances:
            if inst.mesh is not None and len(inst.mesh.vertices):
                T = np.asarray(inst.world_from_object, float)
                top = max(top, float((trimesh.bounds.corners(inst.mesh.bounds) @ T[:3, :3].T + T[:3, 3])[:, 1].max()))
        wall_height = max(2.5, top + 0.3)
    out: dict[str, trimesh.Trimesh] = {}
    # Floor: a fan over the convex polygon, turned to face up (+Y).
    v = np.column_stack([poly[:, 0], np.zeros(len(poly)), poly[:, 1]])
    faces = np.array([[0, k, k + 1] for k in range(1, len(v) - 1)])
    floor = trimesh.Trimesh(v, faces, process=False)
    if floor.face_normals[0][1] < 0:
        floor.faces = faces[:, ::-1]
    floor.visual.face_colors = np.tile(np.asarray(FLOOR_RGBA, np.uint8), (len(faces), 1))
    out["floor"] = floor
    for k, n, off in walls:
        on = np.abs(poly @ n + off) < 1e-6
        if on.sum() < 2:
            continue        # cut away by other walls: not part of this room's outline
        tangent = np.array([-n[1], n[0]])
        s = poly[on] @ tangent
        a, b = poly[on][np.argmin(s)], poly[on][np.argmax(s)]
        corners = np.array([[a[0], 0, a[1]], [b[0], 0, b[1]], [b[0], wall_height, b[1]], [a[0], wall_height, a[1]]])
        mesh = _quad(corners, WALL_RGBA)
        # Face into the room (along the wall normal).
        if mesh.face_normals[0] @ np.array([n[0], 0.0, n[1]]) < 0:
            mesh.faces = mesh.faces[:, ::-1]
        out[f"wall_{k}"] = mesh
    return out
