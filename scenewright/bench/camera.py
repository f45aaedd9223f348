"""Where a person stands to photograph a room: near a wall, at eye height, looking across it.

Candidates stand 0.2–0.9 m in front of a random wall (clear of furniture), 1.2–1.7 m
above the floor, pitched 10–35° down towards the furniture's centre with a horizontal
field of view of 55–75°. Each is scored by how many objects' boxes project into the
frame in front of the camera (cheap: no rendering), so the generator renders the best
ones first and keeps the first whose render shows enough objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenewright.bench.furnish import Placed
from scenewright.capture import intrinsics_from_hfov
from scenewright.geometry.room import Room, point_footprint_distance, room_walls
from scenewright.geometry.transforms import look_along


@dataclass
class CameraSettings:
    """Ranges a handheld photo falls in. Metres and degrees."""

    height: tuple[float, float] = (1.2, 1.7)
    pitch_deg: tuple[float, float] = (10.0, 35.0)      # downwards
    hfov_deg: tuple[float, float] = (55.0, 75.0)
    wall_distance: tuple[float, float] = (0.2, 0.9)
    clearance: float = 0.5          # from any floor object's footprint
    aim_jitter: float = 0.3         # m, noise on the point looked at
    near: float = 1.0               # m, objects closer than this (footprint) score half
    candidates: int = 48


@dataclass
class CameraPose:
    K: np.ndarray                   # (3, 3) pixels
    world_from_camera: np.ndarray   # (4, 4) OpenCV
    height: float
    pitch_deg: float
    hfov_deg: float
    score: float


def box_corners(placed: Placed) -> np.ndarray:
    """(8, 3) world corners of a placed object's bounding box."""
    b = placed.mesh.bounds
    idx = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    local = b[idx, [0, 1, 2]]
    tf = placed.world_from_object
    return local @ tf[:3, :3].T + tf[:3, 3]


def frame_score(K: np.ndarray, world_from_camera: np.ndarray, width: int, height: int,
                corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For objects' box corners ``corners`` (N, 8, 3): (N,) bool whether the box centre projects
    into the image in front of the camera, and (N,) fraction of corners that do."""
    cam_from_world = np.linalg.inv(world_from_camera)
    pts = np.concatenate([corners, corners.mean(axis=1, keepdims=True)], axis=1)    # (N, 9, 3)
    p = pts @ cam_from_world[:3, :3].T + cam_from_world[:3, 3]
    z = p[..., 2]
    uv = (p @ K.T)[..., :2] / np.maximum(z, 1e-6)[..., None]
    inside = (z > 0.3) & (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height)
    return inside[:, 8], inside[:, :8].mean(axis=1)


def sample_cameras(rng: np.random.Generator, room: Room, placed: list[Placed], width: int, height: int,
                   settings: CameraSettings | None = None) -> list[CameraPose]:
    """Candidate cameras, best first (most objects in frame). May be empty when no spot is free."""
    s = settings or CameraSettings()
    walls = room_walls(room)
    floor_fps = [p.footprint for p in placed if p.support is None]
    corners = np.stack([box_corners(p) for p in placed]) if placed else np.zeros((0, 8, 3))
    centres = corners.mean(axis=1)
    focus = centres.mean(axis=0) if len(centres) else np.array([0.0, 0.5, 0.0])
    out: list[CameraPose] = []
    for _ in range(s.candidates):
        wall = walls[int(rng.integers(4))]
        t = rng.uniform(0.3, wall.length - 0.3)
        d = rng.uniform(*s.wall_distance)
        cam_h = rng.uniform(*s.height)
        hfov = rng.uniform(*s.hfov_deg)
        jitter = rng.normal(0.0, s.aim_jitter, size=2)
        pitch_jitter = rng.uniform(-5.0, 5.0)
        pos = wall.start + wall.direction * t + wall.normal * d
        if any(point_footprint_distance(pos[[0, 2]], fp) < s.clearance for fp in floor_fps):
            continue
        target = focus + np.array([jitter[0], 0.0, jitter[1]])
        horiz = target[[0, 2]] - pos[[0, 2]]
        dist = float(np.linalg.norm(horiz))
        if dist < 0.8 or float(horiz @ wall.normal[[0, 2]]) / dist < 0.3:
            continue        # a person looks across the room, not along the wall
        pitch = math.degrees(math.atan2(cam_h - target[1], dist)) + pitch_jitter
        pitch = float(np.clip(pitch, *s.pitch_deg))
        yaw = math.atan2(horiz[0], horiz[1])
        fwd = np.array([math.sin(yaw) * math.cos(math.radians(pitch)), -math.sin(math.radians(pitch)),
                        math.cos(yaw) * math.cos(math.radians(pitch))])
        wfc = look_along(np.array([pos[0], cam_h, pos[2]]), fwd)
        K = intrinsics_from_hfov(width, height, hfov)
        centre_in, frac = frame_score(K, wfc, width, height, corners)
        # a photo shows the room, not one chair filling the frame: objects nearer than
        # ``near`` count half
        near = np.array([point_footprint_distance(pos[[0, 2]], p.footprint) < s.near for p in placed], bool)
        score = float(centre_in.sum() - 0.5 * (centre_in & near).sum() + 0.5 * frac.mean()) if len(frac) else 0.0
        out.append(CameraPose(K, wfc, float(cam_h), pitch, float(hfov), score))
    # stable sort: ties keep the order they were drawn in, so a seed gives one answer
    return sorted(out, key=lambda c: -c.score)


def camera_angles(world_from_camera: np.ndarray) -> tuple[float, float]:
    """(height m, downward pitch in degrees) of an OpenCV world_from_camera with world Y up."""
    fwd = world_from_camera[:3, 2]
    return float(world_from_camera[1, 3]), float(math.degrees(math.asin(-fwd[1] / np.linalg.norm(fwd))))
