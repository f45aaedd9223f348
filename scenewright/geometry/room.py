"""Rectangular rooms and furniture footprints: the geometry the benchmark generator lays out on.

A room is centred on the world origin: x in [-W/2, W/2], z in [-D/2, D/2], floor at
y = 0, world Y up, walls ``wall_height`` tall. Walls are numbered counter-clockwise
seen from above, starting with the one at z = -D/2; every wall's normal points into
the room. Footprints are oriented rectangles in the floor (x, z) plane; yaw is the
rotation about world Y that turns an object's front (+Z) to ``(sin yaw, 0, cos yaw)``.
All lengths in metres, angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image

from scenewright.geometry.transforms import rot_y


@dataclass(frozen=True)
class Room:
    """A rectangular room: ``width`` along x, ``depth`` along z, walls ``wall_height`` tall."""

    width: float
    depth: float
    wall_height: float = 2.6


@dataclass(frozen=True)
class Wall:
    """One wall: ``start`` (3,) at floor level, ``direction`` (3,) unit along it, ``normal`` (3,)
    unit into the room, ``length`` in metres."""

    index: int
    start: np.ndarray
    direction: np.ndarray
    normal: np.ndarray
    length: float

    @property
    def midpoint(self) -> np.ndarray:
        return self.start + self.direction * (self.length / 2)


def room_walls(room: Room) -> list[Wall]:
    """The four walls of ``room``, counter-clockwise from the one at z = -depth/2."""
    hw, hd = room.width / 2, room.depth / 2
    spec = [  # start, direction, inward normal, length
        ((-hw, 0, -hd), (1, 0, 0), (0, 0, 1), room.width),
        ((hw, 0, -hd), (0, 0, 1), (-1, 0, 0), room.depth),
        ((hw, 0, hd), (-1, 0, 0), (0, 0, -1), room.width),
        ((-hw, 0, hd), (0, 0, -1), (1, 0, 0), room.depth),
    ]
    return [Wall(k, np.array(s, float), np.array(d, float), np.array(n, float), float(length))
            for k, (s, d, n, length) in enumerate(spec)]


def yaw_of_direction(direction: np.ndarray) -> float:
    """Yaw (rad) that turns an object's front (+Z) towards ``direction`` (3,) (its y is ignored)."""
    return float(np.arctan2(direction[0], direction[2]))


def yaw_transform(yaw: float, translation: np.ndarray) -> np.ndarray:
    """(4, 4) world_from_object: rotation by ``yaw`` about Y, then ``translation`` (3,)."""
    tf = np.eye(4)
    tf[:3, :3] = rot_y(yaw)
    tf[:3, 3] = translation
    return tf


