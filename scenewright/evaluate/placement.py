"""Layout metrics: rotation and translation errors, symmetry, and AUC of accuracy curves.

Rotations are compared between object frames (library convention: Y up, front +Z),
after scale is removed from ``world_from_object`` by polar decomposition.
"""

from __future__ import annotations

import numpy as np

from scenewright.geometry.transforms import rot_y


def rotation_part(world_from_object: np.ndarray) -> np.ndarray:
    """(3, 3) closest proper rotation to the linear part of a (4, 4) transform (removes scale/shear).

    Polar decomposition via SVD: A = U S Vᵀ → R = U Vᵀ (sign fixed so det R = +1).
    """
    A = np.asarray(world_from_object, float)[:3, :3]
    U, _, Vt = np.linalg.svd(A)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    return U @ D @ Vt


def _angle_from_trace(trace: float) -> float:
    return float(np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))))


def rotation_error_deg(R_gt: np.ndarray, R_pred: np.ndarray, symmetry: str = "none") -> float:
    """Geodesic angle (degrees) between two rotations, minimised over the object's symmetry group.

    The group acts in the object frame (right multiplication): ``two`` = 180° about Y,
    ``four`` = multiples of 90°, ``radial`` = any yaw (closed form: maximise
    tr(M·Ry(θ)) = (M00 + M22) cos θ + (M20 − M02) sin θ + M11 over θ).
    """
    M = R_gt.T @ R_pred
    if symmetry == "radial":
        best = np.hypot(M[0, 0] + M[2, 2], M[2, 0] - M[0, 2]) + M[1, 1]
        return _angle_from_trace(best)
    steps = {"two": 2, "four": 4}.get(symmetry, 1)
    return min(_angle_from_trace(np.trace(M @ rot_y(2 * np.pi * k / steps))) for k in range(steps))


def auc(errors: np.ndarray, limit: float) -> float:
    """Area under the accuracy-vs-threshold curve on [0, limit], normalised to [0, 1].

    acc(t) = fraction of objects with error ≤ t; AUC = (1/limit) ∫₀^limit acc(t) dt,
    which equals mean over objects of max(0, 1 − error/limit) (missing objects: error = ∞ → 0).
    """
    errors = np.asarray(errors, float)
    if errors.size == 0:
        return float("nan")
    errors = np.where(np.isnan(errors), np.inf, errors)
    return float(np.mean(np.clip(1.0 - errors / limit, 0.0, 1.0)))


def bbox_centre_world(mesh_bounds_object: np.ndarray, world_from_object: np.ndarray) -> np.ndarray:
    """(3,) world position of the centre of the object-frame bounding box (2, 3)."""
    c = np.asarray(mesh_bounds_object, float).mean(0)
    T = np.asarray(world_from_object, float)
    return T[:3, :3] @ c + T[:3, 3]
