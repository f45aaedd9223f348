"""Rigid transforms and back-projection: small pure numpy functions.

Conventions: (4, 4) float64 homogeneous matrices ``a_from_b`` map b-coordinates to
a-coordinates; cameras are OpenCV (x right, y down, z forward); world is Y up.
"""

from __future__ import annotations

import numpy as np


def apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) transform to points (..., 3) → (..., 3)."""
    t = np.asarray(transform, float)
    p = np.asarray(points, float)
    return p @ t[:3, :3].T + t[:3, 3]


def apply_dir(transform: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Rotate direction vectors (..., 3) by the linear part of a (4, 4) transform."""
    return np.asarray(vectors, float) @ np.asarray(transform, float)[:3, :3].T


def rigid_inverse(transform: np.ndarray) -> np.ndarray:
    """Inverse of a rigid (rotation + translation) (4, 4) transform."""
    t = np.asarray(transform, float)
    out = np.eye(4)
    out[:3, :3] = t[:3, :3].T
    out[:3, 3] = -t[:3, :3].T @ t[:3, 3]
    return out


def make_transform(rotation: np.ndarray | None = None, translation=None) -> np.ndarray:
    """(4, 4) from a (3, 3) linear part (may carry scale) and a (3,) translation."""
    out = np.eye(4)
    if rotation is not None:
        out[:3, :3] = rotation
    if translation is not None:
        out[:3, 3] = translation
    return out


def rot_y(yaw: float | np.ndarray) -> np.ndarray:
    """(3, 3) rotation by ``yaw`` radians about +Y (right-handed: +X turns toward -Z); an
    array of yaws (...) gives (..., 3, 3). Yaw 0 keeps an asset's front at +Z."""
    c, s = np.cos(yaw), np.sin(yaw)
    if np.ndim(c) == 0:
        # one yaw (most calls: a hypothesis' placement): the same entries without four stacks
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.result_type(c))
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def look_along(position, forward, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """(4, 4) camera pose in OpenCV axes (x right, y down, z forward) at ``position`` (3,)
    looking along ``forward`` (3,), the image's up as close to ``up`` as possible (any
    right-hand side when looking straight along ``up``). As world_from_camera it places a
    camera in a world; as object_from_camera, a camera around an object."""
    z = np.asarray(forward, float)
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    if np.linalg.norm(x) < 1e-9:
        x = np.array([1.0, 0.0, 0.0])
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, position
    return pose


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """(4, 4) OpenCV camera pose at ``eye`` (3,) looking at ``target`` (3,) (see :func:`look_along`)."""
    eye = np.asarray(eye, float)
    return look_along(eye, np.asarray(target, float) - eye, up)


def rot_x(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about +X."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def yaw_of(rotation: np.ndarray) -> float:
    """Yaw (rad) about +Y of a (3, 3) linear map: the heading of its +X axis in the xz plane."""
    x = np.asarray(rotation, float)[:, 0]
    return float(np.arctan2(-x[2], x[0]))


def decompose_scale(linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a (3, 3) linear part ``R @ diag(s)`` into rotation R (3, 3) and scale s (3,)."""
    lin = np.asarray(linear, float)
    s = np.linalg.norm(lin, axis=0)
    s = np.where(s > 1e-12, s, 1.0)
    r = lin / s
    # Re-orthonormalise (the caller's matrix may have tiny shear from float noise).
    u, _, vt = np.linalg.svd(r)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r, s


def pixel_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) camera-frame rays with z = 1 through every pixel centre.

    The project's pixel convention (as the renderer's): pixel (row i, column j) covers
    u ∈ [j, j+1), v ∈ [i, i+1) and is sampled at its centre (j + 0.5, i + 0.5), so
    cx = W / 2 is the image centre.
    """
    K = np.asarray(K, float)
    v = (np.arange(height, dtype=float) + 0.5 - K[1, 2]) / K[1, 1]
    u = (np.arange(width, dtype=float) + 0.5 - K[0, 2]) / K[0, 0]
    rays = np.empty((height, width, 3))
    rays[..., 0] = u[None, :] - v[:, None] * (K[0, 1] / K[0, 0])
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays


def backproject(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Depth (H, W) metres along camera z → camera-frame points (H, W, 3); NaN stays NaN."""
    depth = np.asarray(depth, float)
    return pixel_rays(K, *depth.shape) * depth[..., None]


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) → pixel coordinates (..., 2) (u, v)."""
    p = np.asarray(points_cam, float)
    uvw = p @ np.asarray(K, float).T
    return uvw[..., :2] / uvw[..., 2:3]
