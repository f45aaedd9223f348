"""Layout optimisation: rest objects on their supports, set wall objects flush, separate overlaps.

A deterministic, bounded scheme (no annealing):

1. **Walls** — every ``against_wall`` object turns about Y so its front (+Z) is the wall's
   inward normal, then slides along that normal until its back touches the wall. Objects
   standing on it turn and slide with it. Any other object partly inside a wall (up to
   ``max_wall_push_m``) is pushed back into the room (after step 2).
2. **Supports**, parents before children — objects on the floor get their lowest point to
   the floor; an ``on`` child gets its lowest point to the parent's surface under it, found
   by casting rays down onto the parent mesh from just above the child's bottom (so a
   shelf inside a bookcase is found, not the bookcase's top).
3. **Overlaps** — sweeps over all pairs (id order) that fcl finds intersecting (ancestor/
   descendant pairs excluded). A broad phase (sweep and prune over the objects' world boxes,
   :func:`scenewright.geometry.collision.overlapping_pairs`) hands fcl only the pairs whose
   boxes overlap; after each resolved pair the moved objects' new neighbours join the pairs
   still to visit in this sweep, so the sweep visits exactly what checking every pair would. For each, candidate moves in xz are tried for either object:
   along both footprints' axes and away from the other's centre (only along the wall for a
   wall object), each bisected to the smallest clearing distance. The cheapest move that
   enters no wall wins (cost: distance, weighted toward moving the smaller object; a move that
   creates a new collision costs more); it carries the mover's children. Children move only
   within their parent's footprint and are re-rested on it. Sweeps stop when nothing collides
   or after ``max_sweeps``.
4. **Report** — pairs still intersecting (with manifold3d overlap volumes), objects without a
   support or not resting on it, per-object displacement, timings per stage.

Items are :class:`scenewright.scene.Instance`-like (``id``, ``category``, ``mesh`` in the object
frame or ``size``, ``world_from_object`` which may carry scale). Only translations change,
plus the Y rotation of wall objects (and their children).
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh

from scenewright.geometry.collision import (PosedMesh, boxes_overlap, intersection_volume, overlapping_pairs,
                                             separation_along)
from scenewright.geometry.planes import Plane
from scenewright.geometry.transforms import rot_y
from scenewright.methods.layout.scene_graph import footprint_samples, front_direction, object_box, ray_heights


@dataclass
class OptimizeSettings:
    """Knobs of :func:`optimize_layout` (metres)."""

    snap_walls: bool = True           # turn and move against_wall objects flush to their wall
    wall_gap_m: float = 0.0           # distance kept between a wall object's back and its wall
    wall_tol_m: float = 0.01          # a back already within [0, this] of its wall counts as flush
    wall_turn_tol_deg: float = 0.5    # a front already this close to the wall normal is not turned
    rest_on_supports: bool = True     # floor / parent-top contact for every object
    push_out_of_walls: bool = True    # objects partly inside a wall are pushed back into the room
    max_wall_push_m: float = 0.5      # deeper than this: left alone (a wrong wall or object)
    separate: bool = True             # remove interpenetrations
    # longest move that clears an overlap (None: any). Beyond ~1 m an object stands where it was not
    # seen (a desk against its wall, hit by a bed stand-in too large, crossed the room 2.6 m with what
    # stood on it; capped, they stay 3-12 cm off). Text -> scene's repair around a reconstruction
    # relies on long moves, so scenewright.text (generate, and image's reconstruction) passes None
    max_separate_move_m: float | None = 1.0
    contact_tol_m: float = 0.002      # overlaps that clear within this are touching, not colliding
    search_tol_m: float = 0.001       # bisection precision of separating moves
    clearance_m: float = 0.005        # separating moves and children's rest keep this gap: meshes
                                      # that merely touch share voxels, which reads as overlap
    rest_min_gap_m: float = 1e-4      # a child resting closer than this above its support is lifted to
                                      # the clearance (touching reads as overlap, as above)
    max_sweeps: int = 20              # passes over all colliding pairs
    move_cost: str = "uncertainty"    # which of a colliding pair moves: see move_weight
    support_tol_m: float = 0.01       # report: resting within this of the support
    ray_grid: int = 7                 # rays per footprint side when resting on a parent
    seen_height_tol_m: float = 0.05   # a child whose support lies further below where it was seen
                                      # slides to a surface of it at that height, if that is nearer
    overlap_volume: bool = True       # report manifold3d overlap volumes of remaining pairs

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class _State:
    """Mutable pose of one item during optimisation."""

    def __init__(self, item):
        self.item = item
        self.id = int(item.id)
        mesh = getattr(item, "mesh", None)
        t = np.asarray(item.world_from_object, float)
        if mesh is None:
            scale = np.linalg.norm(t[:3, :3], axis=0)
            ext = np.asarray(item.size, float) / scale
            mesh = trimesh.creation.box(ext)
            mesh.apply_translation([0.0, ext[1] / 2, 0.0])
        self.mesh = mesh
        self.lin = t[:3, :3].copy()
        self.pos = t[:3, 3].copy()
        self.start = t.copy()
        self.posed: PosedMesh | None = None
        self._rotated: np.ndarray | None = None
        self._rotated_lin: np.ndarray | None = None

    def transform(self) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = self.lin
        out[:3, 3] = self.pos
        return out

    def world_vertices(self) -> np.ndarray:
        # The rotated vertices are kept while ``lin`` stays the same (it only changes when a wall
        # object turns): the same product as before, without redoing it at every trial move.
        if self._rotated is None or not np.array_equal(self._rotated_lin, self.lin):
            self._rotated = np.asarray(self.mesh.vertices, float) @ self.lin.T
            self._rotated_lin = self.lin.copy()
        return self._rotated + self.pos

    def build(self, cache: dict | None = None) -> None:
        self.posed = PosedMesh.from_transform(self.mesh, self.transform(), cache)

    def footprint_area(self) -> float:
        v = self.world_vertices()
        ext = v.max(0) - v.min(0)
        return float(ext[0] * ext[2])


def _valid_parents(relations, ids: set[int]) -> dict[int, int]:
    parents: dict[int, int] = {}
    for r in relations:
        if getattr(r, "type", None) == "on" and r.subject in ids and r.object in ids and r.subject != r.object:
            parents.setdefault(int(r.subject), int(r.object))
    # Break cycles (a bad graph must not hang the optimiser): drop the link that closes one.
    for start in sorted(parents):
        seen, node = {start}, start
        while node in parents:
            node = parents[node]
            if node in seen:
                parents.pop(start, None)
                break
            seen.add(node)
    return parents


def move_weight(area_mover: float, area_other: float, mode: str = "uncertainty") -> float:
    """Cost per metre of moving one object of a colliding pair (footprint areas, m²).

    ``"uncertainty"``: a move counts relative to how uncertain the object's position is,
    which grows with its size (a bed's centre is off by more than a nightstand's), so the
    cost is distance / (footprint diameter ∝ √area) normalised by the pair's mean.
    ``"size"``: the former rule, 1 + the mover's share of the area (moves the smaller one).
    """
    if mode == "size":
        return 1.0 + area_mover / max(area_mover + area_other, 1e-9)
    return float(np.sqrt(max(area_mover + area_other, 1e-9) / (2.0 * max(area_mover, 1e-9))))


def optimize_layout(items, floor=None, walls=(), relations=(), settings: OptimizeSettings | None = None,
                    progress: Callable[[str, int, int], None] | None = None, broad_phase: bool = True):
    """Make a layout physically plausible while moving objects as little as possible.

    ``items``: Instance-like objects (unchanged; copies are returned). ``floor``: Plane, scene
    floor dict or None (no floor contact then, reported). ``walls``: Planes or dicts, normals into
    the room. ``relations``: :class:`scenewright.scene.Relation` list (``on``, ``against_wall`` used).
    Returns ``(items, report)``: copies with new ``world_from_object`` (same order), and a JSON-able
    dict (``colliding_pairs``, ``unsupported``, ``not_resting``, ``in_walls``, ``moves``, ``sweeps``,
    ``timings_s``). ``progress(stage, done, total)`` is called as the work advances.
    ``broad_phase=False`` checks every pair instead (the reference the broad phase must agree
    with, bit for bit; it is not a setting because it changes no result, only the time).
    """
    s = settings or OptimizeSettings()

    def report_progress(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    states = [_State(it) for it in items]
    by_id = {st.id: st for st in states}
    if len(by_id) != len(states):
        raise ValueError("optimize_layout: duplicate instance ids")
    floor_plane = None if floor is None else Plane.from_any(floor)
    floor_y = None if floor_plane is None else float(floor_plane.point[1] if abs(floor_plane.normal[1]) > 0.99
                                                     else floor_plane.offset)
    wall_planes = []
    for w in walls:
        p = Plane.from_any(w)
        n = np.array([p.normal[0], 0.0, p.normal[2]])
        wall_planes.append(Plane(p.point, n))
    parents = _valid_parents(relations, set(by_id))
    children: dict[int, list[int]] = {}
    for c, p in sorted(parents.items()):
        children.setdefault(p, []).append(c)
    wall_of = {}
    for r in relations:
        if getattr(r, "type", None) == "against_wall" and r.subject in by_id and r.wall is not None \
                and 0 <= r.wall < len(wall_planes):
            wall_of.setdefault(int(r.subject), int(r.wall))

    def depth(i: int) -> int:
        d = 0
        while i in parents:
            i, d = parents[i], d + 1
        return d

    order = sorted(by_id, key=lambda i: (depth(i), i))          # parents before children

    def descendants(i: int) -> list[int]:
        out, stack = [], list(children.get(i, []))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(children.get(c, []))
        return out

    def _ancestors(i: int) -> set[int]:
        out = set()
        while i in parents:
            i = parents[i]
            out.add(i)
        return out

    ancestor_sets = {i: _ancestors(i) for i in by_id}     # the support tree does not change

    def related(a: int, b: int) -> bool:
        """One stands (indirectly) on the other: such pairs are never separated."""
        return a in ancestor_sets[b] or b in ancestor_sets[a]

    touched: set[int] = set()                   # objects moved since the set was last cleared

    def translate(i: int, d: np.ndarray) -> None:
        for k in [i] + descendants(i):
            st = by_id[k]
            st.pos = st.pos + d
            touched.add(k)
            if st.posed is not None:
                st.posed.move_to(st.pos)

    # ---- 1. walls ------------------------------------------------------------------------
    t0 = time.perf_counter()
    if s.snap_walls:
        for i in order:
            if i not in wall_of:
                continue
            st, wall = by_id[i], wall_planes[wall_of[i]]
            f = front_direction(_Pose(st))
            n = wall.normal
            turn = np.arctan2(f[2] * n[0] - f[0] * n[2], f[0] * n[0] + f[2] * n[2])  # f → n about Y
            if abs(turn) > np.radians(s.wall_turn_tol_deg):
                r = rot_y(turn)
                v = st.world_vertices()
                centre = (v.min(0) + v.max(0)) / 2
                for k in [i] + descendants(i):
                    sk = by_id[k]
                    sk.lin = r @ sk.lin
                    sk.pos = centre + r @ (sk.pos - centre)
            gap = float(wall.distance(st.world_vertices()).min())
            if not 0.0 <= gap - s.wall_gap_m <= s.wall_tol_m:
                translate(i, (s.wall_gap_m - gap) * n)
    timings["walls"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bvh_cache: dict = {}                      # equal assets at equal scale share one BVH
    for n_built, st in enumerate(states, 1):
        st.build(bvh_cache)
        report_progress("optimize: collision models", n_built, len(states))
    timings["collision_models"] = time.perf_counter() - t0
    row_ids = [st.id for st in states]
    row_of = {i: r for r, i in enumerate(row_ids)}
    local_lo = np.array([st.posed.lo for st in states]).reshape(-1, 3)
    local_hi = np.array([st.posed.hi for st in states]).reshape(-1, 3)

    def world_boxes() -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) lo, hi of every object's world box at its current position (the same sums
        PosedMesh.collides forms, so the broad phase agrees with its early reject bit for bit)."""
        pos = np.array([st.posed.pos for st in states]).reshape(-1, 3)
        return local_lo + pos, local_hi + pos

    def neighbours(i: int) -> list[int]:
        """Objects whose world box overlaps object i's (related ones excluded), id order."""
        lo, hi = world_boxes()
        r = row_of[i]
        hit = boxes_overlap(lo[r], hi[r], lo, hi) if broad_phase else np.ones(len(row_ids), bool)
        hit[r] = False
        return sorted(row_ids[k] for k in np.flatnonzero(hit) if not related(i, row_ids[k]))

    def candidate_pairs(include_related: bool = False) -> list[tuple[int, int]]:
        """Unrelated pairs (a < b, sorted) whose world boxes overlap now (``include_related``:
        a support and what stands on it too)."""
        lo, hi = world_boxes()
        out = []
        rows = (overlapping_pairs(lo, hi) if broad_phase
                else np.stack(np.triu_indices(len(row_ids), k=1), axis=1))
        for r1, r2 in rows:
            a, b = sorted((row_ids[r1], row_ids[r2]))
            if include_related or not related(a, b):
                out.append((a, b))
        return sorted(out)

    # ---- 2. supports ---------------------------------------------------------------------
    t0 = time.perf_counter()
    no_support: list[int] = []

    def parent_heights(i: int, lift: float | None = None) -> np.ndarray:
        """(ray_grid², ) height of the parent's surface under child i's footprint (NaN: no
        hit), looking down from ``lift`` above its bottom (default: half its height, 5–50 cm)."""
        st, par = by_id[i], by_id[parents[i]]
        v = st.world_vertices()
        bottom, height = float(v[:, 1].min()), float(np.ptp(v[:, 1]))
        box = object_box(_Pose(st))
        xz = footprint_samples(box, s.ray_grid)
        from_y = bottom + (max(0.05, min(height / 2, 0.5)) if lift is None else lift)
        return ray_heights(par.posed.local_mesh, xz, from_y, offset=par.pos)

    def parent_surface(i: int, lift: float | None = None) -> float | None:
        """Height of the parent's surface under child i (None: nothing under it)."""
        h = parent_heights(i, lift)
        h = h[np.isfinite(h)]
        return float(h.max()) if len(h) else None

    def slide_to_seen_height(i: int, bottom: float, drop: float) -> bool:
        """Slide child i across its parent to the nearest place where the parent has a surface
        at the height it was seen (``bottom``), when that is nearer than the ``drop`` down to the
        surface under it. A stand-in parent's shelves are not where the real one's are: the
        vase seen on a hutch's top should stay at that height, not fall to the desk top."""
        st, par = by_id[i], by_id[parents[i]]
        pbox, cbox = object_box(_Pose(par)), object_box(_Pose(st))
        start = cbox.centre[[0, 2]]
        spots = footprint_samples(pbox, 2 * s.ray_grid + 1, shrink=1.0)
        dist = np.linalg.norm(spots - start, axis=1)
        walls_before = (np.array([float(w.distance(st.world_vertices()).min()) for w in wall_planes])
                        if wall_planes else np.zeros(0))
        for k in np.argsort(dist, kind="stable"):
            if dist[k] >= drop:
                break
            d = np.array([spots[k][0] - start[0], 0.0, spots[k][1] - start[1]])
            saved = {j: by_id[j].pos.copy() for j in [i] + descendants(i)}
            translate(i, d)
            h = parent_heights(i, lift=s.seen_height_tol_m)
            # Most of the footprint on a surface at the seen height (it would tip otherwise).
            ok = bool(np.mean(np.abs(np.nan_to_num(h, nan=-1e9) - bottom) <= s.seen_height_tol_m) >= 0.5)
            if ok and wall_planes:
                after = np.array([float(w.distance(st.world_vertices()).min()) for w in wall_planes])
                ok = bool(np.all(after >= np.minimum(walls_before, 0.0) - s.contact_tol_m))
            if ok:
                return True
            for j, p in saved.items():
                by_id[j].pos = p
                by_id[j].posed.move_to(p)
        return False

    def clamp_into_parent(i: int) -> None:
        """Slide child i (xz) so its centre lies over its parent's footprint (shrunk)."""
        st, par = by_id[i], by_id[parents[i]]
        pbox = object_box(_Pose(par))
        cbox = object_box(_Pose(st))
        c = cbox.centre[[0, 2]] - pbox.centre[[0, 2]]
        cy, sy = np.cos(pbox.yaw), np.sin(pbox.yaw)
        local = np.array([cy * c[0] - sy * c[1], sy * c[0] + cy * c[1]])
        half = np.maximum(pbox.size[[0, 2]] / 2 - cbox.size[[0, 2]] / 2, 0.0)
        clamped = np.clip(local, -half, half)
        back = np.array([cy * clamped[0] + sy * clamped[1], -sy * clamped[0] + cy * clamped[1]])
        d = back - c
        if np.linalg.norm(d) > 1e-9:
            translate(i, np.array([d[0], 0.0, d[1]]))

    def clear_of_parent(i: int) -> None:
        """Move child i (with what stands on it) the least that clears its parent's mesh.

        The rays that find the surface under a child start just above its bottom (so a shelf
        inside a bookcase is found), and its footprint may reach over a taller part of the
        parent: a lamp sunk into a desk the extent fit made taller, a monitor overlapping a
        hutch. The overlap pass never separates a child from its support (moving either would
        carry the child off it or both together), so the rest itself leaves them apart: the
        smallest slide across the parent's top (centre kept over its footprint, re-rested,
        no deeper into a wall) or, failing that, the smallest lift.
        """
        st, par = by_id[i], by_id[parents[i]]
        if not st.posed.collides(par.posed):
            return
        walls_before = (np.array([float(w.distance(st.world_vertices()).min()) for w in wall_planes])
                        if wall_planes else np.zeros(0))
        pbox = object_box(_Pose(par))
        up = np.array([0.0, 1.0, 0.0])
        options = []
        t_up = separation_along(par.posed, st.posed, up, float((par.posed.hi - par.posed.lo)[1] +
                                                               (st.posed.hi - st.posed.lo)[1]) + 0.05,
                                s.search_tol_m)
        if t_up is not None and t_up <= s.contact_tol_m:
            return                                # resting on it, touching (fcl counts contact)
        if t_up is not None:
            options.append((t_up + s.clearance_m, (t_up + s.clearance_m) * up))
        # Slides are measured a clearance above where it rests: touching the top is contact to fcl.
        t_max = float(np.linalg.norm((par.posed.hi - par.posed.lo)[[0, 2]]))
        st.posed.move_to(st.pos + s.clearance_m * up)
        for ang in (pbox.yaw, pbox.yaw + np.pi / 2):
            u = np.array([np.cos(ang), 0.0, -np.sin(ang)])
            for d in (u, -u):
                t = separation_along(par.posed, st.posed, d, t_max, s.search_tol_m)
                if t is not None:
                    options.append((t + s.clearance_m, (t + s.clearance_m) * d + s.clearance_m * up))
        st.posed.move_to(st.pos)
        for dist, move in sorted(options, key=lambda o: o[0]):
            saved = {j: by_id[j].pos.copy() for j in [i] + descendants(i)}
            translate(i, move)
            if move[0] != 0.0 or move[2] != 0.0:
                ok = bool(pbox.contains_xz(object_box(_Pose(st)).centre[[0, 2]][None])[0])
                if ok and wall_planes:
                    after = np.array([float(w.distance(st.world_vertices()).min()) for w in wall_planes])
                    ok = bool(np.all(after >= np.minimum(walls_before, 0.0) - s.contact_tol_m))
                if ok:
                    # Still on the surface it rested on (not under a shelf's slab, not off a
                    # step): keep the height; else rest it again where it now stands.
                    bottom = float(st.world_vertices()[:, 1].min())
                    top = parent_surface(i, lift=2 * s.clearance_m)
                    if top is None or not -1e-6 <= bottom - top <= s.clearance_m + 1e-6:
                        rest_height(i)
                    ok = not st.posed.collides(par.posed)
                if not ok:
                    for j, p in saved.items():
                        by_id[j].pos = p
                        by_id[j].posed.move_to(p)
                    continue
            return

    def rest(i: int) -> None:
        rest_height(i)
        if i in parents:
            clear_of_parent(i)

    def rest_height(i: int) -> None:
        st = by_id[i]
        bottom = float(st.world_vertices()[:, 1].min())
        if i in parents:
            top = parent_surface(i)
            if top is None:
                clamp_into_parent(i)
                top = parent_surface(i)
            if top is None:
                top = float(by_id[parents[i]].world_vertices()[:, 1].max())
                if i not in no_support:
                    no_support.append(i)
            elif bottom - top > s.seen_height_tol_m and slide_to_seen_height(i, bottom, bottom - top):
                top = parent_surface(i, lift=s.seen_height_tol_m)
            # Already resting within the clearance above: leave it. Touching is not resting here:
            # a child set exactly on its support's top (the no-depth paths place it there) shares
            # voxels with it.
            if not s.rest_min_gap_m <= bottom - top <= s.clearance_m + 1e-6:
                translate(i, np.array([0.0, top + s.clearance_m - bottom, 0.0]))
        elif floor_y is not None:
            translate(i, np.array([0.0, floor_y - bottom, 0.0]))

    if s.rest_on_supports:
        for n_done, i in enumerate(order, 1):
            rest(i)
            report_progress("optimize: supports", n_done, len(order))
    timings["supports"] = time.perf_counter() - t0

    # ---- 2b. out of the walls --------------------------------------------------------------
    t0 = time.perf_counter()
    if s.push_out_of_walls and wall_planes:
        for i in order:
            if i in parents:
                continue                         # children follow their parent
            for _ in range(len(wall_planes)):    # a corner may need two pushes
                v = np.concatenate([by_id[k].world_vertices() for k in [i] + descendants(i)])
                gaps = np.array([float(w.distance(v).min()) for w in wall_planes])
                k = int(np.argmin(gaps))
                depth_in = -gaps[k]
                # Only partial penetrations: an object mostly behind a "wall" means the wall
                # (or the object) is wrong, and pushing it metres would not help.
                if depth_in <= s.contact_tol_m or depth_in > s.max_wall_push_m:
                    break
                translate(i, (depth_in + s.wall_gap_m) * wall_planes[k].normal)
    timings["walls_out"] = time.perf_counter() - t0

    # ---- 3. overlaps ---------------------------------------------------------------------
    t0 = time.perf_counter()
    sweeps = 0

    def wall_gaps(i: int) -> np.ndarray:
        """(walls,) smallest signed distance of object i (and its children) to each wall."""
        if not wall_planes:
            return np.zeros(0)
        v = np.concatenate([by_id[k].world_vertices() for k in [i] + descendants(i)])
        return np.array([float(w.distance(v).min()) for w in wall_planes])

    def wall_ok(i: int, before: np.ndarray) -> bool:
        # A move may not push anything (deeper) into a wall; a wall already crossed is tolerated.
        after = wall_gaps(i)
        return bool(np.all(after >= np.minimum(before, 0.0) - s.contact_tol_m))

    def collides_with_any(i: int, skip: set[int]) -> bool:
        """Object i intersects an unrelated object outside ``skip`` (only box neighbours can)."""
        return any(by_id[i].posed.collides(by_id[k].posed) for k in neighbours(i) if k not in skip)

    def candidate_moves(mover: int, other: int):
        st, ot = by_id[mover], by_id[other]
        if mover in wall_of:
            n = wall_planes[wall_of[mover]].normal
            tang = np.array([-n[2], 0.0, n[0]])
            return [tang, -tang]
        dirs = []
        for b in (object_box(_Pose(st)), object_box(_Pose(ot))):
            for ang in (b.yaw, b.yaw + np.pi / 2):
                u = np.array([np.cos(ang), 0.0, -np.sin(ang)])
                dirs += [u, -u]
        away = st.posed.pos + (st.posed.lo + st.posed.hi) / 2 - ot.posed.pos - (ot.posed.lo + ot.posed.hi) / 2
        away[1] = 0.0
        if np.linalg.norm(away) > 1e-9:
            dirs.append(away / np.linalg.norm(away))
        return dirs

    def try_resolve(a: int, b: int) -> bool:
        """Move a or b (with children) the least that clears the pair. False if impossible."""
        options = []
        areas = {a: by_id[a].footprint_area(), b: by_id[b].footprint_area()}
        for mover, other in ((b, a), (a, b)):
            ms, os_ = by_id[mover], by_id[other]
            t_max = float(np.linalg.norm((ms.posed.hi - ms.posed.lo)[[0, 2]]) +
                          np.linalg.norm((os_.posed.hi - os_.posed.lo)[[0, 2]])) + 0.05
            weight = move_weight(areas[mover], areas[other], s.move_cost)
            for u in candidate_moves(mover, other):
                t = separation_along(os_.posed, ms.posed, u, t_max, s.search_tol_m)
                if t is None or (s.max_separate_move_m is not None and t > s.max_separate_move_m):
                    continue
                options.append((t * weight, t, mover, u))
        options.sort(key=lambda o: (o[0], o[2]))
        # Every move keeps a small clearance (touching meshes read as overlapping voxels).
        options = [(cost, t + s.clearance_m, mover, u) for cost, t, mover, u in options]
        gaps_before = {a: wall_gaps(a), b: wall_gaps(b)}

        def place(t: float, mover: int, u: np.ndarray) -> dict | None:
            """Move ``mover`` (with children) by t·u; its former positions, or None (move
            undone) if it leaves its wall or its parent's footprint."""
            saved = {j: by_id[j].pos.copy() for j in [mover] + descendants(mover)}
            translate(mover, t * u)
            ok = wall_ok(mover, gaps_before[mover])
            if ok and mover in parents:
                pbox = object_box(_Pose(by_id[parents[mover]]))
                ok = bool(pbox.contains_xz(object_box(_Pose(by_id[mover])).centre[[0, 2]][None])[0])
            if ok:
                return saved
            restore(saved)
            return None

        def restore(saved: dict) -> None:
            for j, p in saved.items():
                by_id[j].pos = p
                by_id[j].posed.move_to(p)
                touched.add(j)

        def settle(mover: int) -> bool:
            if mover in parents:
                rest(mover)
            return True

        # The cheapest move that makes no new collision wins, however much dearer than the
        # cheapest one: a table ringed by chairs cannot escape one chair without hitting the
        # next, so the chair steps back. Failing that, the cheapest valid move (a later sweep
        # handles what it hits).
        first_valid = None
        for cost, t, mover, u in options[:12]:
            saved = place(t, mover, u)
            if saved is None:
                continue
            if not collides_with_any(mover, {a, b}):
                return settle(mover)
            if first_valid is None:
                first_valid = (t, mover, u)
            restore(saved)
        if first_valid is not None:
            t, mover, u = first_valid
            translate(mover, t * u)           # checked valid above
            return settle(mover)
        for cost, t, mover, u in options[12:]:
            if place(t, mover, u) is not None:
                return settle(mover)
        return False

    def pair_poses(a: int, b: int) -> tuple:
        """Everything a failed try_resolve(a, b) depended on: the positions of a, b, what stands
        on them (moved with them, checked against walls) and what they stand on (footprints)."""
        ids = {a, b} | set(descendants(a)) | set(descendants(b)) | ancestor_sets[a] | ancestor_sets[b]
        return tuple((k, by_id[k].pos.tobytes()) for k in sorted(ids))

    # A pair no move could clear stays unclearable while none of those positions changes: a
    # crowd of overlapping objects would otherwise retry every such pair in every sweep.
    unclearable: dict[tuple[int, int], tuple] = {}
    if s.separate:
        for sweeps in range(1, s.max_sweeps + 1):
            moved = False
            # Pairs in id order, as a sweep over all pairs visits them; only box-overlapping
            # ones can collide. A move can make new overlaps: those of the moved objects with
            # pairs still ahead in the order join the queue (pairs behind wait for the next sweep).
            pending = candidate_pairs()
            heapq.heapify(pending)
            visited: set[tuple[int, int]] = set()
            while pending:
                a, b = heapq.heappop(pending)
                if (a, b) in visited:
                    continue
                visited.add((a, b))
                report_progress(f"optimize: overlaps, sweep {sweeps}", len(visited), len(visited) + len(pending))
                if by_id[a].posed.collides(by_id[b].posed):
                    if unclearable.get((a, b)) == pair_poses(a, b):
                        continue
                    before = {k: by_id[k].pos.copy() for k in (a, b)}
                    touched.clear()
                    if not try_resolve(a, b):
                        unclearable[(a, b)] = pair_poses(a, b)
                    if any(np.linalg.norm(by_id[k].pos - before[k]) > 0 for k in (a, b)):
                        moved = True
                    for k in sorted(touched):
                        for m in neighbours(k):
                            key = (min(k, m), max(k, m))
                            if key > (a, b) and key not in visited:
                                heapq.heappush(pending, key)
            if not moved:
                break
    timings["separate"] = time.perf_counter() - t0

    # ---- 4. report -----------------------------------------------------------------------
    t0 = time.perf_counter()
    colliding = []
    final_pairs = candidate_pairs(include_related=True)     # a child sunk into its support counts too
    for n_done, (a, b) in enumerate(final_pairs, 1):
        report_progress("optimize: report", n_done, len(final_pairs))
        if not by_id[a].posed.collides(by_id[b].posed):
            continue
        # Touching within tolerance is fine: does a tiny push in any axis direction clear it?
        sa, sb = by_id[a].posed, by_id[b].posed
        clear = any(separation_along(sa, sb, u, s.contact_tol_m, s.search_tol_m / 4) is not None
                    for u in (np.array([1.0, 0, 0]), np.array([-1.0, 0, 0]), np.array([0, 0, 1.0]),
                              np.array([0, 0, -1.0]), np.array([0, 1.0, 0]), np.array([0, -1.0, 0])))
        if clear:
            continue
        entry = {"a": a, "b": b}
        if s.overlap_volume:
            try:
                vol, how = intersection_volume(
                    trimesh.Trimesh(sa.world_vertices(), sa.faces, process=False),
                    trimesh.Trimesh(sb.world_vertices(), sb.faces, process=False))
                entry.update(volume_m3=vol, volume_from=how)
            except Exception as exc:  # manifold3d rejects some broken meshes; report, do not fail
                entry.update(volume_m3=None, volume_error=str(exc))
        colliding.append(entry)
    not_resting = []
    for i in order:
        bottom = float(by_id[i].world_vertices()[:, 1].min())
        if i in parents:
            top = parent_surface(i)
            target = top
        else:
            target = floor_y
        if target is None:
            continue
        if abs(bottom - target) > s.support_tol_m:
            not_resting.append({"id": i, "gap_m": bottom - target})
    in_walls = []
    for i in order:
        v = by_id[i].world_vertices()
        for k, w in enumerate(wall_planes):
            d = float(w.distance(v).min())
            if d < -s.contact_tol_m:
                in_walls.append({"id": i, "wall": k, "depth_m": -d})
    moves = []
    out_items = []
    for st, it in zip(states, items):
        new = copy.copy(it)
        new.world_from_object = st.transform()
        out_items.append(new)
        d = st.pos - st.start[:3, 3]
        rot = np.degrees(np.arccos(np.clip((np.trace(st.lin @ np.linalg.pinv(st.start[:3, :3])) - 1) / 2, -1, 1)))
        moves.append({"id": st.id, "dxz_m": float(np.linalg.norm(d[[0, 2]])), "dy_m": float(d[1]),
                      "turn_deg": float(rot)})
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    report = {
        "colliding_pairs": colliding,
        "unsupported": sorted(set(no_support) | ({st.id for st in states if floor_y is None and st.id not in parents})),
        "not_resting": not_resting,
        "in_walls": in_walls,
        "no_floor": floor_y is None,
        "moves": moves,
        "sweeps": sweeps,
        "settings": s.to_json(),
        "timings_s": timings,
    }
    return out_items, report


class _Pose:
    """Adapter: an item view (id, mesh, world_from_object) of a state, for scene-graph helpers."""

    def __init__(self, st: _State):
        self.id = st.id
        self.mesh = st.mesh
        self.world_from_object = st.transform()
        self.size = None
