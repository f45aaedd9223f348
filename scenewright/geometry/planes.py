"""Planes: least-squares fits and vectorised RANSAC (many hypotheses scored at once).

A plane is ``n · x = n · point`` with a unit ``normal``; signed distance is
``n · (x - point)``, positive on the side the normal points to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Plane:
    """An infinite plane. ``point`` (3,) metres, ``normal`` (3,) unit."""

    point: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        self.point = np.asarray(self.point, float).reshape(3)
        n = np.asarray(self.normal, float).reshape(3)
        self.normal = n / max(np.linalg.norm(n), 1e-12)

    @property
    def offset(self) -> float:
        """d in n · x = d."""
        return float(self.normal @ self.point)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distances (...,) of points (..., 3)."""
        return np.asarray(points, float) @ self.normal - float(self.normal @ self.point)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Orthogonal projection of points (..., 3) onto the plane."""
        p = np.asarray(points, float)
        return p - self.distance(p)[..., None] * self.normal

    def flipped(self) -> "Plane":
        return Plane(self.point, -self.normal)

    def transformed(self, a_from_b: np.ndarray) -> "Plane":
        """The plane mapped by a rigid (4, 4) transform."""
        t = np.asarray(a_from_b, float)
        return Plane(t[:3, :3] @ self.point + t[:3, 3], t[:3, :3] @ self.normal)

    def to_json(self) -> dict:
        return {"point": self.point.tolist(), "normal": self.normal.tolist()}

    @classmethod
    def from_any(cls, value) -> "Plane":
        """A Plane from a Plane, a ``{"point", "normal"}`` dict or a scene ``floor`` dict
        ``{"normal", "height"}``."""
        if isinstance(value, Plane):
            return value
        if isinstance(value, dict):
            if "point" in value:
                return cls(value["point"], value["normal"])
            n = np.asarray(value.get("normal", [0, 1, 0]), float)
            n = n / np.linalg.norm(n)
            return cls(n * float(value.get("height", 0.0)), n)
        raise TypeError(f"cannot make a Plane from {type(value).__name__}")


def fit_plane(points: np.ndarray, weights: np.ndarray | None = None) -> Plane:
    """Least-squares plane through points (N, 3), N ≥ 3 (optionally weighted (N,))."""
    p = np.asarray(points, float)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    c = w @ p
    q = (p - c) * np.sqrt(w)[:, None]
    # Smallest right singular vector of the centred cloud = normal.
    _, _, vt = np.linalg.svd(q, full_matrices=False)
    return Plane(c, vt[-1])


def fit_vertical_plane(points: np.ndarray, up: np.ndarray, weights: np.ndarray | None = None) -> Plane:
    """Least-squares plane through points (N, 3) constrained to contain the ``up`` direction."""
    up = np.asarray(up, float) / np.linalg.norm(up)
    p = np.asarray(points, float)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    c = w @ p
    q = p - c
    q = q - np.outer(q @ up, up)          # drop the vertical component: a 2D line fit
    q = q * np.sqrt(w)[:, None]
    _, _, vt = np.linalg.svd(q, full_matrices=False)
    # vt rows span the horizontal plane (+ a null direction ≈ up); pick the one ⟂ up with least spread.
    cands = vt - np.outer(vt @ up, up)
    norms = np.linalg.norm(cands, axis=1)
    spread = np.linalg.norm(q @ vt.T, axis=0)
    ok = norms > 0.5
    idx = np.flatnonzero(ok)[np.argmin(spread[ok])]
    n = cands[idx] / norms[idx]
    return Plane(c, n)


def fit_plane_depth_noise(points: np.ndarray, vertical_to: np.ndarray | None = None) -> Plane:
    """Plane through camera-frame points (N, 3) whose error is multiplicative depth noise.

    A depth sensor (or estimator) errs along the viewing ray, in proportion to depth. For a
    plane ``a · x = 1`` (a = n / d, the camera at the origin, d ≠ 0) a point measured as
    ``x (1 + e)`` gives ``a · x_measured - 1 = e``: linear least squares on ``X a = 1`` fits
    exactly that error, so the normal is not tilted toward the rays as an orthogonal fit of a
    grazing wall is. With ``vertical_to``, ``a`` is kept perpendicular to that direction.
    """
    p = np.asarray(points, float)
    if vertical_to is None:
        a, *_ = np.linalg.lstsq(p, np.ones(len(p)), rcond=None)
    else:
        up = np.asarray(vertical_to, float) / np.linalg.norm(vertical_to)
        basis = np.linalg.svd(np.eye(3) - np.outer(up, up))[0][:, :2]      # (3, 2) ⟂ up
        c, *_ = np.linalg.lstsq(p @ basis, np.ones(len(p)), rcond=None)
        a = basis @ c
    d = 1.0 / np.linalg.norm(a)
    n = a * d
    return Plane(n * d, n)


def ransac_plane(points: np.ndarray, rng: np.random.Generator, n_hypotheses: int = 512,
                 threshold: float | np.ndarray = 0.03, normal_prior: np.ndarray | None = None,
                 max_angle_deg: float = 180.0, vertical_to: np.ndarray | None = None,
                 max_score_points: int = 6000, score_weights: np.ndarray | None = None,
                 rel_threshold: float = 0.0, max_behind: float | None = None,
                 behind_margin: tuple[float, float] = (0.08, 0.06)):
    """Best plane of points (N, 3) by RANSAC with all hypotheses scored at once.

    Hypotheses come from random triplets (or pairs when ``vertical_to`` gives an up
    direction the plane must contain). With ``normal_prior``, hypotheses whose normal
    is more than ``max_angle_deg`` from ±prior are discarded before scoring.
    ``threshold`` is a scalar or per-point (N,) inlier distance in metres, plus
    ``rel_threshold`` × the hypothesis' distance from the origin (for camera-frame points a
    relative depth error ε moves a point by ε × that distance off its plane).
    With ``max_behind``, hypotheses with more than that share of the points on the far side
    (away from the origin, i.e. the camera) by more than ``behind_margin`` = (metres, × the
    plane's distance) are discarded: room surfaces are one-sided, and this rejects planes that
    slice diagonally through a floor–wall corner.
    Returns ``(plane, inlier_mask (N,))`` or ``(None, None)`` when nothing fits.
    """
    p = np.asarray(points, float)
    n_pts = len(p)
    k = 2 if vertical_to is not None else 3
    if n_pts < k + 1:
        return None, None
    thr = np.broadcast_to(np.asarray(threshold, float), (n_pts,))
    idx = rng.integers(0, n_pts, size=(n_hypotheses, k))
    a = p[idx[:, 0]]
    if vertical_to is None:
        normals = np.cross(p[idx[:, 1]] - a, p[idx[:, 2]] - a)
    else:
        normals = np.cross(np.asarray(vertical_to, float), p[idx[:, 1]] - a)
    lens = np.linalg.norm(normals, axis=1)
    good = lens > 1e-9
    if normal_prior is not None and max_angle_deg < 180.0:
        prior = np.asarray(normal_prior, float) / np.linalg.norm(normal_prior)
        cosang = np.abs(normals @ prior) / np.maximum(lens, 1e-12)
        good &= cosang >= np.cos(np.radians(max_angle_deg))
    if not np.any(good):
        return None, None
    normals = normals[good] / lens[good, None]
    offsets = np.einsum("ij,ij->i", normals, a[good])
    # Score on a fixed subsample: (hypotheses, points) residual matrix in one go.
    sub = np.arange(n_pts) if n_pts <= max_score_points else \
        np.linspace(0, n_pts - 1, max_score_points).astype(int)
    # float32: the (S, Hyp) matrices are the hot spot, and mm precision is plenty for scoring.
    signed = p[sub].astype(np.float32) @ normals.T.astype(np.float32) - offsets[None, :].astype(np.float32)
    res = np.abs(signed)
    inl = res < thr[sub, None] + rel_threshold * np.abs(offsets)[None, :]
    if score_weights is None:
        scores = inl.sum(axis=0)
    else:
        scores = np.asarray(score_weights, float)[sub] @ inl
    if max_behind is not None:
        # The camera (origin) is on the side where signed distance has the sign of -offset.
        toward = -np.sign(offsets)
        margin = behind_margin[0] + behind_margin[1] * np.abs(offsets)
        behind = np.mean(signed * toward[None, :] < -margin[None, :], axis=0)
        scores = np.where(behind <= max_behind, scores, -1)
        if np.max(scores) < 0:
            return None, None
    best = int(np.argmax(scores))
    plane = Plane(normals[best] * offsets[best], normals[best])
    inliers = np.abs(plane.distance(p)) < thr + rel_threshold * abs(offsets[best])
    return plane, inliers


def refine_plane(points: np.ndarray, plane: Plane, threshold: float | np.ndarray,
                 iterations: int = 3, vertical_to: np.ndarray | None = None,
                 weights: np.ndarray | None = None, depth_noise: bool = False):
    """Alternate inlier selection and least-squares refit. Returns ``(plane, inliers)``.
    ``depth_noise``: points are camera-frame measurements with errors along the rays
    (:func:`fit_plane_depth_noise`) instead of isotropic errors."""
    p = np.asarray(points, float)
    thr = np.broadcast_to(np.asarray(threshold, float), (len(p),))
    inliers = np.abs(plane.distance(p)) < thr
    for _ in range(iterations):
        if inliers.sum() < 3:
            break
        plane = refit_plane(p, plane, inliers, vertical_to, weights, depth_noise)
        inliers = np.abs(plane.distance(p)) < thr
    return plane, inliers


def refit_plane(points: np.ndarray, plane: Plane, inliers: np.ndarray, vertical_to: np.ndarray | None = None,
                weights: np.ndarray | None = None, depth_noise: bool = False) -> Plane:
    """One step of :func:`refine_plane`: the least-squares plane of ``points[inliers]`` (float64
    (N, 3); at least 3 inliers), its normal on ``plane``'s side."""
    w = None if weights is None else np.asarray(weights, float)[inliers]
    if depth_noise and abs(plane.distance(np.zeros(3))) > 1e-6:
        new = fit_plane_depth_noise(points[inliers], vertical_to)
    elif vertical_to is None:
        new = fit_plane(points[inliers], w)
    else:
        new = fit_vertical_plane(points[inliers], vertical_to, w)
    return new.flipped() if new.normal @ plane.normal < 0 else new


def angle_deg(a: np.ndarray, b: np.ndarray, unsigned: bool = False) -> float:
    """Angle between two vectors in degrees (``unsigned``: between lines, ≤ 90°)."""
    a = np.asarray(a, float) / np.linalg.norm(a)
    b = np.asarray(b, float) / np.linalg.norm(b)
    c = float(a @ b)
    if unsigned:
        c = abs(c)
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
