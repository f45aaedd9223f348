"""Gravity-aligned oriented boxes: fitting to point clouds and simple box algebra.

A box stands upright in a Y-up world: it may only turn about Y (``yaw``). Its own
axes are ``R_y(yaw) @ (x, y, z)``; ``size`` is its extent along those axes in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from scenewright.geometry.transforms import rot_y


@dataclass
class OrientedBox:
    """Upright box. ``centre`` (3,), ``size`` (3,) along box x/y/z, ``yaw`` rad about world Y."""

    centre: np.ndarray
    size: np.ndarray
    yaw: float = 0.0

    def __post_init__(self) -> None:
        self.centre = np.asarray(self.centre, float).reshape(3)
        self.size = np.asarray(self.size, float).reshape(3)
        self.yaw = float(self.yaw)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) world_from_box rotation."""
        return rot_y(self.yaw)

    @property
    def bottom(self) -> float:
        return float(self.centre[1] - self.size[1] / 2)

    @property
    def top(self) -> float:
        return float(self.centre[1] + self.size[1] / 2)

    def world_from_box(self) -> np.ndarray:
        """(4, 4) transform of the box frame (origin at the centre)."""
        t = np.eye(4)
        t[:3, :3] = self.rotation
        t[:3, 3] = self.centre
        return t

    def corners(self) -> np.ndarray:
        """(8, 3) world corners."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
        return self.centre + (signs * self.size / 2) @ self.rotation.T

    def footprint(self) -> np.ndarray:
        """(4, 2) xz corners of the footprint, counter-clockwise seen from above."""
        hx, hz = self.size[0] / 2, self.size[2] / 2
        local = np.array([[-hx, -hz], [hx, -hz], [hx, hz], [-hx, hz]])
        r = self.rotation
        r2 = np.array([[r[0, 0], r[0, 2]], [r[2, 0], r[2, 2]]])
        return self.centre[[0, 2]] + local @ r2.T

    def contains_xz(self, xz: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """(N,) bool: points (N, 2) inside the footprint grown by ``margin`` metres."""
        xz = np.atleast_2d(np.asarray(xz, float)) - self.centre[[0, 2]]
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        # Box-local coordinates: inverse of R_y restricted to xz.
        lx = c * xz[:, 0] - s * xz[:, 1]
        lz = s * xz[:, 0] + c * xz[:, 1]
        return (np.abs(lx) <= self.size[0] / 2 + margin) & (np.abs(lz) <= self.size[2] / 2 + margin)

    def volume(self) -> float:
        return float(np.prod(self.size))

    def to_json(self) -> dict:
        return {"centre": self.centre.tolist(), "size": self.size.tolist(), "yaw": self.yaw}


def min_area_rectangle(xz: np.ndarray, trim: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Minimum-area rectangle of 2D points (N, 2) by rotating calipers on the convex hull.

    Every hull edge direction is a candidate orientation (the optimum has a side on a
    hull edge); all are scored at once. With ``trim`` > 0 the extents are the
    ``trim``/``1 - trim`` quantiles of all points instead of the hull's min/max, so a
    few stray points do not inflate the box.
    Returns ``(angle, centre (2,), extent (2,))``: the rectangle's first axis is
    ``(cos angle, sin angle)`` in the (x, z) plane, ``angle`` in [0, π/2).
    """
    pts = np.asarray(xz, float)
    if len(pts) == 0:
        return 0.0, np.zeros(2), np.zeros(2)
    try:
        hull = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):
        hull = pts  # collinear or too few points: any direction works, use them all
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2)
    angles = np.unique(np.round(angles, 9))
    if len(angles) == 0:
        angles = np.zeros(1)
    c, s = np.cos(angles), np.sin(angles)
    src = pts if trim > 0 else hull
    u = src @ np.stack([c, s])                   # (P, A) along axis 1
    v = src @ np.stack([-s, c])                  # (P, A) along axis 2
    if trim > 0:
        lo_u, hi_u = np.quantile(u, [trim, 1 - trim], axis=0)
        lo_v, hi_v = np.quantile(v, [trim, 1 - trim], axis=0)
    else:
        lo_u, hi_u, lo_v, hi_v = u.min(0), u.max(0), v.min(0), v.max(0)
    area = (hi_u - lo_u) * (hi_v - lo_v)
    k = int(np.argmin(area))
    a = float(angles[k])
    cu, cv = (lo_u[k] + hi_u[k]) / 2, (lo_v[k] + hi_v[k]) / 2
    centre = cu * np.array([c[k], s[k]]) + cv * np.array([-s[k], c[k]])
    return a, centre, np.array([hi_u[k] - lo_u[k], hi_v[k] - lo_v[k]])


def canonical_yaw(yaw: float, size: np.ndarray) -> tuple[float, np.ndarray]:
    """Same upright box with box x the longer horizontal side and yaw in [-π/2, π/2)."""
    size = np.asarray(size, float).copy()
    if size[2] > size[0]:
        size[[0, 2]] = size[[2, 0]]
        yaw += np.pi / 2
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2
    return float(yaw), size


def fit_upright_box(points: np.ndarray, trim: float = 0.01) -> OrientedBox | None:
    """Gravity-aligned box of world points (N, 3) (Y up); None for fewer than 3 points.

    Yaw from the minimum-area rectangle of the xz projection; height from the
    ``trim``/``1 - trim`` quantiles of y. Box x is the longer horizontal side.
    """
    p = np.asarray(points, float)
    p = p[np.all(np.isfinite(p), axis=1)]
    if len(p) < 3:
        return None
    angle, c2, ext = min_area_rectangle(p[:, [0, 2]], trim=trim)
    lo, hi = np.quantile(p[:, 1], [trim, 1 - trim]) if len(p) >= 20 else (p[:, 1].min(), p[:, 1].max())
    # Rectangle axis (cos a, sin a) in (x, z) is box x = R_y(yaw) e_x = (cos yaw, -sin yaw): yaw = -a.
    yaw, size = canonical_yaw(-angle, np.array([ext[0], hi - lo, ext[1]]))
    return OrientedBox(np.array([c2[0], (lo + hi) / 2, c2[1]]), size, yaw)


def box_of_transformed_extents(world_from_object: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> OrientedBox:
    """Upright box of an object-frame axis-aligned box [lo, hi] placed by ``world_from_object``
    (its linear part may carry scale; a tilt is ignored — the box stays upright)."""
    t = np.asarray(world_from_object, float)
    lin = t[:3, :3]
    scale = np.linalg.norm(lin, axis=0)
    x_axis = lin[:, 0] / max(scale[0], 1e-12)
    yaw = float(np.arctan2(-x_axis[2], x_axis[0]))
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    centre = t[:3, :3] @ ((lo + hi) / 2) + t[:3, 3]
    return OrientedBox(centre, (hi - lo) * scale, yaw)


def yaw_error_deg(yaw_a: float, yaw_b: float, period_deg: float = 360.0) -> float:
    """Smallest absolute difference between two yaws (rad) modulo ``period_deg``, in degrees."""
    d = np.degrees(yaw_a - yaw_b) % period_deg
    return float(min(d, period_deg - d))
