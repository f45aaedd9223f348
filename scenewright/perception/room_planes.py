"""Floor and walls by RANSAC on back-projected room pixels, and the gravity-aligned world frame.

Everything here works in the camera frame (OpenCV) until :func:`world_from_floor`
turns the floor into the world frame (Y up, floor at y = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenewright.geometry.planes import Plane, angle_deg, ransac_plane, refit_plane


@dataclass
class RoomFit:
    """Room planes in the camera frame, normals pointing toward the camera."""

    floor: Plane | None = None
    walls: list[Plane] = field(default_factory=list)
    floor_inliers: int = 0
    wall_inliers: list[int] = field(default_factory=list)
    floor_from_labels: bool = False
    walls_free: list[Plane] = field(default_factory=list)    # the walls fitted without "vertical"
    notes: list[str] = field(default_factory=list)


def up_prior(pitch_deg: float) -> np.ndarray:
    """World up in the camera frame for a camera pitched ``pitch_deg`` down without roll."""
    p = np.radians(pitch_deg)
    return np.array([0.0, -np.cos(p), -np.sin(p)])


def _toward_camera(plane: Plane) -> Plane:
    # The camera sits at the origin, in front of every room surface it sees.
    return plane if plane.distance(np.zeros(3)) >= 0 else plane.flipped()


def _band(plane: Plane, abs_m: float, rel: float) -> float:
    # A relative depth error e moves a camera-frame point off its plane by e × the plane's
    # distance from the camera, whatever the point's depth: so one band per plane, which
    # truncates the noise the same way all along a grazing wall (a depth-dependent band
    # truncates near and far ends differently and tilts the fit).
    return abs_m + rel * abs(plane.distance(np.zeros(3)))


def _adaptive_refine(points, plane, abs_m, rel, thr_min, vertical_to=None, iterations=6, rel_max=None):
    """Least-squares refinement (:func:`fit_plane_depth_noise`) on the inliers of a band that may
    only shrink from the RANSAC band toward ~3 robust sigmas of the relative residuals: clean
    data is fitted tightly, noisy data keeps the RANSAC band. (A band allowed to grow lets the
    plane creep toward the neighbouring surface at its edge.)"""
    p = np.asarray(points, float)
    thr = _band(plane, abs_m, rel)
    # Each step is refine_plane(p, plane, thr, iterations=1, depth_noise=True), but every point's
    # distance to a plane is computed once: the step's inliers and the next step's (or the
    # result's), under another band, come from the same distances.
    off = np.abs(plane.distance(p))
    for _ in range(iterations):
        inliers = off < thr
        if inliers.sum() >= 3:
            plane = refit_plane(p, plane, inliers, vertical_to, depth_noise=True)
            off = np.abs(plane.distance(p))
            inliers = off < thr
        if inliers.sum() < 10:
            break
        dist = max(abs(plane.distance(np.zeros(3))), 1e-3)
        sigma_rel = 1.4826 * np.median(np.abs(plane.distance(p[inliers]))) / dist
        hi = _band(plane, abs_m, rel if rel_max is None else rel_max)
        thr = float(np.clip(3.0 * sigma_rel * dist, thr_min, min(hi, 2 * thr)))
    return plane, off < thr


def fit_room(points: np.ndarray, rng: np.random.Generator, settings, floor_points: np.ndarray | None = None,
             check_points: np.ndarray | None = None) -> RoomFit:
    """Floor and walls of the camera-frame room points (N, 3).

    ``floor_points``: points labelled floor (used alone for the floor when there are
    enough). ``check_points``: every valid point of the image (room and objects), used to
    reject planes with many points behind them (a room surface is one-sided).
    """
    s = settings
    fit = RoomFit()
    check = points if check_points is None else check_points
    prior = up_prior(s.up_prior_pitch_deg)
    min_pts = max(s.min_plane_points, int(s.min_plane_fraction * len(points)))

    # ---- floor -------------------------------------------------------------------
    candidates: list[tuple[Plane, int]] = []
    if floor_points is not None and len(floor_points) >= s.min_plane_points:
        plane, inl = ransac_plane(floor_points, rng, s.ransac_hypotheses, s.plane_threshold_m,
                                  normal_prior=prior, max_angle_deg=s.max_floor_tilt_deg,
                                  rel_threshold=s.plane_threshold_rel)
        if plane is not None:
            plane, inl = _adaptive_refine(floor_points, plane, s.plane_threshold_m, s.plane_threshold_rel,
                                          s.plane_threshold_m * 0.25, rel_max=s.refine_band_rel)
            candidates.append((_toward_camera(plane), int(inl.sum())))
            fit.floor_from_labels = True
    if not candidates:
        remaining = np.ones(len(points), bool)
        for _ in range(s.max_floor_candidates):
            idx = np.flatnonzero(remaining)
            if len(idx) < min_pts:
                break
            plane, inl_h = ransac_plane(points[idx], rng, s.ransac_hypotheses, s.plane_threshold_m,
                                        normal_prior=prior, max_angle_deg=s.max_floor_tilt_deg,
                                        rel_threshold=s.plane_threshold_rel, max_behind=s.behind_fraction,
                                        behind_margin=(s.wall_behind_margin_m, s.refine_band_rel))
            if plane is None or inl_h.sum() < min_pts:
                break
            # Refine on all points, not only the remaining ones: points removed with an earlier
            # plane's band were picked by their noisy depth, and leaving them out biases the fit.
            plane, inl = _adaptive_refine(points, plane, s.plane_threshold_m, s.plane_threshold_rel,
                                          s.plane_threshold_m * 0.25, rel_max=s.refine_band_rel)
            plane = _toward_camera(plane)
            if inl.sum() >= min_pts and angle_deg(plane.normal, prior) <= s.max_floor_tilt_deg:
                candidates.append((plane, int(inl.sum())))
            # Remove this plane's inliers (and the hypothesis' own), not a wide band: a wrong
            # candidate near the floor must not take the floor's points with it.
            remaining[idx[inl_h]] = False
            remaining[inl] = False
    # The floor is the lowest horizontal surface with real support: among candidates with
    # few points below them, parallel (≤ 10°) to the best-supported one and holding at least
    # a quarter of its inliers, take the one farthest below the camera. (A plane that merely
    # slices a strip off a wall may be "low" but is neither parallel nor well supported.)
    valid = []
    for plane, n_in in candidates:
        below = np.mean(plane.distance(check) < -(s.wall_behind_margin_m + s.refine_band_rel * check[:, 2]))
        if below > s.behind_fraction:
            fit.notes.append(f"floor candidate at camera height {plane.distance(np.zeros(3)):.2f} m "
                             f"rejected: {below:.1%} of points below it")
            continue
        valid.append((plane, n_in))
    best = None
    if valid:
        top = max(valid, key=lambda c: c[1])
        for plane, n_in in valid:
            if n_in < 0.25 * top[1] or angle_deg(plane.normal, top[0].normal) > 10.0:
                continue
            height = plane.distance(np.zeros(3))
            if best is None or height > best[0]:
                best = (height, plane, n_in)
    if best is None:
        fit.notes.append("no floor plane found")
        return fit
    fit.floor, fit.floor_inliers = best[1], best[2]
    up = fit.floor.normal

    # ---- walls -------------------------------------------------------------------
    above = fit.floor.distance(points) > 2 * _band(fit.floor, s.plane_threshold_m, s.plane_threshold_rel)
    remaining = above.copy()
    min_wall = max(s.min_plane_points, int(s.min_plane_fraction * len(points)))
    for _ in range(s.max_walls + 3):
        if len(fit.walls) >= s.max_walls:
            break
        idx = np.flatnonzero(remaining)
        if len(idx) < min_wall:
            break
        plane, inl = ransac_plane(points[idx], rng, s.ransac_hypotheses, s.plane_threshold_m,
                                  vertical_to=up, rel_threshold=s.plane_threshold_rel,
                                  max_behind=s.behind_fraction,
                                  behind_margin=(s.wall_behind_margin_m, s.refine_band_rel))
        if plane is None or inl.sum() < min_wall:
            break
        free, _ = _adaptive_refine(points, plane, s.plane_threshold_m, s.plane_threshold_rel,
                                   s.plane_threshold_m * 0.25, rel_max=2 * s.plane_threshold_rel)
        band = np.abs(plane.distance(points[idx])) < _band(plane, s.plane_threshold_m, s.refine_band_rel)
        remaining[idx[band]] = False
        tilt = abs(90.0 - angle_deg(free.normal, up))
        if tilt > s.wall_vertical_tol_deg:
            fit.notes.append(f"plane rejected as wall: {tilt:.1f}° from vertical")
            continue
        plane, inl = _adaptive_refine(points, free, s.plane_threshold_m, s.plane_threshold_rel,
                                      s.plane_threshold_m * 0.25,
                                      vertical_to=up, rel_max=2 * s.plane_threshold_rel)
        plane = _toward_camera(plane)
        if inl.sum() < min_wall:
            continue
        behind = np.mean(plane.distance(check) < -(s.wall_behind_margin_m + s.refine_band_rel * check[:, 2]))
        if behind > s.behind_fraction:
            fit.notes.append(f"plane rejected as wall: {behind:.1%} of points behind it")
            continue
        dup = any(angle_deg(plane.normal, w.normal) < 10.0 and abs(w.distance(plane.point)) < 0.3
                  for w in fit.walls)
        if dup:
            continue
        fit.walls.append(plane)
        fit.wall_inliers.append(int(inl.sum()))
        fit.walls_free.append(_toward_camera(free))
    for _ in range(s.joint_rounds if fit.walls else 0):
        # Joint clean-up: give every point to the room plane it is relatively closest to (in
        # units of each plane's band) and refit each plane on its own points only, so points
        # at a floor–wall or wall–wall corner stop pulling two planes at once.
        planes = [fit.floor] + fit.walls
        bands = np.array([_band(p, s.plane_threshold_m, 2 * s.plane_threshold_rel) for p in planes])
        res = np.abs(np.stack([p.distance(points) for p in planes], axis=1)) / bands     # (P, 1 + W)
        owner = np.argmin(res, axis=1)
        mine = points[(owner == 0) & (res[:, 0] < 1.0)]
        if len(mine) >= min_pts:
            new, inl = _adaptive_refine(mine, fit.floor, s.plane_threshold_m, s.plane_threshold_rel,
                                        s.plane_threshold_m * 0.25, rel_max=s.refine_band_rel)
            fit.floor, fit.floor_inliers = _toward_camera(new), int(inl.sum())
        up = fit.floor.normal
        for k, w in enumerate(fit.walls):
            mine = points[(owner == k + 1) & (res[:, k + 1] < 1.0)]
            if len(mine) >= 3 * s.min_plane_points // 4:
                new, inl = _adaptive_refine(mine, w, s.plane_threshold_m, 2 * s.plane_threshold_rel,
                                            s.plane_threshold_m * 0.25, vertical_to=up)
            else:                                # too few own points: keep it, but vertical to the new up
                new, inl = _adaptive_refine(points, w, s.plane_threshold_m, s.plane_threshold_rel,
                                            s.plane_threshold_m * 0.25, vertical_to=up, iterations=1)
            fit.walls[k] = _toward_camera(new)
            fit.wall_inliers[k] = int(inl.sum())
    return fit


def world_from_floor(floor_cam: Plane, walls_cam: list[Plane] | None = None,
                     wall_inliers: list[int] | None = None, frame: str = "camera") -> np.ndarray:
    """(4, 4) world_from_camera with Y = floor normal, the floor at y = 0, the origin below the
    camera, and -Z along the camera's forward direction projected on the floor (``frame="camera"``)
    or turned about Y so the dominant wall's normal is the nearest of ±X/±Z (``frame="wall"``)."""
    up = floor_cam.normal / np.linalg.norm(floor_cam.normal)
    height = float(floor_cam.distance(np.zeros(3)))
    fwd = np.array([0.0, 0.0, 1.0]) - up[2] * up
    if np.linalg.norm(fwd) < 1e-3:          # looking straight down: use the image's x instead
        fwd = np.cross(np.array([1.0, 0.0, 0.0]) - up[0] * up, up)
    fwd /= np.linalg.norm(fwd)
    z_axis = -fwd
    x_axis = np.cross(up, z_axis)
    cam_from_world = np.eye(4)
    cam_from_world[:3, 0], cam_from_world[:3, 1], cam_from_world[:3, 2] = x_axis, up, z_axis
    cam_from_world[:3, 3] = -height * up            # the camera's foot on the floor
    world_from_cam = np.linalg.inv(cam_from_world)
    if frame == "wall" and walls_cam:
        k = int(np.argmax(wall_inliers)) if wall_inliers else 0
        n = world_from_cam[:3, :3] @ walls_cam[k].normal
        heading = np.arctan2(n[0], n[2])                  # angle of n from +Z about Y
        snapped = np.round(heading / (np.pi / 2)) * (np.pi / 2)
        turn = snapped - heading
        c, s_ = np.cos(turn), np.sin(turn)
        r = np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]])
        world_from_cam = np.block([[r, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]]) @ world_from_cam
    return world_from_cam


