"""Furnishing a room that satisfies a request: relation by relation, collision-checked.

Builds on the benchmark's :class:`~scenewright.bench.furnish.RoomFurnisher` (wall poses,
supports found by ray casting, python-fcl mesh tests, so nothing placed interpenetrates)
and adds the placements a prompt asks for: next to, in front of, facing, against a wall,
in a corner, around, between, on. Objects are placed anchors first (what a relation points
at stands before what points at it; for *between* the object in the middle stands first and
its neighbours beside it). A door zone on one wall is kept free and the arrangement is
redrawn until every seat and bed can be reached from it (:mod:`scenewright.text.walk`).
All lengths in metres, angles in radians; world Y up, room centred on the origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenewright.bench.furnish import PREFERRED_SUPPORT, AssetPool, FurnishSettings, RoomFurnisher
from scenewright.geometry.room import Footprint, Room, footprints_overlap, yaw_of_direction
from scenewright.library.categories import category_info

DOOR_WIDTH_M = 0.9
DOOR_DEPTH_M = 0.9
# Relations that decide where an object stands, strongest first.
POSITIONAL = ("on", "between_side", "next_to", "in_front_of", "around", "in_corner", "facing", "against_wall")
FALLBACK_ASSETS = 3         # smaller assets of the category tried when the chosen one does not fit


@dataclass
class Slot:
    """One object instance to place: ``request`` id, ``k`` its number within the request."""

    request: int
    k: int
    category: str
    record: object
    relations: list[tuple] = field(default_factory=list)    # (kind, target slot index | None, extra)
    placed: int | None = None                                # index into furnisher.placed


class TextFurnisher(RoomFurnisher):
    """A RoomFurnisher that also keeps a door zone free and places by requested relations."""

    def __init__(self, rng, room: Room, pool: AssetPool, settings: FurnishSettings | None = None,
                 door: tuple[int, float] | None = None):
        super().__init__(rng, room, pool, settings)
        self.reserved: list[Footprint] = []
        if door is not None:
            self.door = door
            w = self.walls[door[0]]
            centre = w.start + w.direction * door[1] + w.normal * (DOOR_DEPTH_M / 2)
            self.reserved.append(Footprint(centre[[0, 2]], np.array([DOOR_WIDTH_M / 2, DOOR_DEPTH_M / 2]),
                                           yaw_of_direction(w.normal)))

    def _free(self, fp: Footprint, floor_only: bool = True, ignore: int | None = None) -> bool:
        if any(footprints_overlap(fp, r) for r in self.reserved):
            return False
        return super()._free(fp, floor_only, ignore)

    # -- relation placements --------------------------------------------------------------
    def _pose_candidates(self, record, candidates, **links) -> int | None:
        """Try (centre (2,), yaw) candidates in order; the first that fits is placed."""
        mesh = self.pool.mesh(record.asset_id)
        for c, yaw in candidates:
            idx = self._try_add(record, mesh, self._floor_pose(mesh, np.asarray(c, float), yaw), **links)
            if idx is not None:
                return idx
        return None

    def place_next_to(self, record, anchor: int, side: float | None = None, yaw_to: int | None = None) -> int | None:
        """Beside ``anchor``: along its wall when it stands at one, else at its left or right
        (``side`` -1 / +1 along its own x axis; None: either), turned like it (or towards ``yaw_to``)."""
        a = self.placed[anchor]
        mesh = self.pool.mesh(record.asset_id)
        sides = [side] if side is not None else list(self.rng.permutation([-1.0, 1.0]))
        if a.wall is not None and category_info(record.category).role in ("wall", "floor", "table"):
            half = float(a.footprint.half[0]) + float(mesh.extents[0]) / 2
            for sd in sides:
                for gap in (0.03, 0.08, 0.15, 0.3):
                    idx = self.place_wall(record, wall=a.wall, t=a.wall_t - sd * (half + gap))
                    if idx is not None:
                        return idx
        axes = a.footprint.axes()
        cands = []
        for sd in sides:
            for gap in (0.05, 0.12, 0.25, 0.4):
                for along in (0.0, 0.15, -0.15):
                    c = a.footprint.centre + axes[0] * sd * (a.footprint.half[0] + gap + mesh.extents[0] / 2) \
                        + axes[1] * along
                    yaw = a.footprint.yaw if yaw_to is None else self._yaw_towards(c, yaw_to)
                    cands.append((c, yaw))
        return self._pose_candidates(record, cands)

    def place_in_front(self, record, anchor: int, yaw_to: int | None = None) -> int | None:
        """In front of ``anchor`` (along its +Z), 0.3–1.2 m away; a table keeps the anchor's
        yaw, anything else turns to face it."""
        a = self.placed[anchor]
        mesh = self.pool.mesh(record.asset_id)
        front = a.world_from_object[:3, 2][[0, 2]]
        front = front / max(np.linalg.norm(front), 1e-9)
        side = np.array([front[1], -front[0]])
        table = category_info(record.category).role == "table"
        cands = []
        for gap in (0.35, 0.5, 0.7, 0.9, 1.2):
            for lat in (0.0, 0.2, -0.2):
                c = a.footprint.centre + front * (a.footprint.half[1] + gap + mesh.extents[2] / 2) + side * lat
                yaw = a.footprint.yaw if table else yaw_of_direction(np.array([-front[0], 0, -front[1]]))
                if yaw_to is not None:
                    yaw = self._yaw_towards(c, yaw_to)
                cands.append((c, yaw))
        return self._pose_candidates(record, cands)

    def _yaw_towards(self, centre, target: int) -> float:
        d = self.placed[target].footprint.centre - np.asarray(centre, float)
        return float(np.arctan2(d[0], d[1]))

    def place_facing(self, record, target: int, on_wall: bool) -> int | None:
        """Facing ``target``: on the wall looking at it (wall furniture, or when asked to stand
        against a wall), else 1–2.6 m in front of it, turned to it."""
        t = self.placed[target]
        mesh = self.pool.mesh(record.asset_id)
        if on_wall:
            order = []
            for w in self.walls:
                v = np.array([t.footprint.centre[0], 0, t.footprint.centre[1]]) - w.start
                along = float(v @ w.direction)
                order.append((-float(v @ w.normal), w.index, along))
            for _, k, along in sorted(order):
                w = self.walls[k]
                half = float(mesh.extents[0]) / 2 + 0.02
                if 2 * half > w.length:
                    continue
                for dt in (0.0, 0.2, -0.2, 0.4, -0.4, 0.7, -0.7):
                    tt = float(np.clip(along + dt, half, w.length - half))
                    idx = self.place_wall(record, wall=k, t=tt)
                    if idx is not None:
                        return idx
            return None
        front = t.world_from_object[:3, 2][[0, 2]]
        front = front / max(np.linalg.norm(front), 1e-9)
        base = float(np.arctan2(front[0], front[1]))
        cands = []
        for dist in (1.0, 1.4, 1.8, 2.3, 2.8):
            for dang in (0.0, 0.3, -0.3, 0.6, -0.6):
                ang = base + dang
                c = t.footprint.centre + np.array([np.sin(ang), np.cos(ang)]) * (t.footprint.half.max() + dist * 0.6
                                                                                   + mesh.extents[2] / 2)
                cands.append((c, self._yaw_towards(c, target)))
        return self._pose_candidates(record, cands)

    def place_between_room(self, record, sides_m: float, on_wall: bool) -> int | None:
        """Place an object that two others will flank: on a wall (or free) with ``sides_m`` of
        free length left beside it, half on each side."""
        mesh = self.pool.mesh(record.asset_id)
        width = float(mesh.extents[0])
        if on_wall:
            for _ in range(self.settings.tries):
                k = int(self.rng.integers(4))
                w = self.walls[k]
                lo, hi = width / 2 + sides_m / 2 + 0.05, w.length - width / 2 - sides_m / 2 - 0.05
                if lo > hi:
                    continue
                idx = self.place_wall(record, wall=k, t=float(self.rng.uniform(lo, hi)))
                if idx is not None:
                    return idx
            return None
        return self.place_free(record, yaw_fn=self._towards_focus, margin=0.05 + sides_m / 2)

    def place_corner(self, record) -> int | None:
        """Back to a wall at one of its ends (a corner), turned into the room."""
        mesh = self.pool.mesh(record.asset_id)
        width = float(mesh.extents[0])
        for k in self.rng.permutation(4):
            w = self.walls[int(k)]
            for end in self.rng.permutation([0, 1]):
                t = width / 2 + 0.03 if end == 0 else w.length - width / 2 - 0.03
                idx = self.place_wall(record, wall=int(k), t=t)
                if idx is not None:
                    return idx
        return None

    def place_around(self, record, anchor: int, n_total: int) -> int | None:
        """One of ``n_total`` seats spread around ``anchor`` (its front half when it stands at a
        wall), facing its centre."""
        a = self.placed[anchor]
        mesh = self.pool.mesh(record.asset_id)
        front = a.world_from_object[:3, 2][[0, 2]]
        base = float(np.arctan2(front[0], front[1]))
        spread = np.pi * 0.8 if a.wall is not None else 2 * np.pi
        n = max(n_total, 1)
        angles = base + (np.arange(n) - (n - 1) / 2) * (spread / n if a.wall is None else spread / max(n, 2))
        if a.wall is None:
            angles = base + np.arange(n) * 2 * np.pi / n + float(self.rng.uniform(0, 2 * np.pi / n))
            # rectangular tables: seats on the long sides first
            angles = np.concatenate([angles, angles + np.pi / n])
        else:
            angles = np.concatenate([angles, angles + spread / (2 * n)])
        cands = []
        axes = a.footprint.axes()
        # never tucked under: a seat whose box clears the anchor's box cannot touch it, and the
        # plausibility check's 1 cm voxels read two meshes closer than that as overlapping
        for gap in (0.02, 0.1, 0.2, 0.35, 0.5):
            for ang in angles:
                d = np.array([np.sin(ang), np.cos(ang)])
                local = axes @ d                          # direction in the anchor's own x/z
                # distance from the centre to the anchor's footprint edge along d
                r = min(a.footprint.half[0] / max(abs(local[0]), 1e-6), a.footprint.half[1] / max(abs(local[1]), 1e-6))
                c = a.footprint.centre + d * (r + gap + mesh.extents[2] / 2)
                cands.append((c, float(np.arctan2(-d[0], -d[1]))))
        mesh_ = mesh
        for c, yaw in cands:
            idx = self._try_add(record, mesh_, self._floor_pose(mesh_, np.asarray(c), yaw), facing=anchor)
            if idx is not None:
                return idx
        return None

    def place_default(self, record) -> int | None:
        """Where the object's role puts it when the prompt says nothing (benchmark rules)."""
        cat = record.category
        role = category_info(cat).role
        if role == "wall":
            beds = [i for i, p in enumerate(self.placed) if p.category == "bed"]
            if cat == "nightstand" and beds:
                idx = self.place_beside(record, beds[0])
                if idx is not None:
                    return idx
            return self.place_wall(record)
        if role == "table":
            return self.place_table(record)
        if role == "seat":
            tables = [i for i, p in enumerate(self.placed) if p.category in ("dining_table", "desk", "coffee_table")]
            for t in tables:
                idx = self.place_around(record, t, 4 if self.placed[t].wall is None else 1)
                if idx is not None:
                    return idx
            return self.place_free(record, yaw_fn=self._towards_focus)
        if role == "small":
            supports = self.supports()
            preferred = [i for c in PREFERRED_SUPPORT.get(cat, []) for i in supports if self.placed[i].category == c]
            order = preferred + [int(i) for i in self.rng.permutation(supports) if i not in preferred]
            for s in order[:6]:
                idx = self.place_on(record, s)
                if idx is not None:
                    return idx
            return None
        return self.place_free(record, yaw_fn=self._towards_focus)