@dataclass(frozen=True)
class Footprint:
    """An oriented rectangle on the floor: ``centre`` (2,) as (x, z), ``half`` (2,) half extents
    along the object's own x and z, ``yaw`` (rad)."""

    centre: np.ndarray
    half: np.ndarray
    yaw: float

    def axes(self) -> np.ndarray:
        """(2, 2) rows: the object's x and z axes in floor (x, z) coordinates."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, -s], [s, c]])

    def corners(self) -> np.ndarray:
        """(4, 2) corners in floor (x, z) coordinates."""
        signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
        return self.centre + (signs * self.half) @ self.axes()

    def grown(self, margin: float) -> "Footprint":
        return Footprint(self.centre, self.half + margin, self.yaw)


def footprint_of(bounds: np.ndarray, world_from_object: np.ndarray) -> Footprint:
    """Footprint of an object's bounding box ``bounds`` (2, 3) (object frame) placed by a yaw-only
    ``world_from_object`` (4, 4)."""
    bounds = np.asarray(bounds, float)
    centre_obj = bounds.mean(axis=0)
    centre = world_from_object[:3, :3] @ centre_obj + world_from_object[:3, 3]
    yaw = float(np.arctan2(world_from_object[0, 2], world_from_object[2, 2]))
    half = (bounds[1] - bounds[0])[[0, 2]] / 2
    return Footprint(centre[[0, 2]], half, yaw)


def footprints_overlap(a: Footprint, b: Footprint) -> bool:
    """True when two oriented rectangles overlap (separating axis theorem; touching = apart)."""
    ca, cb = a.corners(), b.corners()
    for axis in np.vstack([a.axes(), b.axes()]):
        pa, pb = ca @ axis, cb @ axis
        if pa.max() <= pb.min() or pb.max() <= pa.min():
            return False
    return True


def footprint_inside_room(fp: Footprint, room: Room, margin: float = 0.0) -> bool:
    """True when every corner lies inside the room shrunk by ``margin``."""
    c = fp.corners()
    return bool(np.all(np.abs(c[:, 0]) <= room.width / 2 - margin + 1e-9)
                and np.all(np.abs(c[:, 1]) <= room.depth / 2 - margin + 1e-9))


def point_footprint_distance(point: np.ndarray, fp: Footprint) -> float:
    """Distance (m) from a floor point (2,) to a footprint (0 inside)."""
    local = fp.axes() @ (np.asarray(point, float) - fp.centre)
    outside = np.maximum(np.abs(local) - fp.half, 0.0)
    return float(np.linalg.norm(outside))


def _coloured_box(extents, centre, colour) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(centre)
    box.visual.face_colors = np.tile(np.asarray(colour, np.uint8), (len(box.faces), 1))
    return box


def room_meshes(room: Room, floor_colour=(150, 111, 76, 255), wall_colours=None,
                ceiling_colour=None, thickness: float = 0.1, floor_texture: np.ndarray | None = None,
                texture_metres: float = 2.0) -> dict[str, trimesh.Trimesh]:
    """Floor, wall (and ceiling) slabs in world coordinates: ``{"floor": mesh, "wall_0": mesh, ...}``.

    Slabs lie outside the room's inner volume (their inner faces are the floor plane
    and the wall planes), so objects touching a wall or the floor never intersect them.
    ``wall_colours``: four RGBA tuples (default a light paint); ``ceiling_colour``: RGBA
    for a ceiling slab (None: no ceiling); ``floor_texture`` (h, w, 3) uint8: the floor is
    then a textured quad at y = 0, the image covering ``texture_metres`` square, repeated.
    """
    hw, hd, h, t = room.width / 2, room.depth / 2, room.wall_height, thickness
    wall_colours = wall_colours or [(222, 216, 204, 255)] * 4
    if floor_texture is not None:
        out = {"floor": textured_floor(room, floor_texture, texture_metres, margin=t)}
    else:
        out = {"floor": _coloured_box((room.width + 2 * t, t, room.depth + 2 * t), (0, -t / 2, 0), floor_colour)}
    slabs = [((room.width + 2 * t, h, t), (0, h / 2, -hd - t / 2)),
             ((t, h, room.depth + 2 * t), (hw + t / 2, h / 2, 0)),
             ((room.width + 2 * t, h, t), (0, h / 2, hd + t / 2)),
             ((t, h, room.depth + 2 * t), (-hw - t / 2, h / 2, 0))]
    for k, (ext, centre) in enumerate(slabs):
        out[f"wall_{k}"] = _coloured_box(ext, centre, wall_colours[k])
    if ceiling_colour is not None:
        out["ceiling"] = _coloured_box((room.width + 2 * t, t, room.depth + 2 * t), (0, h + t / 2, 0),
                                       ceiling_colour)
    return out


def textured_floor(room: Room, image: np.ndarray, texture_metres: float = 2.0,
                   margin: float = 0.1) -> trimesh.Trimesh:
    """The floor as one quad at y = 0 (``margin`` beyond the walls) with ``image`` (h, w, 3) uint8
    tiled every ``texture_metres`` (UVs in tiles; the renderer and glTF repeat textures)."""
    hw, hd = room.width / 2 + margin, room.depth / 2 + margin
    v = np.array([[-hw, 0, -hd], [hw, 0, -hd], [hw, 0, hd], [-hw, 0, hd]], float)
    f = np.array([[0, 2, 1], [0, 3, 2]])            # normals up
    uv = v[:, [0, 2]] / texture_metres
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(np.asarray(image, np.uint8)))
    return trimesh.Trimesh(v, f, visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
                           process=False)


def plank_texture(rng: np.random.Generator, base_rgb, size: int = 256, planks: int = 8) -> np.ndarray:
    """(size, size, 3) uint8 wood-plank-like image: ``planks`` boards across, each a slightly
    different tone of ``base_rgb`` with staggered joints and faint grain."""
    base = np.asarray(base_rgb, float)
    y, x = np.mgrid[0:size, 0:size]
    board = x * planks // size
    tone = 1.0 + rng.uniform(-0.12, 0.12, planks)
    offset = rng.integers(0, size, planks)
    length = size // 2
    segment = (y + offset[board]) // length            # joints staggered per board
    seg_tone = 1.0 + rng.uniform(-0.06, 0.06, (planks, 3))[board, segment % 3]
    grain = 1.0 + 0.04 * np.sin(y * (0.35 + 0.05 * board) + board * 1.7)
    img = base * (tone[board] * seg_tone * grain)[..., None]
    seams = (x % (size // planks) == 0) | ((y + offset[board]) % length == 0)
    img[seams] *= 0.6
    return np.clip(img, 0, 255).astype(np.uint8)


