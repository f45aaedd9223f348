"""Helpers of the renderer tests: cameras, quads and an analytic ray caster."""

from __future__ import annotations

import numpy as np
import trimesh


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """world_from_camera (4, 4) OpenCV: z towards ``target``, y down relative to world ``up``."""
    eye, target, up = (np.asarray(a, float) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def quad(width: float, height: float) -> trimesh.Trimesh:
    """A rectangle in the object's z = 0 plane, centred at the origin, UVs 0..1 (v up)."""
    w, h = width / 2, height / 2
    vertices = np.array([[-w, -h, 0], [w, -h, 0], [w, h, 0], [-w, h, 0]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    return trimesh.Trimesh(vertices, faces, process=False)


def pixel_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) camera-frame ray directions through pixel centres, z = 1."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    return pix @ np.linalg.inv(K).T


def cast_quad(K, world_from_camera, world_from_object, width_m, height_m, width, height):
    """Analytic render of :func:`quad`: (hit (H, W) bool, z (H, W), margin (H, W)).

    ``margin`` is how far (in the quad's normalised coordinates) the hit is from the nearest
    edge; pixels with a tiny margin may go either way under the rasteriser's tie rules.
    """
    camera_from_object = np.linalg.inv(world_from_camera) @ world_from_object
    R, t = camera_from_object[:3, :3], camera_from_object[:3, 3]
    normal = R[:, 2]
    d = pixel_rays(K, width, height)
    s = (normal @ t) / (d @ normal)                       # ray parameter = camera z (d_z = 1)
    p = d * s[..., None]
    local = (p - t) @ R                                   # object frame
    a = local[..., 0] / width_m + 0.5
    b = local[..., 1] / height_m + 0.5
    hit = (s > 0) & (a > 0) & (a < 1) & (b > 0) & (b < 1)
    margin = np.minimum.reduce([a, 1 - a, b, 1 - b])
    return hit, s, margin
