"""Data derived from a normalised asset mesh: surface samples, voxels, rendered views.

Everything is in the object frame (metres, Y up, front +Z, lowest point y = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import ndimage

from scenewright.geometry.transforms import look_at
from scenewright.render import RenderItem


def surface_samples(mesh: trimesh.Trimesh, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted surface samples: points (n, 3) float32 metres and unit normals (n, 3).

    The normal is that of the sampled face (as stored, i.e. following the winding).
    The same mesh and seed always give the same samples.
    """
    points, face_index = trimesh.sample.sample_surface(mesh, n, seed=seed)
    normals = mesh.face_normals[face_index]
    return points.astype(np.float32), normals.astype(np.float32)


def voxel_grid_frame(extents: np.ndarray, grid: int) -> tuple[np.ndarray, float]:
    """Origin (3,) and pitch of the cubic grid used for an object with ``extents`` (3,).

    The grid is a cube of side max(extents) (so the voxels are cubes and the shape's
    proportions are kept), centred on the object in x and z and starting at y = 0.
    Voxel (i, j, k) covers ``origin + pitch * [i, i+1) x [j, j+1) x [k, k+1)``.
    """
    side = float(np.max(extents))
    pitch = side / grid
    return np.array([-side / 2, 0.0, -side / 2]), pitch


def voxelize(points: np.ndarray, extents: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Occupancy (grid, grid, grid) bool indexed (x, y, z), its origin (3,) and pitch (m).

    Occupied = touched by the surface (from dense samples ``points`` (N, 3)) or
    fully enclosed by touched voxels (``binary_fill_holes``), so closed furniture
    bodies are solid and open frames stay open.
    """
    origin, pitch = voxel_grid_frame(extents, grid)
    idx = np.floor((points - origin) / pitch).astype(np.int64)
    idx = np.clip(idx, 0, grid - 1)
    occ = np.zeros((grid, grid, grid), dtype=bool)
    occ[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    occ = ndimage.binary_fill_holes(occ)
    return occ, origin, pitch


@dataclass(frozen=True)
class ViewSpec:
    """The documented viewpoints of every asset's views.

    Cameras look at the centre of the object's box from ``yaws`` evenly spaced
    angles (yaw 0 = in front, on +Z; yaw grows counter-clockwise seen from above,
    so yaw 90 is on +X) and each of ``pitches_deg`` (degrees above the horizontal,
    looking down). The distance makes the bounding sphere fill the field of view.
    """
    size: int = 128
    yaws: int = 12
    pitches_deg: tuple[float, ...] = (15.0, 40.0)
    fov_deg: float = 40.0

    def angles(self) -> tuple[np.ndarray, np.ndarray]:
        """yaw_deg (V,), pitch_deg (V,) in storage order: pitch-major, then yaw."""
        yaw = np.arange(self.yaws) * (360.0 / self.yaws)
        yaw_deg = np.tile(yaw, len(self.pitches_deg))
        pitch_deg = np.repeat(np.asarray(self.pitches_deg, dtype=np.float64), self.yaws)
        return yaw_deg, pitch_deg

    def intrinsics(self) -> np.ndarray:
        """K (3, 3) in pixels, square pixels, principal point at the image centre."""
        f = (self.size / 2) / np.tan(np.radians(self.fov_deg) / 2)
        c = self.size / 2
        return np.array([[f, 0, c], [0, f, c], [0, 0, 1]], dtype=np.float64)


def view_cameras(extents: np.ndarray, spec: ViewSpec) -> np.ndarray:
    """camera_from_object (V, 4, 4) OpenCV for an object of box ``extents`` (3,) metres."""
    extents = np.asarray(extents, dtype=np.float64)
    target = np.array([0.0, extents[1] / 2, 0.0])
    radius = max(np.linalg.norm(extents) / 2, 1e-3)
    distance = radius / np.sin(np.radians(spec.fov_deg) / 2) * 1.02
    yaw_deg, pitch_deg = spec.angles()
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    direction = np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)], axis=1)
    poses = [look_at(target + distance * d, target) for d in direction]   # object_from_camera
    return np.linalg.inv(np.stack(poses))


def render_views(renderer, mesh: trimesh.Trimesh, spec: ViewSpec) -> dict[str, np.ndarray]:
    """Render ``mesh`` from every view of ``spec`` with a ``scenewright.render.Renderer``.

    Returns rgb (V, S, S, 3) uint8, mask (V, S, S) bool, depth (V, S, S) float32
    (metres along the camera z axis, NaN off the object), K (3, 3),
    camera_from_object (V, 4, 4), yaw_deg (V,), pitch_deg (V,).
    """

    K = spec.intrinsics()
    cams = view_cameras(mesh.extents, spec)
    item = [RenderItem(mesh, np.eye(4), 1)]
    rgb, mask, depth = [], [], []
    for camera_from_object in cams:
        res = renderer.render(item, K, np.linalg.inv(camera_from_object))
        rgb.append(res.rgb)
        mask.append(res.instance_ids == 1)
        depth.append(res.depth.astype(np.float32))
    yaw_deg, pitch_deg = spec.angles()
    return {"rgb": np.stack(rgb), "mask": np.stack(mask), "depth": np.stack(depth), "K": K,
            "camera_from_object": cams, "yaw_deg": yaw_deg, "pitch_deg": pitch_deg}