def build_slots(request, chosen: dict) -> list[Slot]:
    """Instances of the request with their instance-level relations. ``chosen``: request id →
    asset record (one asset per request: a pair of nightstands match)."""
    slots: list[Slot] = []
    index: dict[tuple[int, int], int] = {}
    for o in request.objects:
        for k in range(o.count):
            index[(o.id, k)] = len(slots)
            slots.append(Slot(o.id, k, o.category, chosen[o.id]))
    counts = {o.id: o.count for o in request.objects}
    for r in request.relations:
        ns = counts[r.subject]
        for k in range(ns):
            s = slots[index[(r.subject, k)]]
            if r.type in ("against_wall", "in_corner"):
                s.relations.append((r.type, None, None))
                continue
            if r.type == "between":
                a = index[(r.object, 0)]
                b = index[(r.object2, 1 if r.object2 == r.object and counts[r.object] > 1 else 0)]
                s.relations.append(("between", a, b))
                slots[a].relations.append(("between_side", index[(r.subject, k)], -1.0))
                slots[b].relations.append(("between_side", index[(r.subject, k)], 1.0))
                continue
            if r.object == r.subject:                 # "two sofas facing each other"
                if k == 0:
                    continue
                s.relations.append((r.type, index[(r.subject, k - 1)], None))
                continue
            no = counts[r.object]
            target = index[(r.object, k % no if (r.each or ns == no or r.type == "on") else 0)]
            s.relations.append((r.type, target, ns if r.type == "around" else None))
    return slots


