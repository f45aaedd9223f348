"""Furnishing a rectangular room by rules a person would recognise.

Wall furniture (beds, sofas, wardrobes, bookcases, desks, cabinets, nightstands) stands
with its back against a wall and its front (+Z) facing into the room; nightstands stand
beside the bed; a coffee table stands in front of the sofa; chairs stand around their
table (or at the desk) facing it, one asset per set; small things (lamps, vases, books,
tableware, electronics) rest on top of a support at the support mesh's real top height
under them (ray cast down); the rest stands on the floor. Footprints never overlap and
every candidate is checked against the placed meshes with python-fcl (exact triangle
tests), so no two objects interpenetrate. Everything random comes from one
``numpy.random.Generator``, so a seed gives one room.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import trimesh

from scenewright.bench.themes import THEMES
from scenewright.geometry.room import (Footprint, Room, footprint_inside_room, footprint_of,
                                       footprints_overlap, room_walls, yaw_of_direction,
                                       yaw_transform)
from scenewright.geometry.stability import tipping_angle
from scenewright.library.categories import category_info

# Which supports small things prefer (first found wins); anything with support=True otherwise.
PREFERRED_SUPPORT = {
    "tv": ["tv_stand", "cabinet", "desk"],
    "tableware": ["dining_table", "coffee_table", "cabinet"],
    "electronics": ["desk", "tv_stand", "cabinet"],
    "lamp": ["nightstand", "desk", "cabinet", "coffee_table"],
    "book": ["desk", "nightstand", "coffee_table", "cabinet"],
}
# Small things that stand only on their preferred supports (a TV is not put on a dining table).
ONLY_PREFERRED = {"tv"}
# Categories that may be added again when the theme pass leaves budget.
# Tables nobody sits at with dining chairs (the name rules file them under "table").
GAME_TABLE = re.compile(r"football|pool|billiard|ping ?pong|tennis|snooker|air hockey", re.IGNORECASE)
# Smallest (short side, long side) in metres of a thing that furnishes a room as its category
# says: a cot is filed under "bed" but does not make a bedroom with nightstands.
MIN_FOOTPRINT = {"bed": (0.85, 1.8), "sofa": (0.6, 1.2), "dining_table": (0.6, 0.7)}
# Seats nobody sets around a dining table.
ODD_SEAT = re.compile(r"wheel ?chair|baby|high ?chair|child|kid|toilet|massage|dentist|barber", re.IGNORECASE)
REPEATABLE = {"armchair", "floor_lamp", "large_plant", "lamp", "vase", "plant", "book", "tableware",
              "electronics", "cabinet", "bookcase", "decor", "floor_object"}


@dataclass
class FurnishSettings:
    """How rooms are furnished. Lengths in metres, angles in radians."""

    wall_gap: float = 0.005          # back of wall furniture to the wall
    clearance: float = 0.03          # minimum gap between floor footprints
    rest_lift: float = 0.001         # small things float this much above their support
    chair_gap: tuple[float, float] = (-0.15, 0.1)   # chair bbox to table bbox (< 0: tucked under)
    chair_gap_max: float = 0.2       # a tucked chair that hits the table is pulled out up to this
    table_yaw_jitter: float = 0.15
    support_margin: float = 0.02     # small things stay this far inside the support's top
    min_support_fraction: float = 0.5   # of a small thing's bottom must rest on the top
    # A small thing is stood on a support only if it can be tipped this far before it falls
    # (geometry.stability): a coat hanger stood on its bar (4.6°) fell in the physics witness.
    min_tipping: float = 0.105          # 6°
    tries: int = 40


@dataclass
class Placed:
    """One placed object. ``world_from_object`` (4, 4) is a yaw and a translation."""

    asset_id: str
    name: str
    category: str
    mesh: trimesh.Trimesh
    world_from_object: np.ndarray
    footprint: Footprint
    support: int | None = None       # index of the object it stands on
    wall: int | None = None          # index of the wall its back is against
    wall_t: float | None = None      # position along that wall (m, of its centre)
    facing: int | None = None        # index of the object it faces (chairs → table)
    group: int | None = None         # same-asset group number (chair sets)

    @property
    def role(self) -> str:
        return category_info(self.category).role


@dataclass
class AssetPool:
    """The assets a room may use: ``by_category`` maps a category to records (sorted by id),
    ``mesh`` loads an asset's mesh in its object frame."""

    by_category: dict[str, list]
    mesh: Callable[[str], trimesh.Trimesh]
    # fcl BVH models by asset id, shared by every room made from this pool (LRU order)
    bvh: OrderedDict = field(default_factory=OrderedDict)
    bvh_limit: int = 128
    tipping_rad: dict = field(default_factory=dict)

    def has(self, category: str) -> bool:
        return bool(self.by_category.get(category))

    def pick(self, rng: np.random.Generator, category: str):
        records = self.by_category[category]
        return records[int(rng.integers(len(records)))]

    def tipping(self, asset_id: str, mesh: trimesh.Trimesh) -> float:
        """Radians the asset stood on its bottom can tip before it falls (cached per asset)."""
        if asset_id not in self.tipping_rad:
            self.tipping_rad[asset_id] = tipping_angle(mesh)
        return self.tipping_rad[asset_id]