def focal_scale_from_planes(floor: Plane, walls: list[Plane], min_weight: float = 0.02) -> float | None:
    """How much the image x/y of camera-frame points must be scaled (s = f_assumed / f_true) for
    the walls to stand perpendicular to the floor (and adjacent walls to each other).

    Scaling x and y by s is a linear map of space, so planes stay planes and a normal n becomes
    ∝ (n_x / s, n_y / s, n_z): perpendicular planes n, w give
    s² = -(n_x w_x + n_y w_y) / (n_z w_z), in closed form. Pairs are weighted by |n_z w_z| (how
    much the angle depends on s); None when no pair is informative.
    """
    pairs = [(floor.normal, w.normal) for w in walls]
    for i in range(len(walls)):
        for j in range(i + 1, len(walls)):
            if 60.0 <= angle_deg(walls[i].normal, walls[j].normal) <= 120.0:
                pairs.append((walls[i].normal, walls[j].normal))
    est, wts = [], []
    for n, w in pairs:
        den = n[2] * w[2]
        if abs(den) < min_weight:
            continue
        s2 = -(n[0] * w[0] + n[1] * w[1]) / den
        if s2 > 0:
            est.append(np.sqrt(s2))
            wts.append(abs(den))
    if not est:
        return None
    order = np.argsort(est)
    cum = np.cumsum(np.asarray(wts)[order])
    return float(np.asarray(est)[order][np.searchsorted(cum, cum[-1] / 2)])      # weighted median


def scale_plane_xy(plane: Plane, s: float) -> Plane:
    """The plane after camera-frame points are mapped by diag(s, s, 1)."""
    S = np.array([s, s, 1.0])
    return Plane(plane.point * S, plane.normal / S)