def placement_order(slots: list[Slot]) -> list[int]:
    """Anchors before what refers to them; among equals, wall furniture, tables, floor things,
    seats, then small things; ties in request order. ``between`` is placed before its sides."""
    deps = {i: set() for i in range(len(slots))}
    supports = {i for i, s in enumerate(slots) if category_info(s.category).support}
    for i, s in enumerate(slots):
        for kind, target, _ in s.relations:
            if target is None or kind == "between":
                continue
            deps[i].add(target)
        if category_info(s.category).role == "small" and not any(k == "on" for k, _, _ in s.relations):
            deps[i] |= supports - {i}          # a small thing put anywhere waits for the supports
    rank = {"wall": 0, "table": 1, "floor": 2, "seat": 3, "small": 4}
    order, done = [], set()
    while len(order) < len(slots):
        ready = [i for i in range(len(slots)) if i not in done and deps[i] <= done]
        if not ready:        # a cycle (a faces b, b faces a): break it at the first left
            ready = [min(i for i in range(len(slots)) if i not in done)]
        i = min(ready, key=lambda j: (rank.get(category_info(slots[j].category).role, 2), j))
        order.append(i)
        done.add(i)
    return order


def place_slot(f: TextFurnisher, slots: list[Slot], i: int) -> int | None:
    """Place one slot by its strongest relation (falling back to its role's default)."""
    s = slots[i]
    rels = {kind: (target, extra) for kind, target, extra in s.relations}
    placed = lambda j: slots[j].placed          # noqa: E731
    facing = rels.get("facing")
    face_idx = placed(facing[0]) if facing and facing[0] is not None else None
    role = category_info(s.category).role
    if "on" in rels and placed(rels["on"][0]) is not None:
        return f.place_on(s.record, placed(rels["on"][0]))
    if "between_side" in rels and placed(rels["between_side"][0]) is not None:
        return f.place_next_to(s.record, placed(rels["between_side"][0]), side=rels["between_side"][1])
    if "next_to" in rels and placed(rels["next_to"][0]) is not None:
        return f.place_next_to(s.record, placed(rels["next_to"][0]), yaw_to=face_idx)
    if "in_front_of" in rels and placed(rels["in_front_of"][0]) is not None:
        return f.place_in_front(s.record, placed(rels["in_front_of"][0]), yaw_to=face_idx)
    if "around" in rels and placed(rels["around"][0]) is not None:
        return f.place_around(s.record, placed(rels["around"][0]), rels["around"][1] or 4)
    if "between" in rels:
        a, b = rels["between"]
        need = float(slots[a].record.width) + float(slots[b].record.width) + 0.2
        return f.place_between_room(s.record, need, on_wall=("against_wall" in rels or role == "wall"))
    if "in_corner" in rels:
        return f.place_corner(s.record)
    if face_idx is not None:
        return f.place_facing(s.record, face_idx, on_wall=("against_wall" in rels or role == "wall"))
    if "against_wall" in rels:
        return f.place_wall(s.record)
    return f.place_default(s.record)


