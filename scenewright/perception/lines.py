"""Camera pitch from straight lines in an upright photo (no depth needed).

In a photo with no roll, every vertical edge of the room (wall corners, door frames, the
sides of cabinets, table legs) points at one image point, the vertical vanishing point,
straight below the principal point at ``v = cy + fy·cot(pitch)``. Its height in the image
fixes the pitch; the tilt of an edge far from the image's centre column says the most.
Pixels and the OpenCV camera frame (x right, y down, z forward) throughout.

- :func:`line_segments` — straight segments of an RGB image (Canny edges + probabilistic
  Hough, from scikit-image), near-vertical ones only by default;
- :func:`pitch_from_verticals` — the pitch whose vanishing point the segments agree on
  best, with a spread-based uncertainty and the number of agreeing segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def line_segments(rgb: np.ndarray, max_tilt_deg: float = 25.0, min_length_px: float | None = None,
                  sigma: float = 1.5, seed: int = 0) -> np.ndarray:
    """(N, 4) segments ``(u0, v0, u1, v1)`` (pixel centres) within ``max_tilt_deg`` of the image's
    vertical, found in ``rgb`` (H, W, 3) uint8. ``min_length_px`` defaults to 4 % of the image height."""
    from skimage.feature import canny
    from skimage.transform import probabilistic_hough_line
    img = np.asarray(rgb)[..., :3].astype(float) / 255.0
    h = img.shape[0]
    length = int(round(min_length_px if min_length_px is not None else max(10.0, 0.04 * h)))
    # Edges of any channel: a blue chair on a beige floor has little edge in grey.
    edges = np.zeros(img.shape[:2], bool)
    for ch in range(3):
        edges |= canny(img[..., ch], sigma=sigma, low_threshold=0.02, high_threshold=0.06)
    # skimage's theta is the angle of the line's normal: a vertical line has a horizontal normal.
    theta = np.radians(np.linspace(-max_tilt_deg, max_tilt_deg, int(4 * 2 * max_tilt_deg) + 1))
    segs = probabilistic_hough_line(edges, threshold=8, line_length=length, line_gap=2, theta=theta, rng=seed)
    if not segs:
        return np.zeros((0, 4))
    out = np.array([[x0, y0, x1, y1] for (x0, y0), (x1, y1) in segs], float) + 0.5
    return refine_segments(out, edges)


def refine_segments(segs: np.ndarray, edges: np.ndarray, band_px: float = 1.0) -> np.ndarray:
    """Each segment (N, 4) refitted to the edge pixels within ``band_px`` of it (total least
    squares): Hough endpoints are quantised to its angle grid, the edge pixels are not."""
    ev, eu = np.nonzero(edges)
    pts = np.stack([eu + 0.5, ev + 0.5], 1)
    out = segs.copy()
    for k, (u0, v0, u1, v1) in enumerate(segs):
        d = np.array([u1 - u0, v1 - v0])
        L = float(np.hypot(*d))
        if L < 2:
            continue
        d /= L
        lo_u, hi_u = min(u0, u1) - 2, max(u0, u1) + 2
        lo_v, hi_v = min(v0, v1) - 2, max(v0, v1) + 2
        near = (pts[:, 0] >= lo_u) & (pts[:, 0] <= hi_u) & (pts[:, 1] >= lo_v) & (pts[:, 1] <= hi_v)
        q = pts[near] - np.array([u0, v0])
        along = q @ d
        across = q @ np.array([-d[1], d[0]])
        keep = (np.abs(across) <= band_px) & (along >= 0) & (along <= L)
        if keep.sum() < 5:
            continue
        p = pts[near][keep]
        c = p.mean(0)
        _, _, vt = np.linalg.svd(p - c, full_matrices=False)
        dd = vt[0] if vt[0] @ d >= 0 else -vt[0]
        t = (p - c) @ dd
        out[k] = [*(c + t.min() * dd), *(c + t.max() * dd)]
    return out


@dataclass
class PitchEstimate:
    """Downward pitch (rad) from vertical lines; ``sigma_rad`` its uncertainty; ``n_lines``
    segments within ``inlier_deg`` of the solution; ``informative`` their length-weighted
    lever (sum of |u − cx|·length / image width²): near zero, the lines cannot tell."""

    pitch_rad: float
    sigma_rad: float
    n_lines: int
    informative: float


def _tilt_residual(segs: np.ndarray, K: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(C, N) signed angle (rad) between each segment and the direction from its midpoint to the
    vertical vanishing point of each pitch."""
    fy, cx, cy = K[1, 1], K[0, 2], K[1, 2]
    mu = 0.5 * (segs[:, 0] + segs[:, 2])
    mv = 0.5 * (segs[:, 1] + segs[:, 3])
    du, dv = segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1]
    s, c = np.sin(pitch)[:, None], np.cos(pitch)[:, None]
    # Homogeneous vanishing point K·(0, cos p, sin p): finite or not, the direction from m is
    # (cx − mu)·sin p, fy·cos p + (cy − mv)·sin p.
    a = (cx - mu)[None] * s
    b = fy * c + (cy - mv)[None] * s
    ang_seg = np.arctan2(du, dv)[None]                 # tilt of the segment from the image vertical
    ang_vp = np.arctan2(a, b)
    r = ang_seg - ang_vp
    r = (r + np.pi / 2) % np.pi - np.pi / 2            # a segment has no direction
    return r