class _Collider:
    """python-fcl BVH models of the placed meshes, built once per asset."""

    def __init__(self, cache: OrderedDict | None = None, limit: int = 128):
        import fcl
        self._fcl = fcl
        self._bvh = cache if cache is not None else OrderedDict()
        self._limit = limit
        self.objects: list = []

    def _model(self, asset_id: str, mesh: trimesh.Trimesh):
        if asset_id in self._bvh:
            self._bvh.move_to_end(asset_id)
            return self._bvh[asset_id]
        m = self._fcl.BVHModel()
        m.beginModel(len(mesh.vertices), len(mesh.faces))
        m.addSubModel(np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int32))
        m.endModel()
        self._bvh[asset_id] = m
        while len(self._bvh) > self._limit:
            self._bvh.popitem(last=False)
        return m

    def make(self, asset_id: str, mesh: trimesh.Trimesh, tf: np.ndarray):
        return self._fcl.CollisionObject(self._model(asset_id, mesh),
                                         self._fcl.Transform(tf[:3, :3], tf[:3, 3]))

    def hits(self, obj) -> bool:
        """True when ``obj`` touches or intersects any placed object."""
        fcl = self._fcl
        for other in self.objects:
            if fcl.collide(obj, other, fcl.CollisionRequest(), fcl.CollisionResult()) > 0:
                return True
        return False


