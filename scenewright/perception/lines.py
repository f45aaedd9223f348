"""Camera pitch from straight lines in an upright photo (no depth needed).

A room is a Manhattan world: walls, the furniture standing square to them and the floor
boards run along two orthogonal horizontal directions and the vertical. In a photo with no
roll, every vertical edge points at one image point straight below the principal point
(``v = cy + fy·cot(pitch)``), and the two horizontal directions at two points on the horizon
row (``v = cy − fy·tan(pitch)``) whose rays are orthogonal. Which pitch (and room yaw) lets
the image's straight segments meet at such three points fixes the pitch — whatever the
camera height, which the objects' known sizes then give (:mod:`.metrology`).
Pixels and the OpenCV camera frame (x right, y down, z forward) throughout.

- :func:`line_segments` — straight segments of an RGB image (Canny edges of each channel +
  probabilistic Hough, from scikit-image), refitted to their edge pixels;
- :func:`manhattan_cost` — per pitch, how badly the segments miss the best three vanishing
  points (a robust, length-weighted count);
- :func:`pitch_from_lines` — its minimum.
"""

from __future__ import annotations

import numpy as np


_recent_segments: dict = {}      # (picture digest, parameters) -> segments: a capture's lines are asked for
_RECENT_SEGMENTS = 4             # by the depth conditioning and by each layout pass (~0.5 s each)


def line_segments(rgb: np.ndarray, max_tilt_deg: float = 90.0, min_length_px: float | None = None,
                  sigma: float = 1.5, seed: int = 0) -> np.ndarray:
    """(N, 4) segments ``(u0, v0, u1, v1)`` (pixel centres) within ``max_tilt_deg`` of the image's
    vertical (90: every orientation), found in ``rgb`` (H, W, 3) uint8. ``min_length_px`` defaults to 4 % of the image height.
    The same picture asked again with the same parameters gets a copy of the segments found the first time."""
    import hashlib
    arr = np.ascontiguousarray(rgb)
    key = (hashlib.sha1(arr.tobytes()).hexdigest(), arr.shape, str(arr.dtype), max_tilt_deg, min_length_px, sigma, seed)
    found = _recent_segments.get(key)
    if found is None:
        found = _line_segments(arr, max_tilt_deg, min_length_px, sigma, seed)
        _recent_segments[key] = found
        while len(_recent_segments) > _RECENT_SEGMENTS:
            _recent_segments.pop(next(iter(_recent_segments)))
    return found.copy()


def _line_segments(rgb: np.ndarray, max_tilt_deg: float, min_length_px: float | None, sigma: float,
                   seed: int) -> np.ndarray:
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


def _vp_residual(segs: np.ndarray, vp: np.ndarray) -> np.ndarray:
    """(C, N) angle (rad, in [-π/2, π/2)) between each segment and the line from its midpoint to
    the homogeneous vanishing point ``vp`` (C, 3) (at infinity too)."""
    mu = 0.5 * (segs[:, 0] + segs[:, 2])
    mv = 0.5 * (segs[:, 1] + segs[:, 3])
    a = vp[:, 0:1] - mu[None] * vp[:, 2:3]
    b = vp[:, 1:2] - mv[None] * vp[:, 2:3]
    # Point the VP direction downwards-or-right consistently: the segment has no direction anyway.
    r = np.arctan2(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])[None] - np.arctan2(a, b)
    return (r + np.pi / 2) % np.pi - np.pi / 2