def text_layout_settings() -> FurnishSettings:
    """The benchmark's furnishing settings, with small things resting 12 mm above their support:
    more than one 1 cm voxel of the plausibility check (so resting is not read as overlap), less
    than its 2 cm floating tolerance."""
    return FurnishSettings(rest_lift=0.012)


def arrange(request, pool: AssetPool, chosen: dict, room: Room, rng: np.random.Generator,
            settings: FurnishSettings | None = None, obstacles=()) -> tuple[TextFurnisher, list[Slot], list[str]]:
    """One attempt at furnishing ``room`` for ``request``. Returns the furnisher (its
    ``placed`` list), the slots (``placed`` None where an object did not fit) and notes.
    ``obstacles``: :class:`~scenewright.bench.furnish.Placed` objects already standing (world
    meshes with an identity pose: a reconstruction being repaired); nothing may overlap them."""
    walls_len = [room.width, room.depth, room.width, room.depth]
    door_wall = int(rng.integers(4))
    length = walls_len[door_wall]
    door_t = float(rng.uniform(DOOR_WIDTH_M / 2 + 0.1, max(length - DOOR_WIDTH_M / 2 - 0.1, DOOR_WIDTH_M / 2 + 0.1)))
    f = TextFurnisher(rng, room, pool, settings or text_layout_settings(), door=(door_wall, door_t))
    for ob in obstacles:
        f.placed.append(ob)
        f.collider.objects.append(f.collider.make(ob.asset_id, ob.mesh, ob.world_from_object))
    slots = build_slots(request, chosen)
    notes = []
    for i in placement_order(slots):
        slots[i].placed = place_slot(f, slots, i)
        if slots[i].placed is None:
            # the chosen asset does not fit here: try the category's smaller assets
            first = slots[i].record
            others = sorted((r for r in pool.by_category[first.category] if r.asset_id != first.asset_id
                             and r.width * r.depth <= first.width * first.depth),
                            key=lambda r: -(r.width * r.depth))
            for r in others[:FALLBACK_ASSETS]:
                slots[i].record = r
                slots[i].placed = place_slot(f, slots, i)
                if slots[i].placed is not None:
                    notes.append(f"{first.name} did not fit; {r.name} used instead")
                    break
            else:
                slots[i].record = first
    return f, slots, notes
