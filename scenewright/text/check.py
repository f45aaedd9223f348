"""Checking a furnished room on its geometry: requested relations, inside the room, walkability.

Everything here reads only placed objects (``world_from_object`` and the mesh bounds), so the
same checks score the arranger's output and any scene read back from a folder. Footprints are
the objects' upright boxes seen from above (:func:`scenewright.geometry.room.footprint_of`).
Lengths in metres.
"""

from __future__ import annotations

import numpy as np

from scenewright.geometry.room import Footprint, Room, footprint_of, room_walls
from scenewright.methods.layout.scene_graph import build_scene_graph, front_direction

NEXT_TO_MAX_M = 0.5          # footprint gap of "next to"
FRONT_MAX_M = 1.5            # gap of "in front of"
FRONT_CONE_DEG = 45.0
FACING_DEG = 35.0
FACING_MAX_M = 5.0
AROUND_MAX_M = 0.6
AROUND_FACING_DEG = 50.0
CORNER_M = 0.35              # both walls this close to the footprint
BETWEEN_LATERAL_M = 0.6
WALK_PITCH_M = 0.05
WALK_RADIUS_M = 0.2          # half a person's width: passages narrower than 0.4 m are blocked
REACH_M = 0.35               # a seat/bed is reached from a free cell this close to its footprint
REACHABLE_CATEGORIES = {"chair", "stool", "armchair", "sofa", "bench", "bed"}


def footprint(inst) -> Footprint:
    return footprint_of(inst.mesh.bounds, np.asarray(inst.world_from_object, float))


def footprint_gap(a: Footprint, b: Footprint) -> float:
    """Smallest distance (m) between two oriented rectangles (0 when they overlap)."""
    from scenewright.geometry.room import footprints_overlap
    if footprints_overlap(a, b):
        return 0.0
    ca, cb = a.corners(), b.corners()
    best = np.inf
    for pts, poly in ((ca, cb), (cb, ca)):
        p0, p1 = poly, np.roll(poly, -1, axis=0)
        e = p1 - p0
        for p in pts:
            t = np.clip(np.einsum("ij,ij->i", p - p0, e) / np.maximum(np.einsum("ij,ij->i", e, e), 1e-12), 0, 1)
            best = min(best, float(np.min(np.linalg.norm(p0 + t[:, None] * e - p, axis=1))))
    return best


def _angle_to(inst, point2: np.ndarray) -> float:
    f = front_direction(inst)[[0, 2]]
    c = footprint(inst).centre
    d = point2 - c
    n = np.linalg.norm(d)
    if n < 1e-9:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(f @ d / n, -1, 1))))


def relation_holds(kind: str, subject, target=None, target2=None, room: Room | None = None,
                   on_pairs: set | None = None, wall_ids: set | None = None) -> bool:
    """Whether ``subject`` stands in relation ``kind`` to ``target`` (instances), on geometry."""
    fs = footprint(subject)
    if kind == "on":
        return (subject.id, target.id) in on_pairs
    if kind == "against_wall":
        return subject.id in wall_ids
    if kind == "in_corner":
        c = fs.corners()
        hw, hd = room.width / 2, room.depth / 2
        near_x = min(hw - c[:, 0].max(), c[:, 0].min() + hw) <= CORNER_M
        near_z = min(hd - c[:, 1].max(), c[:, 1].min() + hd) <= CORNER_M
        return bool(near_x and near_z)
    ft = footprint(target)
    if kind == "next_to":
        return footprint_gap(fs, ft) <= NEXT_TO_MAX_M
    if kind == "in_front_of":
        front = front_direction(target)[[0, 2]]
        d = fs.centre - ft.centre
        n = np.linalg.norm(d)
        if n < 1e-9:
            return False
        ang = np.degrees(np.arccos(np.clip(front @ d / n, -1, 1)))
        return bool(ang <= FRONT_CONE_DEG and footprint_gap(fs, ft) <= FRONT_MAX_M)
    if kind == "facing":
        return _angle_to(subject, ft.centre) <= FACING_DEG and footprint_gap(fs, ft) <= FACING_MAX_M
    if kind == "around":
        return footprint_gap(fs, ft) <= AROUND_MAX_M and _angle_to(subject, ft.centre) <= AROUND_FACING_DEG
    if kind == "between":
        f2 = footprint(target2)
        a, b = ft.centre, f2.centre
        ab = b - a
        L2 = float(ab @ ab)
        if L2 < 1e-9:
            return False
        t = float((fs.centre - a) @ ab / L2)
        lateral = float(np.linalg.norm(a + t * ab - fs.centre))
        return bool(0.0 < t < 1.0 and lateral <= BETWEEN_LATERAL_M)
    raise ValueError(f"unknown relation {kind}")