class RoomFurnisher:
    """Furnishes one room; ``placed`` grows as :meth:`furnish` runs."""

    def __init__(self, rng: np.random.Generator, room: Room, pool: AssetPool,
                 settings: FurnishSettings | None = None):
        self.rng, self.room, self.pool = rng, room, pool
        self.settings = settings or FurnishSettings()
        self.walls = room_walls(room)
        self.placed: list[Placed] = []
        self.collider = _Collider(pool.bvh, pool.bvh_limit)
        self._groups = 0

    # -- bookkeeping -------------------------------------------------------------------
    def _free(self, fp: Footprint, floor_only: bool = True, ignore: int | None = None) -> bool:
        grown = fp.grown(self.settings.clearance / 2)
        for i, p in enumerate(self.placed):
            if (floor_only and p.support is not None) or i == ignore:
                continue
            if footprints_overlap(grown, p.footprint.grown(self.settings.clearance / 2)):
                return False
        return True

    def _try_add(self, record, mesh: trimesh.Trimesh, tf: np.ndarray, floor_check: bool = True,
                 ignore: int | None = None, **links) -> int | None:
        """Add the object at ``tf`` if it fits the room, its footprint is free (``ignore``: an
        object whose footprint it may share, a chair's table) and no mesh is hit."""
        fp = footprint_of(mesh.bounds, tf)
        if floor_check and (not footprint_inside_room(fp, self.room) or not self._free(fp, ignore=ignore)):
            return None
        if mesh.bounds[1, 1] + tf[1, 3] > self.room.wall_height:
            return None
        obj = self.collider.make(record.asset_id, mesh, tf)
        if self.collider.hits(obj):
            return None
        self.collider.objects.append(obj)
        self.placed.append(Placed(record.asset_id, getattr(record, "name", record.asset_id),
                                  record.category, mesh, tf, fp, **links))
        return len(self.placed) - 1

    # -- placement rules ---------------------------------------------------------------
    def wall_pose(self, mesh: trimesh.Trimesh, wall: int, t: float) -> np.ndarray:
        """world_from_object putting the object's back against ``wall`` with its centre at ``t``."""
        w = self.walls[wall]
        yaw = yaw_of_direction(w.normal)
        b = mesh.bounds
        back_local = np.array([(b[0, 0] + b[1, 0]) / 2, 0.0, b[0, 2]])
        R = yaw_transform(yaw, np.zeros(3))[:3, :3]
        target = w.start + w.direction * t + w.normal * self.settings.wall_gap
        return yaw_transform(yaw, target - R @ back_local)

    def place_wall(self, record, wall: int | None = None, t: float | None = None) -> int | None:
        mesh = self.pool.mesh(record.asset_id)
        width = float(mesh.extents[0])
        for _ in range(self.settings.tries if t is None else 1):
            k = int(self.rng.integers(4)) if wall is None else wall
            length = self.walls[k].length
            if width + 0.04 > length:
                continue
            tk = float(self.rng.uniform(width / 2 + 0.02, length - width / 2 - 0.02)) if t is None else t
            idx = self._try_add(record, mesh, self.wall_pose(mesh, k, tk), wall=k, wall_t=tk)
            if idx is not None:
                return idx
        return None

    def place_beside(self, record, anchor: int) -> int | None:
        """Beside a wall object (a nightstand beside its bed), on the same wall."""
        a = self.placed[anchor]
        if a.wall is None:
            return None
        mesh = self.pool.mesh(record.asset_id)
        half = (float(a.footprint.half[0]) + float(mesh.extents[0]) / 2)
        for side in self.rng.permutation([-1.0, 1.0]):
            t = a.wall_t + side * (half + float(self.rng.uniform(0.03, 0.1)))
            idx = self.place_wall(record, wall=a.wall, t=t)
            if idx is not None:
                return idx
        return None

    def place_free(self, record, yaw_fn: Callable[[np.ndarray], float] | None = None,
                   margin: float = 0.05) -> int | None:
        """Anywhere on the floor; ``yaw_fn(centre (2,)) -> yaw`` (default: random)."""
        mesh = self.pool.mesh(record.asset_id)
        r = float(np.linalg.norm(mesh.extents[[0, 2]])) / 2
        hw, hd = self.room.width / 2 - margin - r, self.room.depth / 2 - margin - r
        if hw <= 0 or hd <= 0:
            return None
        for _ in range(self.settings.tries):
            c = np.array([self.rng.uniform(-hw, hw), self.rng.uniform(-hd, hd)])
            yaw = float(self.rng.uniform(-np.pi, np.pi)) if yaw_fn is None else yaw_fn(c)
            idx = self._try_add(record, mesh, self._floor_pose(mesh, c, yaw))
            if idx is not None:
                return idx
        return None

    @staticmethod
    def _floor_pose(mesh: trimesh.Trimesh, centre: np.ndarray, yaw: float) -> np.ndarray:
        """Pose with the bbox centre at floor point ``centre`` (x, z) and the lowest point on y = 0."""
        b = mesh.bounds
        local = np.array([(b[0, 0] + b[1, 0]) / 2, b[0, 1], (b[0, 2] + b[1, 2]) / 2])
        R = yaw_transform(yaw, np.zeros(3))[:3, :3]
        return yaw_transform(yaw, np.array([centre[0], 0.0, centre[1]]) - R @ local)

    def place_table(self, record) -> int | None:
        """A coffee table in front of the sofa when there is one; else free, axis aligned ± jitter."""
        mesh = self.pool.mesh(record.asset_id)
        sofas = [i for i, p in enumerate(self.placed) if p.category == "sofa"]
        if record.category == "coffee_table" and sofas:
            s = self.placed[sofas[0]]
            front = s.world_from_object[:3, 2]
            yaw = yaw_of_direction(front)
            for _ in range(self.settings.tries // 4):
                dist = s.footprint.half[1] + float(self.rng.uniform(0.3, 0.6)) + mesh.extents[2] / 2
                c = s.footprint.centre + front[[0, 2]] * dist
                idx = self._try_add(record, mesh, self._floor_pose(mesh, c, yaw))
                if idx is not None:
                    return idx
        jitter = self.settings.table_yaw_jitter
        return self.place_free(record, margin=0.45 if record.category == "dining_table" else 0.2,
                               yaw_fn=lambda c: float(self.rng.integers(4)) * np.pi / 2
                               + float(self.rng.uniform(-jitter, jitter)))

    def place_chairs(self, record, table: int, count: int) -> list[int]:
        """Up to ``count`` chairs (one asset) around ``table`` — or in front of a desk — facing it."""
        t = self.placed[table]
        mesh = self.pool.mesh(record.asset_id)
        cw, cd = float(mesh.extents[0]), float(mesh.extents[2])
        axes = t.footprint.axes()        # rows: table x, table z in floor coordinates
        slots = []
        sides = [(1, +1), (1, -1), (0, +1), (0, -1)]     # (axis, sign): long sides of a desk: front only
        if t.wall is not None:
            sides = [(1, +1)]
        for axis, sign in sides:
            along = 1 - axis
            length = 2 * t.footprint.half[along]
            n = max(1, int(length // (cw + 0.08))) if t.wall is None else 1
            n = min(n, 3)
            for k in range(n):
                offset = (k - (n - 1) / 2) * (length / n)
                slots.append((axis, sign, offset))
        chosen: list[int] = []
        group = self._groups
        for si in self.rng.permutation(len(slots)):
            if len(chosen) >= count:
                break
            axis, sign, offset = slots[si]
            normal = axes[axis] * sign
            gap = float(self.rng.uniform(*self.settings.chair_gap))
            yaw = yaw_of_direction(np.array([-normal[0], 0.0, -normal[1]]))
            # Chairs are tucked under the table when their meshes allow it (fcl decides),
            # else pulled out 5 cm at a time.
            while gap <= self.settings.chair_gap_max:
                dist = t.footprint.half[axis] + gap + cd / 2
                c = t.footprint.centre + normal * dist + axes[1 - axis] * offset
                idx = self._try_add(record, mesh, self._floor_pose(mesh, c, yaw), ignore=table,
                                    facing=table, group=group)
                if idx is not None:
                    chosen.append(idx)
                    break
                gap += 0.05
        if chosen:
            self._groups += 1
        return chosen

    def place_on(self, record, support: int) -> int | None:
        """On top of ``support``: rest height = the support mesh's top under the object's bottom
        (rays cast down onto the support in its own frame)."""
        s = self.placed[support]
        mesh = self.pool.mesh(record.asset_id)
        if self.pool.tipping(record.asset_id, mesh) < self.settings.min_tipping:
            return None                  # it would fall over: a thing made to hang or lean
        sb, ob = s.mesh.bounds, mesh.bounds
        bottom = self._bottom_points(mesh)
        m = self.settings.support_margin
        for _ in range(self.settings.tries):
            dyaw = float(self.rng.uniform(-0.5, 0.5))
            c, si = abs(np.cos(dyaw)), abs(np.sin(dyaw))
            hx = c * mesh.extents[0] / 2 + si * mesh.extents[2] / 2
            hz = si * mesh.extents[0] / 2 + c * mesh.extents[2] / 2
            lo, hi = sb[0, [0, 2]] + [hx + m, hz + m], sb[1, [0, 2]] - [hx + m, hz + m]
            if np.any(lo > hi):
                return None
            centre_s = self.rng.uniform(lo, hi)       # bbox centre of the object, support frame
            # object → support frame: yaw dyaw, bbox centre at centre_s (x, z)
            R = yaw_transform(dyaw, np.zeros(3))[:3, :3]
            obj_centre = np.array([(ob[0, 0] + ob[1, 0]) / 2, 0.0, (ob[0, 2] + ob[1, 2]) / 2])
            t_xz = np.array([centre_s[0], 0.0, centre_s[1]]) - R @ obj_centre
            pts = bottom @ R.T + t_xz                  # support frame, y still object-frame
            origins = np.column_stack([pts[:, 0], np.full(len(pts), sb[1, 1] + 0.05), pts[:, 2]])
            locs, ray_idx, _ = s.mesh.ray.intersects_location(
                origins, np.tile([0.0, -1.0, 0.0], (len(origins), 1)), multiple_hits=False)
            if len(locs) < max(1, self.settings.min_support_fraction * len(origins)):
                continue
            top = float(locs[:, 1].max())
            if np.mean(locs[:, 1] > top - 0.005) < self.settings.min_support_fraction or top < 0.1:
                continue
            support_from_obj = yaw_transform(dyaw, t_xz + [0.0, top + self.settings.rest_lift - ob[0, 1], 0.0])
            tf = s.world_from_object @ support_from_obj
            fp = footprint_of(mesh.bounds, tf)
            if any(p.support is not None and footprints_overlap(fp, p.footprint) for p in self.placed):
                continue
            idx = self._try_add(record, mesh, tf, floor_check=False, support=support)
            if idx is not None:
                return idx
        return None

    @staticmethod
    def _bottom_points(mesh: trimesh.Trimesh, band: float = 0.01, limit: int = 96) -> np.ndarray:
        """(N, 3) object-frame points of the mesh's bottom: vertices and face centres within
        ``band`` of its lowest point (what touches the support)."""
        v = np.asarray(mesh.vertices)
        y0 = v[:, 1].min()
        low_faces = np.all(v[mesh.faces][:, :, 1] < y0 + band, axis=1)
        pts = np.vstack([v[v[:, 1] < y0 + band], mesh.triangles_center[low_faces]])
        if len(pts) > limit:   # evenly spaced subset, deterministic
            pts = pts[np.linspace(0, len(pts) - 1, limit).round().astype(int)]
        return pts

    # -- the whole room ----------------------------------------------------------------
    def supports(self) -> list[int]:
        return [i for i, p in enumerate(self.placed) if category_info(p.category).support]

    def add(self, category: str, count: int = 1) -> list[int]:
        """Place ``count`` objects of ``category`` by its role; returns the indices placed."""
        role = category_info(category).role
        rng = self.rng
        if role == "seat":
            tables = [i for i, p in enumerate(self.placed)
                      if p.category in ("dining_table", "desk") and
                      not any(q.facing == i for q in self.placed)]
            if not tables:
                return []
            return self.place_chairs(self.pool.pick(rng, category), tables[0],
                                     1 if self.placed[tables[0]].wall is not None else count)
        out = []
        for _ in range(count):
            record = self.pool.pick(rng, category)
            if role == "wall":
                beds = [i for i, p in enumerate(self.placed) if p.category == "bed"]
                sofas = [p for p in self.placed if p.category == "sofa" and p.wall is not None]
                idx = None
                if category == "nightstand" and beds:
                    idx = self.place_beside(record, beds[0])
                elif category == "tv_stand" and sofas:     # the TV faces the sofa
                    idx = self.place_wall(record, wall=(sofas[0].wall + 2) % 4)
                if idx is None:
                    idx = self.place_wall(record)
            elif role == "table":
                idx = self.place_table(record)
            elif role == "small":
                supports = self.supports()
                preferred = [i for c in PREFERRED_SUPPORT.get(category, []) for i in supports
                             if self.placed[i].category == c]
                order = preferred + [int(i) for i in rng.permutation(supports) if i not in preferred]
                if category in ONLY_PREFERRED:
                    order = preferred
                idx = None
                for sup in order[:4]:
                    idx = self.place_on(record, sup)
                    if idx is not None:
                        break
            else:
                idx = self.place_free(record, yaw_fn=self._towards_focus)
            if idx is not None:
                out.append(idx)
        return out

    def _towards_focus(self, centre: np.ndarray) -> float:
        """Yaw turning a floor object towards the room's focus (a coffee table or the centre)."""
        focus = np.zeros(2)
        for p in self.placed:
            if p.category in ("coffee_table", "dining_table"):
                focus = p.footprint.centre
                break
        d = focus - centre
        return float(np.arctan2(d[0], d[1]) + self.rng.uniform(-0.4, 0.4))

    def furnish(self, theme: str, n_objects: int) -> list[Placed]:
        """Place up to ``n_objects`` things for ``theme`` (see ``themes.THEMES``)."""
        entries = THEMES[theme]
        for category, lo, hi, prob in entries:
            draw_p, draw_n = self.rng.random(), int(self.rng.integers(lo, hi + 1))
            budget = n_objects - len(self.placed)
            if budget <= 0:
                break
            if draw_p >= prob or not self.pool.has(category):
                continue
            self.add(category, min(draw_n, budget))
        # Fill what is left with things a room may hold several of.
        # At most two of a floor thing and three of a small thing in all.
        extra = [c for c, *_ in entries if c in REPEATABLE and self.pool.has(c)]
        for _ in range(3 * n_objects):
            if len(self.placed) >= n_objects or not extra:
                break
            category = extra[int(self.rng.integers(len(extra)))]
            cap = 3 if category_info(category).role == "small" else 2
            if sum(p.category == category for p in self.placed) < cap:
                self.add(category)
        return self.placed


def pool_from_records(records, mesh: Callable[[str], trimesh.Trimesh],
                      allowed_catalogs: list[str] | None = None, room: Room | None = None) -> AssetPool:
    """Group library records by category (sorted by asset id, so choices are reproducible),
    keeping only ``allowed_catalogs`` (asset_id prefix = catalog file stem) and things that
    fit in the smallest room."""
    by_cat: dict[str, list] = {}
    for r in sorted(records, key=lambda r: r.asset_id):
        catalog = r.asset_id.split("/", 1)[0]
        if allowed_catalogs is not None and catalog not in allowed_catalogs:
            continue
        if not (0.01 <= min(r.width, r.height, r.depth) and max(r.width, r.depth) <= 3.2 and r.height <= 2.4):
            continue
        if r.category in MIN_FOOTPRINT and (min(r.width, r.depth) < MIN_FOOTPRINT[r.category][0]
                                            or max(r.width, r.depth) < MIN_FOOTPRINT[r.category][1]):
            continue
        role, name = category_info(r.category).role, getattr(r, "name", "")
        if (role == "table" and GAME_TABLE.search(name)) or (role == "seat" and ODD_SEAT.search(name)):
            continue
        by_cat.setdefault(r.category, []).append(r)
    return AssetPool(by_cat, mesh)
