"""Single-view metrology: a metric camera and object distances from masks and known sizes.

With no depth at all, an object of known size fixes its own distance: its mask's bottom
row is where it meets the floor, its top row how tall it looks from there. Over several
floor objects this pins the camera's height above the floor and its pitch (no roll — a
handheld photo of a room is upright). Everything here is pure geometry in the camera
frame (OpenCV: x right, y down, z forward), metres and pixels.

- :func:`camera_up` — world up in the camera frame for a pitch;
- :func:`floor_depth` — depth of the floor plane along each pixel's ray;
- :class:`Footing` / :func:`footings` — what each mask says (bottom, top, sides; which are cut
  by the border or hidden behind another object);
- :func:`standing_box_corners` — an upright box of known size standing where a pixel meets
  the floor, square to the camera;
- :func:`solve_camera` — (pitch, height) that make every floor object's known height match
  its mask (a vectorised grid search with a robust loss);
- :func:`box_depth` — depth of each pixel's ray where it enters such a box (a synthetic depth
  map for the objects).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np


def camera_up(pitch_rad: float | np.ndarray) -> np.ndarray:
    """(..., 3) world up in the camera frame for a camera pitched ``pitch_rad`` down, no roll."""
    p = np.asarray(pitch_rad, float)
    return np.stack([np.zeros_like(p), -np.cos(p), -np.sin(p)], axis=-1)


def pixel_rays(K: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame rays with z = 1 through pixel centres (u, v)."""
    K = np.asarray(K, float)
    x = (np.asarray(u, float) - K[0, 2]) / K[0, 0]
    y = (np.asarray(v, float) - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def floor_depth(K: np.ndarray, shape: tuple[int, int], pitch_rad: float, height_m: float,
                max_depth_m: float = 30.0) -> np.ndarray:
    """(H, W) depth (metres along camera z) where each pixel's ray meets the floor; NaN above
    the horizon or beyond ``max_depth_m``."""
    h, w = shape
    vv, uu = np.mgrid[0:h, 0:w].astype(float) + 0.5
    rays = pixel_rays(K, uu, vv)
    down = rays @ camera_up(pitch_rad)                 # < 0: the ray goes down
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -height_m / down
    t[(down >= -1e-9) | (t > max_depth_m)] = np.nan
    return t


@dataclass
class Footing:
    """What one instance mask says about where the object stands (pixels, rows down).

    ``u`` column of the contact point (median of the mask's lowest rows), ``v_bottom`` /
    ``v_top`` the mask's lowest / highest row edges, ``u_left``/``u_right`` its sides.
    ``bottom_ok``: the bottom is neither cut by the border nor hidden behind another
    object; ``top_ok``/``sides_ok`` likewise. ``below_id``: the instance just below the
    bottom (0 = none: floor or background) — what it may stand on.
    """

    id: int
    u: float
    v_bottom: float
    v_top: float
    u_left: float
    u_right: float
    bottom_ok: bool
    top_ok: bool
    sides_ok: bool
    below_id: int = 0
    n_pixels: int = 0
    flags: list[str] = field(default_factory=list)
    left_hidden: bool = False            # the mask's left side borders a nearer instance: not the object's side
    right_hidden: bool = False


def footings(seg: np.ndarray, ids: list[int], border_px: int = 1, probe_px: int = 4,
             hidden_sides: bool = False) -> dict[int, Footing]:
    """Footing of each instance id in ``seg`` (H, W) int (0 = background); ``hidden_sides``: mark sides
    that end against a nearer instance (:func:`_hide_occluded_sides`)."""
    h, w = seg.shape
    out: dict[int, Footing] = {}
    for i in ids:
        ys, xs = np.nonzero(seg == i)
        if len(ys) == 0:
            continue
        y1, y0 = int(ys.max()), int(ys.min())
        x0, x1 = int(xs.min()), int(xs.max())
        low = ys >= y1 - max(2, (y1 - y0) // 20)
        u = float(np.median(xs[low])) + 0.5
        # Below the lowest pixels of each bottom column: another instance means hidden by it.
        cols = np.unique(xs[low])
        below = []
        for c in cols:
            bottom = int(ys[xs == c].max())
            r = min(bottom + probe_px, h - 1)
            below.append(int(seg[r, c]) if bottom + 1 < h else -1)
        below = np.asarray(below)
        others = below[(below != i) & (below > 0)]
        below_id = int(np.bincount(others).argmax()) if len(others) > len(below) // 2 else 0
        cut_bottom = y1 >= h - 1 - border_px
        f = Footing(id=int(i), u=u, v_bottom=float(y1 + 1), v_top=float(y0), u_left=float(x0),
                    u_right=float(x1 + 1), bottom_ok=not cut_bottom and below_id == 0,
                    top_ok=y0 > border_px, sides_ok=x0 > border_px and x1 < w - 1 - border_px,
                    below_id=below_id, n_pixels=int(len(ys)))
        if cut_bottom:
            f.flags.append("bottom_cut")
        if below_id:
            f.flags.append(f"stands_on_or_behind_{below_id}")
        out[int(i)] = f
    if hidden_sides:
        _hide_occluded_sides(seg, out, probe_px)
    return out


def _hide_occluded_sides(seg: np.ndarray, feet: dict[int, Footing], probe_px: int) -> None:
    """Mark each side of a mask that ends against a nearer instance as hidden (not the object's side).

    Without depth the order comes from the floor: of two things standing on it, the one whose
    contact row is lower in the image is nearer (a bottom cut by the frame is nearest). A side
    counts as hidden when most of the rows where the mask reaches its extreme column have, just
    beyond it, an instance nearer than this one (a bed whose left end is behind a wardrobe).
    """
    h, w = seg.shape

    def nearness(f: Footing) -> float:
        return float(h + 1) if "bottom_cut" in f.flags else f.v_bottom

    for i, f in feet.items():
        if f.below_id:              # standing on (or behind) something: its contact is not on the floor
            continue
        ys, xs = np.nonzero(seg == i)
        for side, edge, step in (("left", int(f.u_left), -1), ("right", int(f.u_right) - 1, 1)):
            probe = edge + step * probe_px
            if not 0 <= probe < w:
                continue
            rows = ys[np.abs(xs - edge) <= 2]
            beyond = seg[rows, probe]
            others = beyond[(beyond != i) & (beyond > 0)]
            if len(others) <= len(beyond) // 2:
                continue
            j = int(np.bincount(others).argmax())
            g = feet.get(j)
            if g is not None and not g.below_id and nearness(g) > nearness(f) + 2:
                setattr(f, f"{side}_hidden", True)
                f.sides_ok = False
                f.flags.append(f"{side}_hidden_by_{j}")


def standing_box_corners(K: np.ndarray, u: np.ndarray, v: np.ndarray, size: np.ndarray,
                         pitch_rad: np.ndarray, height_m: np.ndarray, base_m: np.ndarray | float = 0.0,
                         yaw_rad: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Corners of upright boxes standing where pixel (u, v) meets the plane ``base_m`` above the floor.

    Broadcasting: ``u``, ``v``, ``base_m`` (N,), ``size`` (N, 3) = (width, height, depth),
    ``pitch_rad`` and ``height_m`` (C,) camera hypotheses. The box's near bottom edge's middle is
    the contact point, its depth runs along the camera's horizontal forward, its width across.
    ``yaw_rad`` in (0, π/2) turns the box about the vertical: its nearest bottom corner (the
    mask's lowest point) is then the contact, width along ``cos·across + sin·ahead``.
    Returns ((C, N, 8, 3) camera-frame corners, (C, N) contact distance along the ray; NaN
    where the ray does not go down to the plane).
    """
    rays = pixel_rays(K, u, v)                                       # (N, 3)
    up = camera_up(np.asarray(pitch_rad, float))                     # (C, 3)
    base = np.broadcast_to(np.asarray(base_m, float), np.shape(u))
    drop = np.asarray(height_m, float)[:, None] - base[None, :]       # (C, N)
    down = np.einsum("nk,ck->cn", rays, up)                          # (C, N)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where((down < -1e-6) & (drop > 0), -drop / down, np.nan)
    contact = t[..., None] * rays[None]                              # (C, N, 3)
    # Square to the camera's horizontal forward (furniture stands square to the walls, and a
    # photo is taken square to a wall more often than not): the near bottom edge is then a
    # horizontal image line, so the mask's lowest row is its middle, not a corner.
    forward = np.array([0.0, 0.0, 1.0]) - up[:, 2:3] * up                      # (C, 3)
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    ahead = np.broadcast_to(forward[:, None, :], contact.shape)
    across = np.cross(up[:, None, :], ahead)
    size = np.asarray(size, float)
    if yaw_rad:
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        across, ahead = c * across + s * ahead, -s * across + c * ahead
        signs = np.array([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)])
    else:
        signs = np.array([[a, b, c] for a in (-0.5, 0.5) for b in (0.0, 1.0) for c in (0.0, 1.0)])   # (8, 3)
    offs = (signs[None, None, :, 0:1] * size[None, :, None, 0:1] * across[:, :, None, :]
            + signs[None, None, :, 1:2] * size[None, :, None, 1:2] * up[:, None, None, :]
            + signs[None, None, :, 2:3] * size[None, :, None, 2:3] * ahead[:, :, None, :])
    return contact[:, :, None, :] + offs, t


def project_rows_cols(K: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) camera points → (u, v) pixel arrays (NaN behind the camera)."""
    K = np.asarray(K, float)
    z = pts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 1e-6, K[0, 0] * pts[..., 0] / z + K[0, 2], np.nan)
        v = np.where(z > 1e-6, K[1, 1] * pts[..., 1] / z + K[1, 2], np.nan)
    return u, v


@dataclass
class CameraSolution:
    """The solved camera: pitch (rad, down), height above the floor (m), the robust cost and
    how many objects informed it; ``residual_px`` per object id (top-row misfit)."""

    pitch_rad: float
    height_m: float
    cost: float
    n_objects: int
    residual_px: dict[int, float] = field(default_factory=dict)


def solve_camera(K: np.ndarray, feet: list[Footing], sizes: np.ndarray,
                 pitch_range_deg: tuple[float, float] = (0.0, 55.0), height_range_m: tuple[float, float] = (0.4, 3.0),
                 pitch_prior_deg: float = 22.0, pitch_prior_sigma_deg: float = 20.0,
                 height_prior_m: float = 1.45, height_prior_sigma_log: float = 0.6,
                 robust_px: float = 6.0, width_weight: float = 0.3, prior_weight: float = 0.05,
                 pitch_cost=None, pitch_weight: float = 0.5, yaws_deg: tuple[float, ...] = (0.0,),
                 side_cut_weight: float = 1.0) -> CameraSolution:
    """Camera pitch and height from floor objects of known size (``sizes`` (N, 3) w/h/d metres).

    Each object stands where its mask's bottom meets the floor; for a camera hypothesis its
    box's highest corner must land on the mask's top row (and, weaker — the yaw is unknown —
    its width on the mask's width). Cost: Cauchy loss of those pixel misfits (scale
    ``robust_px``), plus weak priors (a handheld photo: ~22° down, ~1.45 m high; × ``prior_weight``)
    that only matter when the objects cannot decide (one object, or all at one distance).
    ``pitch_cost(pitch_rad array) -> array`` (e.g. :func:`scenewright.perception.lines.vertical_cost`:
    how well the image's vertical edges meet at the pitch's vanishing point) is added ×
    ``pitch_weight``: it pins the pitch, which the objects alone trade against the height.
    ``yaws_deg``: each object's box is tried at these turns (0 = square to the camera) and its
    best counts; with several, each side of the mask (left, right column) is matched on its
    own, which pins the turn. ``side_cut_weight``: how much an object cut by the left or right
    border counts (its lowest row may not be its lowest point) while at least two uncut
    ones give evidence.
    """
    extra = (lambda p: pitch_weight * pitch_cost(p)) if pitch_cost is not None else (lambda p: 0.0)
    lo, hi = pitch_range_deg
    pitches = np.radians(np.arange(lo, hi + 1e-9, 0.5))
    heights = np.exp(np.linspace(np.log(height_range_m[0]), np.log(height_range_m[1]), 140))
    P, H = np.meshgrid(pitches, heights, indexing="ij")
    P, H = P.ravel(), H.ravel()
    prior = (((np.degrees(P) - pitch_prior_deg) / pitch_prior_sigma_deg) ** 2
             + (np.log(H / height_prior_m) / height_prior_sigma_log) ** 2)
    use = [i for i, f in enumerate(feet) if f.bottom_ok and (f.top_ok or f.sides_ok)]
    if not use:
        total = prior * prior_weight + extra(P)
        best = int(np.argmin(total))
        return CameraSolution(float(P[best]), float(H[best]), float(total[best]), 0)
    ff = [feet[i] for i in use]
    sz = np.asarray(sizes, float)[use]
    u = np.array([f.u for f in ff])
    v = np.array([f.v_bottom for f in ff])
    obs_top = np.array([f.v_top for f in ff])
    obs_width = np.array([f.u_right - f.u_left for f in ff])
    top_ok = np.array([f.top_ok for f in ff], float)
    sides_ok = np.array([f.sides_ok for f in ff], float)

    left = np.array([f.u_left for f in ff])
    right = np.array([f.u_right for f in ff])
    weight = np.ones(len(ff))
    if sides_ok.sum() >= 2:
        weight = np.where(sides_ok > 0, 1.0, side_cut_weight)

    def costs(pitch, height):
        best_loss, best_top = None, None
        for yaw in yaws_deg:
            corners, _ = standing_box_corners(K, u, v, sz, pitch, height, yaw_rad=np.radians(yaw))
            cu, cv = project_rows_cols(K, corners)                  # (C, N, 8)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN: no floor contact
                top = np.nanmin(cv, axis=-1)
                lo_u, hi_u = np.nanmin(cu, axis=-1), np.nanmax(cu, axis=-1)
            r_top = (top - obs_top) / robust_px
            if len(yaws_deg) > 1:
                # Each side on its own: the turn moves them differently.
                r_l = (lo_u - left) / (2 * robust_px)
                r_r = (hi_u - right) / (2 * robust_px)
                side = np.log1p(r_l ** 2) + np.log1p(r_r ** 2)
            else:
                # The width seen depends on the unknown yaw: compare in log space, weakly.
                r_w = np.log(np.maximum(hi_u - lo_u, 1.0) / np.maximum(obs_width, 1.0)) / 0.15
                side = np.log1p(r_w ** 2)
            loss = top_ok * np.log1p(r_top ** 2) + width_weight * sides_ok * side
            loss = np.where(np.isfinite(loss), loss, 25.0)          # no floor contact: as bad as a huge misfit
            if best_loss is None:
                best_loss, best_top = loss, top
            else:
                better = loss < best_loss
                best_loss = np.where(better, loss, best_loss)
                best_top = np.where(better, top, best_top)
        pr = (((np.degrees(pitch) - pitch_prior_deg) / pitch_prior_sigma_deg) ** 2
              + (np.log(height / height_prior_m) / height_prior_sigma_log) ** 2)
        return (weight * best_loss).sum(axis=1) + prior_weight * pr + extra(pitch), best_top

    cost, _ = costs(P, H)
    best = int(np.argmin(cost))
    # The grid (0.5°, ~1.4 %) finds the basin; a simplex polishes within it (pitch and height
    # trade off along a ridge, so grid steps alone leave a few per cent of height).
    from scipy.optimize import minimize
    res = minimize(lambda x: float(costs(np.array([x[0]]), np.array([np.exp(x[1])]))[0][0]),
                   np.array([P[best], np.log(H[best])]), method="Nelder-Mead",
                   options={"xatol": 1e-5, "fatol": 1e-7, "maxiter": 400})
    pitch, height = (float(res.x[0]), float(np.exp(res.x[1]))) if res.fun <= cost[best] else (P[best], H[best])
    final, top = costs(np.array([pitch]), np.array([height]))
    resid = {f.id: float(top[0, j] - obs_top[j]) for j, f in enumerate(ff)}
    return CameraSolution(float(pitch), float(height), float(final[0]), len(ff), resid)


def box_depth(K: np.ndarray, us: np.ndarray, vs: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Depth (metres along camera z) where each pixel ray enters a box, else where it meets the
    box's front face plane. ``us``/``vs`` (M,) pixel centres, ``corners`` (8, 3) of one box as
    made by :func:`standing_box_corners` (axes: across, up, ahead)."""
    rays = pixel_rays(K, us, vs)                                     # (M, 3), z = 1
    origin = corners[0]                                              # (-w/2, 0, 0) corner
    ax = corners[4] - corners[0]                                     # across (+w)
    ay = corners[2] - corners[0]                                     # up (+h)
    az = corners[1] - corners[0]                                     # ahead (+d)
    axes = np.stack([ax, ay, az])                                    # (3, 3)
    lengths = np.maximum(np.linalg.norm(axes, axis=1), 1e-9)
    unit = axes / lengths[:, None]
    o = (-origin) @ unit.T                                           # camera origin in box coords (3,)
    d = rays @ unit.T                                                # (M, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (0.0 - o) / d
        t2 = (lengths - o) / d
    tmin = np.nanmax(np.minimum(t1, t2), axis=1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (tmax >= tmin) & (tmax > 0)
    # Front face plane (ahead = 0): the mask is wider or taller than the box model.
    with np.errstate(divide="ignore", invalid="ignore"):
        t_front = (0.0 - o[2]) / d[:, 2]
    t = np.where(hit, np.maximum(tmin, 0.0), t_front)
    t[~np.isfinite(t) | (t <= 0)] = np.nan
    return t                                                         # rays have z = 1: t is the depth


def place_boxes(K: np.ndarray, feet: list[Footing], sizes: np.ndarray, bases_m: np.ndarray,
                pitch_rad: float, height_m: float, image_height: int) -> tuple[np.ndarray, np.ndarray]:
    """Each object's box for a solved camera: ((N, 8, 3) camera-frame corners, (N,) contact distance).

    An object whose bottom is seen stands where it is seen (on the plane ``bases_m`` above the
    floor: 0, or its support's top). One whose bottom is hidden or cut is slid along its
    column until its known height reaches the mask's top row (its contact row is then
    somewhere below the visible part, possibly below the image).
    """
    n = len(feet)
    u = np.array([f.u for f in feet], float)
    v = np.array([f.v_bottom for f in feet], float)
    sizes = np.asarray(sizes, float).reshape(n, 3)
    bases = np.asarray(bases_m, float).reshape(n)
    for j, f in enumerate(feet):
        if f.bottom_ok or not f.top_ok:
            continue
        rows = f.v_bottom + np.linspace(0.0, 3.0 * image_height, 300)
        c, _ = standing_box_corners(K, np.full(len(rows), f.u), rows, np.repeat(sizes[j:j + 1], len(rows), 0),
                                    np.array([pitch_rad]), np.array([height_m]), np.full(len(rows), bases[j]))
        _, cv = project_rows_cols(K, c[0])
        miss = np.abs(np.nanmin(cv, axis=-1) - f.v_top)
        if np.isfinite(miss).any():
            v[j] = rows[int(np.nanargmin(miss))]
    corners, t = standing_box_corners(K, u, v, sizes, np.array([pitch_rad]), np.array([height_m]), bases)
    return corners[0], t[0]


def synthesise_depth(K: np.ndarray, seg: np.ndarray, ids: list[int], corners: np.ndarray,
                     pitch_rad: float, height_m: float, room_depth_m: float | None = None) -> np.ndarray:
    """(H, W) float32 depth: background = the floor plane (NaN above the horizon or farther than
    ``room_depth_m``), object ``ids[j]``'s pixels = where they enter box ``corners[j]``."""
    h, w = seg.shape
    depth = floor_depth(K, (h, w), pitch_rad, height_m)
    if room_depth_m is not None:
        depth[depth > room_depth_m] = np.nan
    out = np.where(seg == 0, depth, np.nan)
    for j, i in enumerate(ids):
        ys, xs = np.nonzero(seg == i)
        if len(ys) == 0 or not np.all(np.isfinite(corners[j])):
            continue
        out[ys, xs] = box_depth(K, xs + 0.5, ys + 0.5, corners[j])
    return out.astype(np.float32)