def check_relations(instances, requested: list[tuple], room: Room) -> list[dict]:
    """``requested``: (kind, subject id, target id | None, target2 id | None). Returns one
    ``{"type", "subject", "object", "object2", "holds"}`` per requested instance relation."""
    by_id = {i.id: i for i in instances}
    walls = [{"point": w.midpoint.tolist(), "normal": w.normal.tolist()} for w in room_walls(room)]
    graph = build_scene_graph(instances, floor={"normal": [0, 1, 0], "height": 0.0}, walls=walls)
    on_pairs = {(r.subject, r.object) for r in graph if r.type == "on"}
    wall_ids = {r.subject for r in graph if r.type == "against_wall"}
    out = []
    for kind, s, t, t2 in requested:
        if s not in by_id or (t is not None and t not in by_id) or (t2 is not None and t2 not in by_id):
            holds = False
        else:
            holds = relation_holds(kind, by_id[s], by_id.get(t), by_id.get(t2), room, on_pairs, wall_ids)
        out.append({"type": kind, "subject": s, "object": t, "object2": t2, "holds": bool(holds)})
    return out


def inside_room(instances, room: Room, tol: float = 0.01) -> list[int]:
    """Ids of objects reaching outside the room (walls, floor or ceiling) by more than ``tol``."""
    out = []
    for inst in instances:
        t = np.asarray(inst.world_from_object, float)
        v = np.asarray(inst.mesh.vertices, float) @ t[:3, :3].T + t[:3, 3]
        if (np.abs(v[:, 0]).max() > room.width / 2 + tol or np.abs(v[:, 2]).max() > room.depth / 2 + tol
                or v[:, 1].min() < -tol or v[:, 1].max() > room.wall_height + tol):
            out.append(int(inst.id))
    return out


def walkable(instances, room: Room, door: dict, floor_ids: set[int]) -> dict:
    """Can a person walk from the door to every seat and bed?

    Floor-standing objects (``floor_ids``) block their footprints grown by ``WALK_RADIUS_M``,
    as do the walls; a grid of ``WALK_PITCH_M`` cells is flood-filled from the door point.
    Returns ``{"ok", "unreachable": [ids], "door": door}``.
    """
    from scipy import ndimage

    xs = np.arange(-room.width / 2 + WALK_PITCH_M / 2, room.width / 2, WALK_PITCH_M)
    zs = np.arange(-room.depth / 2 + WALK_PITCH_M / 2, room.depth / 2, WALK_PITCH_M)
    gx, gz = np.meshgrid(xs, zs, indexing="ij")
    pts = np.stack([gx.ravel(), gz.ravel()], axis=1)
    free = (np.abs(pts[:, 0]) <= room.width / 2 - WALK_RADIUS_M) & (np.abs(pts[:, 1]) <= room.depth / 2 - WALK_RADIUS_M)
    dist = {}
    for inst in instances:
        d = _point_footprint_distances(pts, footprint(inst))
        dist[inst.id] = d
        if inst.id in floor_ids:
            free &= d > WALK_RADIUS_M
    labels, _ = ndimage.label(free.reshape(gx.shape))
    labels = labels.ravel()
    dp = np.asarray(door["point"], float)
    near_door = np.linalg.norm(pts - dp, axis=1) <= DOOR_REACH_M
    door_labels = set(labels[near_door & free].tolist()) - {0}
    unreachable = []
    for inst in instances:
        if inst.category not in REACHABLE_CATEGORIES:
            continue
        cells = (dist[inst.id] <= REACH_M + WALK_RADIUS_M) & free
        if not door_labels or not (set(labels[cells].tolist()) & door_labels):
            unreachable.append(int(inst.id))
    return {"ok": bool(door_labels) and not unreachable, "unreachable": unreachable, "door": door}


DOOR_REACH_M = 0.6


def _point_footprint_distances(pts: np.ndarray, fp: Footprint) -> np.ndarray:
    """(N,) distance of floor points (N, 2) to a footprint (0 inside)."""
    local = (pts - fp.centre) @ fp.axes().T
    outside = np.maximum(np.abs(local) - fp.half, 0.0)
    return np.linalg.norm(outside, axis=1)