def vertical_cost(segs: np.ndarray, K: np.ndarray, truncate_deg: float = 1.5):
    """``cost(pitch_rad array) -> array``: Σ over segments of (length / mean length) ·
    min(r² / τ², 1), r the tilt misfit to the pitch's vertical vanishing point — each segment
    counts like one robust residual. Constant 0 without segments."""
    segs = np.asarray(segs, float).reshape(-1, 4)
    if len(segs) == 0:
        return lambda pitch: np.zeros(np.shape(pitch))
    K = np.asarray(K, float)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    w = length / length.mean()
    tau = np.radians(truncate_deg)

    def cost(pitch):
        p = np.asarray(pitch, float)
        flat = p.ravel()
        uniq, inv = np.unique(flat, return_inverse=True)
        r = _tilt_residual(segs, K, uniq)
        c = (w[None] * np.minimum((r / tau) ** 2, 1.0)).sum(axis=1)
        return c[inv].reshape(p.shape)
    return cost


def pitch_from_verticals(segs: np.ndarray, K: np.ndarray, width: int, pitch_range_deg=(0.0, 60.0),
                         truncate_deg: float = 1.5, inlier_deg: float = 0.75) -> PitchEstimate | None:
    """Pitch (down) whose vertical vanishing point the segments ``segs`` (N, 4) agree on best.

    Cost per pitch: Σ length · min(r², τ²) over segments (r the tilt misfit, τ = ``truncate_deg``):
    a segment that is not vertical in the room (a slanted chair back) costs at most τ². Grid
    of 0.1°, then a parabola through the best three. None when there is no segment.
    """
    if segs is None or len(segs) == 0:
        return None
    K = np.asarray(K, float)
    grid = np.radians(np.arange(pitch_range_deg[0], pitch_range_deg[1] + 1e-9, 0.1))
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    tau = np.radians(truncate_deg)
    r = _tilt_residual(segs, K, grid)
    cost = (length[None] * np.minimum(r ** 2, tau ** 2)).sum(axis=1)
    k = int(np.argmin(cost))
    pitch = grid[k]
    if 0 < k < len(grid) - 1:                           # parabola through the three lowest
        c0, c1, c2 = cost[k - 1], cost[k], cost[k + 1]
        den = c0 - 2 * c1 + c2
        if den > 0:
            pitch = grid[k] + 0.5 * (c0 - c2) / den * (grid[1] - grid[0])
    res = _tilt_residual(segs, K, np.array([pitch]))[0]
    inl = np.abs(res) < np.radians(inlier_deg)
    lever = np.abs(0.5 * (segs[:, 0] + segs[:, 2]) - K[0, 2])
    informative = float((lever * length)[inl].sum() / float(width) ** 2)
    # Uncertainty: each inlier a measurement of its residual spread; the slope of its residual
    # against the pitch says how much it pins it (doubled: Hough splits one edge into several).
    eps = np.radians(0.05)
    if inl.sum() >= 2:
        dr = (_tilt_residual(segs[inl], K, np.array([pitch + eps]))[0] - res[inl]) / eps
        spread = max(float(np.sqrt(np.average(res[inl] ** 2, weights=length[inl]))), np.radians(0.1))
        info = float((dr ** 2).sum())
        sigma = 2.0 * spread / np.sqrt(info) if info > 0 else np.inf
    else:
        sigma = np.inf
    sigma = float(max(sigma, np.radians(0.1)))
    return PitchEstimate(float(pitch), sigma, int(inl.sum()), informative)