def manhattan_cost(segs: np.ndarray, K: np.ndarray, pitch_grid_deg=(0.0, 60.0, 0.1), yaw_step_deg: float = 0.5,
                   truncate_deg: float = 1.5):
    """``cost(pitch_rad array) -> array`` for segments of any orientation in a room whose walls
    (and what stands square to them: furniture edges, floor boards) run along two orthogonal
    horizontal directions and the vertical (a Manhattan world).

    For a pitch p and a room yaw ψ the three vanishing points are K·up and K·(cos ψ·x̂ + sin ψ·ĥ),
    K·(−sin ψ·x̂ + cos ψ·ĥ) (x̂ the camera's right, ĥ its horizontal forward: no roll). Each
    segment costs (length / mean length) · min(r² / τ², 1) with r its angle to the nearest of
    the three; the cost of p is the best over ψ. Floor boards then vote for the horizon
    instead of against the vertical.
    """
    segs = np.asarray(segs, float).reshape(-1, 4)
    if len(segs) == 0:
        return lambda pitch: np.zeros(np.shape(pitch))
    K = np.asarray(K, float)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    w = length / length.mean()
    tau2 = np.radians(truncate_deg) ** 2
    x_hat = np.array([1.0, 0.0, 0.0])

    def at(p: float, yaws: np.ndarray) -> tuple[float, float]:
        sp, cp = np.sin(p), np.cos(p)
        up = np.array([0.0, -cp, -sp])
        h_hat = np.array([0.0, -sp, cp])
        r_v = _vp_residual(segs, (K @ up)[None])[0]
        d1 = np.cos(yaws)[:, None] * x_hat + np.sin(yaws)[:, None] * h_hat       # (Y, 3)
        d2 = -np.sin(yaws)[:, None] * x_hat + np.cos(yaws)[:, None] * h_hat
        r = np.minimum(np.minimum(_vp_residual(segs, d1 @ K.T) ** 2, _vp_residual(segs, d2 @ K.T) ** 2),
                       (r_v ** 2)[None])
        c = (w[None] * np.minimum(r / tau2, 1.0)).sum(axis=1)
        j = int(np.argmin(c))
        return float(c[j]), float(yaws[j])

    # Coarse everywhere (1°, yaw 2°), then fine (``step``, yaw ``yaw_step_deg``) around the two
    # best coarse basins: the cost is needed sharp only where the answer can be.
    lo, hi, step = pitch_grid_deg
    coarse = np.radians(np.arange(lo, hi + 1e-9, 1.0))
    coarse_yaws = np.radians(np.arange(0.0, 90.0, 2.0))
    cc = np.array([at(p, coarse_yaws) for p in coarse])
    order = np.argsort(cc[:, 0])
    picks = [order[0]] + [k for k in order[1:] if abs(k - order[0]) > 2][:1]
    fine_p, fine_c = [], []
    for k in picks:
        y0 = cc[k, 1]
        yaws = (y0 + np.radians(np.arange(-3.0, 3.0 + 1e-9, yaw_step_deg))) % (np.pi / 2)
        for p in np.radians(np.arange(np.degrees(coarse[k]) - 1.5, np.degrees(coarse[k]) + 1.5 + 1e-9, step)):
            fine_p.append(p)
            fine_c.append(at(p, yaws)[0])
    # Inside a fine window its values replace the coarse ones (sharper yaw, sharper pitch).
    fine_p, fine_c = np.array(fine_p), np.array(fine_c)
    inside = np.zeros(len(coarse), bool)
    for k in picks:
        inside |= np.abs(coarse - coarse[k]) <= np.radians(1.5) + 1e-9
    grid = np.concatenate([coarse[~inside], fine_p])
    costs = np.concatenate([cc[~inside, 0], fine_c])
    order = np.argsort(grid, kind="stable")
    grid, costs = grid[order], costs[order]

    def cost(pitch):
        return np.interp(np.asarray(pitch, float), grid, costs)
    return cost


def pitch_from_lines(segs: np.ndarray, K: np.ndarray, step_deg: float = 0.05) -> float | None:
    """Downward pitch (rad) of the Manhattan vanishing points the segments agree on best
    (:func:`manhattan_cost` minimised on a ``step_deg`` grid); None without segments."""
    if segs is None or len(segs) == 0:
        return None
    cost = manhattan_cost(segs, K)
    grid = np.radians(np.arange(0.0, 60.0 + 1e-9, step_deg))
    return float(grid[int(np.argmin(cost(grid)))])


def manhattan_yaw(segs: np.ndarray, K: np.ndarray, pitch_rad: float, step_deg: float = 0.25,
                  truncate_deg: float = 1.5) -> float | None:
    """The room's horizontal axis turn ψ in [0, π/2) (radians) for a camera pitched ``pitch_rad``:
    the axes are ``cos ψ·right + sin ψ·horizontal forward`` and its perpendicular, the pair whose
    vanishing points the segments meet best (the cost of :func:`manhattan_cost`); None without
    segments."""
    segs = np.asarray(segs, float).reshape(-1, 4)
    if len(segs) == 0:
        return None
    K = np.asarray(K, float)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    w = length / length.mean()
    tau2 = np.radians(truncate_deg) ** 2
    sp, cp = np.sin(pitch_rad), np.cos(pitch_rad)
    x_hat = np.array([1.0, 0.0, 0.0])
    h_hat = np.array([0.0, -sp, cp])
    r_v = _vp_residual(segs, (K @ np.array([0.0, -cp, -sp]))[None])[0]
    yaws = np.radians(np.arange(0.0, 90.0, step_deg))
    d1 = np.cos(yaws)[:, None] * x_hat + np.sin(yaws)[:, None] * h_hat
    d2 = -np.sin(yaws)[:, None] * x_hat + np.cos(yaws)[:, None] * h_hat
    r = np.minimum(np.minimum(_vp_residual(segs, d1 @ K.T) ** 2, _vp_residual(segs, d2 @ K.T) ** 2),
                   (r_v ** 2)[None])
    c = (w[None] * np.minimum(r / tau2, 1.0)).sum(axis=1)
    return float(yaws[int(np.argmin(c))])
