"""Put a MIDI scene where the photo shows it: one similarity transform, a camera, a floor.

MIDI writes every instance's mesh in one shared, normalised scene frame (about two units
wide, no camera, no floor). Registration solves ``camera_from_midi`` — one scale, one
rotation, one translation — so the generated objects land where the capture shows them,
then the world frame (Y up, floor at y = 0, metres) from the floor they stand on:

- **depth** (the capture has metric depth): each instance's mask pixels with depth become
  camera-frame points; a trimmed similarity ICP pairs every observed point with the nearest
  surface sample of *the same instance* (observed → generated: the observed surface is
  a part of the whole, so hidden sides do not bias the fit), Umeyama closes each step.
  Scale comes from the depth itself.
- **masks** (no depth): scale and distance cannot be told apart in one image, so the pose
  is solved at MIDI's own unit — each instance's projected surface samples must fall on
  its mask and cover it (a 2-D chamfer, robust least squares over rotation and
  translation) — and the metric scale comes afterwards from the floor and object sizes:
  each object's size against the asset of its category with the nearest proportions, and
  the camera's height above the floor against eye level, combined robustly
  (:func:`metric_scale_from_cues`).
- **mask reprojection always**: every solution is scored by its per-instance mask IoU
  (projected samples vs the capture's masks), recorded, and used to pick among starts.

Both solvers start from the instance centroids (Umeyama between MIDI centroids and where
the image puts them: back-projected depth, or mask centroids at a distance from apparent
size) and from a few turns of that start about the centroids' main axis (objects along one
wall leave that turn free). The depth fit pairs each observed point with the nearest sample
facing the camera and runs point-to-point steps until they stall before point-to-plane ones;
every start is also tried at 1 ± 15 % scale (screened by a cheap fit), and the solution is
restarted from small turns and scalings of itself (:func:`icp_restarts`).
The mask fit, whose cost has many local minima over rotation, also searches globally: the
generated scene's up is where the most objects' lowest points are coplanar
(:func:`floor_up_candidates`); with the camera's up at each pitch of a grid (no roll), only
the yaw about it is left, tried every 10°, the translation putting instance centroids on
their mask centroids' rays; the best distinct poses of all these starts (scored by a coarse
mask cost) are refined, held near no roll, and the lowest cost wins.

Floor: the camera has no roll (a handheld room photo is upright; the benchmark's cameras
too), so up in the camera frame is ``metrology.camera_up(pitch)``. The pitch and the floor
distance are those for which the most objects' lowest points lie on one plane (things on
tables are above it, never below).

Pure functions on arrays and trimeshes; camera frame OpenCV (x right, y down, z forward),
pixels, metres (MIDI units before the scale is known).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from scenewright.errors import InputError
from scenewright.perception.metrology import camera_up

MODES = ("auto", "depth", "masks", "off")


@dataclass
class RegisterSettings:
    """How a MIDI scene is registered to its capture (recorded in scene.json)."""

    mode: str = "auto"                 # auto: depth when the capture has metric depth, else masks
    points_per_object: int = 20000     # surface samples per generated mesh (their spacing bounds the fit)
    max_observed_per_object: int = 4000   # depth points per instance (a seeded subset)
    icp_iterations: int = 150          # point-to-point until it stalls (≤ 2/3), then point-to-plane
    icp_restarts: int = 6              # depth: turns of the solution refit to leave a nearby basin (0: none)
    restart_deg: float = 5.0
    restart_points: int = 1000         # observed points per instance in those refits
    restart_iterations: int = 60
    restart_scale: float = 0.1         # and scalings by 1 ± that
    scale_spread: float = 0.15         # depth: each start also scaled by 1 ± that (screened cheaply)
    restart_rounds: int = 2            # again from a better solution, at most this often
    icp_facing: int = 6                # pair with the nearest of that many samples facing the camera (1: the nearest)
    trim: float = 0.1                  # fraction of the worst ICP pairs left out (mask-edge depth)
    mask_points: int = 1000            # mask pixels and surface samples per instance in the 2-D chamfer
    starts: int = 4                    # starts refined (masks: the best distinct ones of all searched)
    yaw_search: bool = True            # masks: also search every yaw about each floor-up candidate
    yaw_step_deg: float = 10.0
    pitch_grid_deg: tuple[float, float, float] = (-10.0, 60.0, 5.0)   # (first, last, step) of that search
    floor_candidates: int = 4          # up directions of the generated scene tried by that search
    coarse_points: int = 150           # samples and mask pixels per instance when scoring the search
    roll_weight: float = 200.0         # masks: hold the camera near no roll (0: free), see solve_masks
    line_pitch_weight: float = 200.0   # masks: hold the pitch near the image's Manhattan lines' (0: free)
    polish_points: int = 4000          # masks: surface samples per instance in a last refit of the best pose (0: none)
    pitch_range_deg: tuple[float, float] = (-15.0, 75.0)
    floor_tol: float = 0.03            # × scene size: a lowest point this close is on the floor
    height_prior_m: float = 1.45       # eye-level camera height (a scale cue without depth)
    height_prior_sigma: float = 0.10   # its log standard deviation (0: only when no object tells the scale)
    exact_gap: float = 0.015           # proportion gap scale of "this object is that asset" (see vote_components)
    exact_prior: float = 0.9           # how likely an object whose proportions match an asset's exactly is it
    exact_sigma: float = 0.02          # log sd of a vote when the object is that asset
    merge_same_asset: bool = True      # votes read off one asset (a set of chairs) are one cue: one error
    furniture_sigma: float = 0.12      # log sd of a vote when the object is another of the category
    furniture_core_weight: float = 0.3   # of that part, the share of objects sized like the asset (a heavy-tailed
    furniture_core_sigma: float = 0.04   #   spread: this tight core, the rest furniture_sigma; weight 0: one Gaussian)
    small_sigma: float = 0.35          # the same for small things (vases, lamps, decor)
    vote_outlier_density: float = 0.02   # per log unit: a vote may be plain wrong (a mislabel, a bad pose)
    seed: int = 0

    def validate(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"register must be one of {', '.join(MODES)} (got {self.mode!r})")
        if self.points_per_object < 50 or self.mask_points < 20:
            raise InputError("register: points_per_object must be >= 50 and mask_points >= 20")
        if self.starts < 1 or self.icp_iterations < 1:
            raise InputError("register: starts and icp_iterations must be >= 1")
        if min(self.exact_gap, self.exact_sigma, self.furniture_sigma, self.small_sigma) <= 0:
            raise InputError("register: exact_gap and the size votes' sigmas must be > 0")
        if not 0.0 <= self.furniture_core_weight <= 1.0 or self.furniture_core_sigma <= 0:
            raise InputError("register: furniture_core_weight must be in [0, 1] and furniture_core_sigma > 0")
        if not 0.0 <= self.exact_prior <= 1.0 or self.vote_outlier_density < 0:
            raise InputError("register: exact_prior must be in [0, 1] and vote_outlier_density >= 0")


# What weighs the metric scale's cues without depth (recorded with each such registration).
SCALE_SETTINGS = ("height_prior_m", "height_prior_sigma", "exact_gap", "exact_prior", "exact_sigma",
                  "merge_same_asset", "furniture_sigma", "furniture_core_weight", "furniture_core_sigma",
                  "small_sigma", "vote_outlier_density")


@dataclass
class Registration:
    """The solved transform and camera.

    ``camera_from_midi`` (4, 4) similarity: OpenCV camera coordinates (metres) of a MIDI-frame
    point; ``scale`` its scale (metres per MIDI unit); ``world_from_camera`` (4, 4) rigid, Y up,
    floor at y = 0; ``pitch_deg`` and ``camera_height_m`` of that camera; ``mask_iou`` per
    instance id (projected samples vs mask); ``depth_rmse_m`` (depth mode: trimmed ICP
    residual); ``scale_from``: what fixed the metric scale (depth | sizes | sizes+camera_height |
    camera_height_prior | none); ``scale_cues``: each cue of that scale (log scale, sigma).
    """

    mode: str
    camera_from_midi: np.ndarray
    scale: float
    world_from_camera: np.ndarray
    pitch_deg: float
    camera_height_m: float
    mask_iou: dict = field(default_factory=dict)
    depth_rmse_m: float | None = None
    scale_from: str = "depth"
    floor_objects: list = field(default_factory=list)
    size_votes: dict = field(default_factory=dict)
    scale_cues: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    line_pitch_deg: float | None = None   # masks: the pitch the image's lines gave (held near it)
    scale_settings: dict = field(default_factory=dict)   # masks: the settings the size cues were weighed by

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        for k in ("camera_from_midi", "world_from_camera"):
            out[k] = np.asarray(out[k], float).tolist()
        out["mask_iou"] = {str(k): round(float(v), 4) for k, v in self.mask_iou.items()}
        out["timings_s"] = {k: round(float(v), 4) for k, v in self.timings_s.items()}
        return out


# -- small geometry -------------------------------------------------------------------------
def similarity_matrix(scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(4, 4) ``x ↦ scale · rotation @ x + translation``."""
    m = np.eye(4)
    m[:3, :3] = scale * np.asarray(rotation, float)
    m[:3, 3] = translation
    return m


def split_similarity(m: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, rotation (3, 3), translation (3,)) of a similarity (4, 4)."""
    m = np.asarray(m, float)
    s = float(np.cbrt(np.linalg.det(m[:3, :3])))
    return s, m[:3, :3] / s, m[:3, 3].copy()


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
            with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s R src + t`` (Umeyama 1991). src, dst (N, 3)."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (b * w[:, None]).T @ a
    U, S, Vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[2] = -1.0
    R = U @ np.diag(d) @ Vt
    var_s = float(w @ (a ** 2).sum(1))
    s = float((S * d).sum() / var_s) if with_scale and var_s > 0 else 1.0
    return s, R, mu_d - s * R @ mu_s


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about unit ``axis`` (Rodrigues)."""
    from scipy.spatial.transform import Rotation
    axis = np.asarray(axis, float)
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def project(K: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) camera points → ((N, 2) pixel coordinates (u, v), (N,) depth z)."""
    z = points[:, 2]
    zs = np.where(np.abs(z) < 1e-9, 1e-9, z)
    uv = np.stack([K[0, 0] * points[:, 0] / zs + K[0, 2], K[1, 1] * points[:, 1] / zs + K[1, 2]], 1)
    return uv, z


# -- inputs ----------------------------------------------------------------------------------
def surface_samples(meshes: dict, count: int, seed: int) -> tuple[dict, dict]:
    """({id: (count, 3) seeded area-uniform samples}, {id: (count, 3) their face normals})."""
    pts, nrm = {}, {}
    for i, m in meshes.items():
        p, face = trimesh.sample.sample_surface(m, count, seed=seed + int(i))
        pts[i], nrm[i] = np.asarray(p, float), np.asarray(m.face_normals[face], float)
    return pts, nrm


def observed_points(depth: np.ndarray, seg: np.ndarray, K: np.ndarray, ids, limit: int, seed: int,
                    erode_px: int = 1) -> dict:
    """{id: (M, 3) camera-frame points} from the depth (H, W, metres) inside each mask.

    Masks are eroded by ``erode_px`` (depth at an object's outline mixes it with what is
    behind); instances left with fewer than 10 points are omitted.
    """
    from scipy.ndimage import binary_erosion
    K = np.asarray(K, float)
    rng = np.random.default_rng(seed)
    out = {}
    for i in ids:
        mask = seg == i
        if erode_px:
            eroded = binary_erosion(mask, iterations=erode_px)
            mask = eroded if eroded.sum() >= 10 else mask
        ys, xs = np.nonzero(mask & np.isfinite(depth) & (depth > 0))
        if len(ys) < 10:
            continue
        if len(ys) > limit:
            keep = rng.choice(len(ys), limit, replace=False)
            ys, xs = ys[keep], xs[keep]
        z = depth[ys, xs].astype(float)
        out[int(i)] = np.stack([(xs + 0.5 - K[0, 2]) / K[0, 0] * z, (ys + 0.5 - K[1, 2]) / K[1, 1] * z, z], 1)
    return out


# -- depth: trimmed similarity ICP ---------------------------------------------------------
def _pairs(trees, samples, normals, obs, owner, ids, T, facing: int = 1):
    """Nearest sample of the same instance for every observed point under ``T``:
    (matched samples, their normals, distances in metres). With ``facing`` > 1 the nearest
    of that many whose normal faces the camera (a seen point lies on a side turned towards
    the camera, never on the hidden back of a thin part); the nearest when none does."""
    s, R, t = split_similarity(T)
    local = (obs - t) @ R / s                      # observed points in the MIDI frame
    view = obs @ R                                 # viewing rays in the MIDI frame (from the camera)
    nn, nn_n, dist = np.empty_like(obs), np.empty_like(obs), np.empty(len(obs))
    for k, i in enumerate(ids):
        sel = owner == k
        if facing > 1:
            d, j = trees[i].query(local[sel], k=facing)
            front = np.einsum("nkc,nc->nk", normals[i][j], view[sel]) < 0
            pick = np.where(front.any(1), front.argmax(1), 0)
            rows = np.arange(len(pick))
            d, j = d[rows, pick], j[rows, pick]
        else:
            d, j = trees[i].query(local[sel])
        nn[sel], nn_n[sel], dist[sel] = samples[i][j], normals[i][j], d * s
    return nn, nn_n, dist


def icp_similarity(trees: dict, samples: dict, normals: dict, observed: dict, init: np.ndarray,
                   iterations: int, trim: float, point_tol: float = 1e-6,
                   facing: int = 1) -> tuple[np.ndarray, float]:
    """Refine ``init`` (4, 4, camera_from_midi) so observed points lie on their own instance's
    surface. Point-to-point steps (Umeyama) find the basin; point-to-plane Gauss-Newton steps
    (scale, rotation, translation linearised about the current pose) then converge without
    most of the sample spacing's bias (a sample's tangent plane stands for the surface near it). Returns (similarity, trimmed RMS residual in metres)."""
    T = np.asarray(init, float)
    ids = [i for i in observed if i in trees]
    obs = np.concatenate([observed[i] for i in ids])
    owner = np.concatenate([np.full(len(observed[i]), k) for k, i in enumerate(ids)])
    n_point = max(1, 2 * iterations // 3)

    def step(T, pairs, point_to_plane: bool):
        nn, nn_n, dist = pairs(T)
        keep = dist <= np.quantile(dist, 1.0 - trim) if trim > 0 else np.ones(len(dist), bool)
        if not point_to_plane:
            return similarity_matrix(*umeyama(nn[keep], obs[keep]))
        s, R, t = split_similarity(T)
        q = nn[keep] @ (s * R).T + t                   # matched surface points, camera frame
        n = nn_n[keep] @ R.T
        centre = q.mean(0)                             # linearise about the centre: better conditioned
        qc = q - centre
        A = np.concatenate([(n * qc).sum(1, keepdims=True), np.cross(qc, n), n], axis=1)   # δ, ω, τ
        x = np.linalg.lstsq(A, -(n * (q - obs[keep])).sum(1), rcond=None)[0]
        lin = (1.0 + x[0]) * (rotation_about(x[1:4], np.linalg.norm(x[1:4])) if np.linalg.norm(x[1:4]) > 0
                              else np.eye(3))
        upd = np.eye(4)
        upd[:3, :3] = lin
        upd[:3, 3] = centre + x[4:] - lin @ centre
        return upd @ T

    def sampled(T):
        return _pairs(trees, samples, normals, obs, owner, ids, T, facing)

    # Point-to-point until it stalls (at most two thirds of the budget): switching early locks
    # point-to-plane into the basin of a slightly slid pose.
    it, point_to_plane = 0, False
    while it < iterations:
        T_new = step(T, sampled, point_to_plane)
        change = np.abs(T_new - T).max() / max(1.0, np.abs(T).max())
        T = T_new
        it += 1
        if not point_to_plane and (change < point_tol or it >= n_point):
            point_to_plane = True
        elif point_to_plane and change < 1e-9:
            break
    _, _, dist = sampled(T)
    keep = dist <= np.quantile(dist, 1.0 - trim) if trim > 0 else np.ones(len(dist), bool)
    return T, float(np.sqrt(np.mean(dist[keep] ** 2)))


def trimmed_rmse(trees, samples, normals, observed: dict, T: np.ndarray, trim: float, facing: int) -> float:
    """The trimmed RMS distance (metres) of ``observed`` points to their instances' samples under ``T``."""
    ids = [i for i in observed if i in trees]
    obs = np.concatenate([observed[i] for i in ids])
    owner = np.concatenate([np.full(len(observed[i]), k) for k, i in enumerate(ids)])
    _, _, dist = _pairs(trees, samples, normals, obs, owner, ids, T, facing)
    keep = dist <= np.quantile(dist, 1.0 - trim) if trim > 0 else np.ones(len(dist), bool)
    return float(np.sqrt(np.mean(dist[keep] ** 2)))


def icp_restarts(trees, samples, normals, observed: dict, T: np.ndarray, rmse: float,
                 s: "RegisterSettings") -> tuple[np.ndarray, float]:
    """Leave a nearby ICP basin: box-like furniture can slide and turn along its own faces
    into a pose a few degrees off whose residual is only a little worse (12 mm against 9 at
    the truth on one bench scene), or settle at a wrong scale (box fronts trade scale for
    distance), and no start from centroids lands closer. So the solution is turned by
    ``restart_deg`` about each camera axis, both ways, and scaled by 1 ± ``restart_scale``,
    about the observed centroid; each move is refit cheaply (``restart_points`` per instance, ``restart_iterations``);
    the best of them, when its residual beats the solution's on the same points, is refit in
    full and kept when it is better there too (``restart_rounds`` times at most)."""
    if s.icp_restarts <= 0:
        return T, rmse
    rng = np.random.default_rng(s.seed)
    few = {i: p[rng.choice(len(p), min(len(p), s.restart_points), replace=False)] for i, p in observed.items()}
    centre = np.concatenate(list(observed.values())).mean(0)
    moves = []
    for axis in np.concatenate([np.eye(3), -np.eye(3)])[:s.icp_restarts]:
        m = np.eye(4)
        m[:3, :3] = rotation_about(axis, np.radians(s.restart_deg))
        moves.append(m)
    for f in (1.0 + s.restart_scale, 1.0 / (1.0 + s.restart_scale)):     # scale trades with distance
        moves.append(np.diag([f, f, f, 1.0]))
    for m in moves:
        m[:3, 3] = centre - m[:3, :3] @ centre
    for _ in range(s.restart_rounds):
        base = trimmed_rmse(trees, samples, normals, few, T, s.trim, s.icp_facing)
        best = None
        for m in moves:
            T_k, r_k = icp_similarity(trees, samples, normals, few, m @ T, s.restart_iterations, s.trim,
                                      facing=s.icp_facing)
            if best is None or r_k < best[1]:
                best = (T_k, r_k)
        if best[1] >= 0.98 * base:
            break
        T_new, r_new = icp_similarity(trees, samples, normals, observed, best[0], s.icp_iterations, s.trim,
                                      facing=s.icp_facing)
        if r_new >= rmse:
            break
        T, rmse = T_new, r_new
    return T, rmse


# -- masks: 2-D chamfer ---------------------------------------------------------------------
class MaskTerms:
    """Residuals of one pose against the instance masks (pixels).

    For each instance: every projected surface sample's distance to the nearest pixel that
    may show it (its own mask, or any other instance's — it may be hidden behind that one),
    and every sampled mask pixel's distance to the nearest projected sample (the mask must be
    covered). Both scaled by 1/sqrt(count) so an instance weighs the same whatever its size.
    """

    def __init__(self, seg: np.ndarray, K: np.ndarray, samples: dict, n_mask: int, seed: int,
                 subsample: int = 600):
        from scipy.ndimage import distance_transform_edt
        self.K = np.asarray(K, float)
        self.h, self.w = seg.shape
        rng = np.random.default_rng(seed)
        self.ids = [i for i in samples if np.any(seg == i)]
        self.samples = {i: samples[i][rng.choice(len(samples[i]), min(subsample, len(samples[i])),
                                                  replace=False)] for i in self.ids}
        # Any instance's pixel may show a sample (hidden behind that instance): one map for all.
        self.allowed_dt = distance_transform_edt(~(seg > 0)).astype(np.float32)
        self.mask_px = {}
        for i in self.ids:
            ys, xs = np.nonzero(seg == i)
            pick = rng.choice(len(ys), min(n_mask, len(ys)), replace=False)
            self.mask_px[i] = np.stack([xs[pick] + 0.5, ys[pick] + 0.5], 1)
        # Off-image points cost their distance to the image unless the mask reaches that border.
        self.touches = {i: (np.any(seg[:, 0] == i), np.any(seg[:, -1] == i), np.any(seg[0] == i),
                            np.any(seg[-1] == i)) for i in self.ids}

    def residuals(self, camera_from_midi: np.ndarray) -> np.ndarray:
        s, R, t = split_similarity(camera_from_midi)
        out = []
        for i in self.ids:
            cam = self.samples[i] @ (s * R).T + t
            uv, z = project(self.K, cam)
            behind = z <= 1e-3
            u, v = uv[:, 0], uv[:, 1]
            left, right, top, bottom = self.touches[i]
            # Beyond a border the mask reaches, a point may be anywhere out there (the object
            # runs out of the picture, and far out beyond one border is beyond another too).
            excused = (((u < 0) & left) | ((u > self.w) & right) | ((v < 0) & top) | ((v > self.h) & bottom))
            off = (np.maximum(-u, 0) + np.maximum(u - self.w, 0) + np.maximum(-v, 0) + np.maximum(v - self.h, 0))
            off = np.where(excused, 0.0, off)
            ui = np.clip(u, 0, self.w - 1).astype(int)
            vi = np.clip(v, 0, self.h - 1).astype(int)
            outside = np.where(excused, 0.0, self.allowed_dt[vi, ui]) + off
            outside = np.where(behind, 10.0 * max(self.w, self.h), outside)
            if np.any(~behind):
                d, _ = cKDTree(uv[~behind]).query(self.mask_px[i])
            else:
                d = np.full(len(self.mask_px[i]), 10.0 * max(self.w, self.h))
            out.append(outside / np.sqrt(len(outside)))
            out.append(d / np.sqrt(len(d)))
        return np.concatenate(out)


def mask_iou(seg: np.ndarray, K: np.ndarray, samples: dict, camera_from_midi: np.ndarray,
             meshes: dict | None = None) -> dict:
    """{id: IoU of the instance's projected silhouette and its mask} (occluders counted as its).

    The silhouette is the set of pixels hit by projected surface samples, closed by one pixel
    (samples are sparser than pixels on near objects); pixels of other instances are left out
    of both sides (what is behind an occluder cannot be checked)."""
    from scipy.ndimage import binary_closing, binary_dilation
    h, w = seg.shape
    s, R, t = split_similarity(camera_from_midi)
    out = {}
    for i, pts in samples.items():
        cam = pts @ (s * R).T + t
        uv, z = project(np.asarray(K, float), cam)
        ok = (z > 1e-3) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        sil = np.zeros((h, w), bool)
        sil[uv[ok, 1].astype(int), uv[ok, 0].astype(int)] = True
        sil = binary_closing(binary_dilation(sil), iterations=1)
        mask = seg == i
        judged = (seg == 0) | mask
        inter = np.count_nonzero(sil & mask & judged)
        union = np.count_nonzero((sil | mask) & judged)
        out[int(i)] = inter / union if union else 0.0
    return out


def apparent_depths(seg: np.ndarray, K: np.ndarray, meshes: dict) -> dict:
    """{id: camera-frame point (3,)} where each object's centre would be at MIDI's own scale.

    An object of mean projected area A (MIDI units²; a convex body's is a quarter of its
    surface area, Cauchy) that covers a pixels stands at z = f·sqrt(A / a) on the ray
    through its mask's centroid (occlusion makes a smaller, the object farther: a start only).
    """
    K = np.asarray(K, float)
    f = float(np.sqrt(K[0, 0] * K[1, 1]))
    out = {}
    for i, mesh in meshes.items():
        ys, xs = np.nonzero(seg == i)
        if len(ys) == 0:
            continue
        try:
            area = float(mesh.convex_hull.area) / 4.0
        except Exception:                       # a flat or tiny mesh: its bounding box instead
            e = mesh.extents
            area = float(e[0] * e[1] + e[1] * e[2] + e[0] * e[2]) / 2.0
        z = f * np.sqrt(max(area, 1e-12) / len(ys))
        u, v = xs.mean() + 0.5, ys.mean() + 0.5
        out[int(i)] = np.array([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z])
    return out


def metrology_centres(seg: np.ndarray, K: np.ndarray, ids, labels: dict, sizes: dict) -> dict:
    """{id: camera-frame box centre (3,), metres} from single-view metrology: the camera's pitch
    and height that make the objects' category sizes match their masks, each object stood as
    a box where its mask meets the floor (:mod:`scenewright.perception.metrology`, the no-depth
    layout work's solver). Objects without a category use the median of all sizes."""
    from scenewright.methods.layout.labels import map_label
    from scenewright.perception.metrology import footings, place_boxes, solve_camera
    feet = footings(seg, [int(i) for i in ids])
    order = [i for i in ids if int(i) in feet]
    if not order:
        return {}
    fallback = np.median(np.stack(list(sizes.values())), axis=0)
    size_arr = np.stack([sizes.get(map_label(labels.get(int(i))).category, fallback) for i in order])
    fl = [feet[int(i)] for i in order]
    cam = solve_camera(np.asarray(K, float), fl, size_arr)
    corners, _ = place_boxes(np.asarray(K, float), fl, size_arr, np.zeros(len(order)), cam.pitch_rad,
                             cam.height_m, seg.shape[0])
    return {int(i): corners[j].mean(0) for j, i in enumerate(order) if np.all(np.isfinite(corners[j]))}


def starts_from_centroids(src: np.ndarray, dst: np.ndarray, n_starts: int,
                          with_scale: bool = True) -> list[np.ndarray]:
    """Similarity starts: Umeyama of centroids ``src`` → ``dst`` (N, 3), then that start turned
    about the centroids' main axis (through their mean) by k·360°/n_starts. Fewer than three
    centroids fix no rotation: the starts are then turns about the camera's three axes."""
    if len(src) >= 3:
        s, R, t = umeyama(src, dst, with_scale=with_scale)
        base = [similarity_matrix(s, R, t)]
        spread = dst - dst.mean(0)
        axis = np.linalg.svd(spread, full_matrices=False)[2][0]
    else:
        s = 1.0
        if len(src) == 2 and np.linalg.norm(src[1] - src[0]) > 1e-9 and with_scale:
            s = np.linalg.norm(dst[1] - dst[0]) / np.linalg.norm(src[1] - src[0])
        base = []
        for axis0 in np.eye(3):
            for k in range(4):
                R = rotation_about(axis0, k * np.pi / 2)
                base.append(similarity_matrix(s, R, dst.mean(0) - s * R @ src.mean(0)))
        return base
    out = []
    centre = dst.mean(0)
    for k in range(n_starts):
        turn = np.eye(4)
        turn[:3, :3] = rotation_about(axis, 2 * np.pi * k / n_starts)
        turn[:3, 3] = centre - turn[:3, :3] @ centre
        out.append(turn @ base[0])
    return out


def solve_masks(terms: MaskTerms, init: np.ndarray, up_midi: np.ndarray | None = None,
                roll_weight: float = 0.0, pitch_rad: float | None = None,
                pitch_weight: float = 0.0) -> tuple[np.ndarray, float]:
    """Rotation and translation (scale held) minimising the mask residuals (soft-L1).

    With ``up_midi`` (the generated scene's up, unit (3,)) the camera is held near no roll:
    one more residual, ``roll_weight`` × the x component of that up in the camera frame
    (sine of the roll), so a weight of w costs about w · 0.0175 per degree. With
    ``pitch_rad`` too (the pitch the image's lines give) it is held near that pitch the same
    way: ``pitch_weight`` × the pitch's misfit (radians). Masks pin a scene's yaw and its
    position well but trade its pitch against its depth and height in the picture; the
    vanishing points of the room's lines do not."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation
    s, R0, t0 = split_similarity(init)
    x0 = np.concatenate([np.zeros(3), t0])

    def pose(x):
        return similarity_matrix(s, Rotation.from_rotvec(x[:3]).as_matrix() @ R0, x[3:])

    scale_t = max(np.linalg.norm(t0), 1e-6)
    def residuals(x):
        r = terms.residuals(pose(x))
        if up_midi is None or roll_weight <= 0:
            return r
        R = Rotation.from_rotvec(x[:3]).as_matrix() @ R0
        up_c = R @ up_midi
        r = np.append(r, roll_weight * float(up_c[0]))
        if pitch_rad is not None and pitch_weight > 0:
            r = np.append(r, pitch_weight * (pitch_of_up(up_c) - pitch_rad))
        return r

    res = least_squares(residuals, x0, loss="soft_l1", f_scale=3.0,
                        x_scale=np.array([0.1, 0.1, 0.1, 0.05 * scale_t, 0.05 * scale_t, 0.2 * scale_t]),
                        max_nfev=300, xtol=1e-10, ftol=1e-10)
    return pose(res.x), float(res.cost)


def pitch_of_up(up_camera: np.ndarray) -> float:
    """Downward pitch (rad) of a camera in which world up is ``up_camera`` (3,): the inverse
    of ``camera_up`` whatever the roll."""
    return float(np.arctan2(-up_camera[2], np.hypot(up_camera[0], up_camera[1])))


def pitch_from_image(capture, seed: int) -> float | None:
    """The camera's downward pitch (rad) from the image's Manhattan vanishing points (the
    no-depth layout work's :func:`scenewright.perception.lines.pitch_from_lines`), None
    without an image or lines."""
    rgb = getattr(capture, "rgb", None)
    if rgb is None:
        return None
    from scenewright.perception.lines import line_segments, pitch_from_lines
    return pitch_from_lines(line_segments(np.asarray(rgb), max_tilt_deg=90.0, seed=seed), np.asarray(capture.K, float))


def nearest_up(rotation: np.ndarray, ups_midi: list, pitch_rad: float | None,
               within_deg: float = 30.0) -> np.ndarray | None:
    """The one of ``ups_midi`` (the generated scene's floor-up candidates) that ``rotation``
    (camera_from_midi's) turns nearest the camera's up at ``pitch_rad`` (the image's lines'
    pitch; 20° down without it), None when none is within ``within_deg``."""
    if not ups_midi:
        return None
    target = camera_up(np.radians(20.0) if pitch_rad is None else pitch_rad)
    cos = np.array([float((rotation @ u) @ target) for u in ups_midi])
    k = int(np.argmax(cos))
    return np.asarray(ups_midi[k], float) if cos[k] >= np.cos(np.radians(within_deg)) else None


def floor_below_camera(camera_from_midi: np.ndarray, samples: dict, up_midi: np.ndarray) -> bool:
    """Whether the lowest surface sample along the generated scene's up ``up_midi`` lies below
    the camera under ``camera_from_midi`` (the floor it stands on is below the camera)."""
    sc, R, t = split_similarity(camera_from_midi)
    up_c = R @ np.asarray(up_midi, float)
    return min(float(((p @ (sc * R).T + t) @ up_c).min()) for p in samples.values()) < 0.0


# -- masks: a global search over the floor's yaw ------------------------------------------------
def fibonacci_directions(n: int) -> np.ndarray:
    """(n, 3) unit vectors spread evenly over the sphere (a Fibonacci lattice)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    phi = k * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def floor_up_candidates(meshes: dict, tol: float, count: int = 4, directions: int = 4000,
                        separation_deg: float = 20.0) -> list[tuple[np.ndarray, int]]:
    """Directions of ``up`` in the meshes' own frame for which the most objects stand on one plane.

    For a candidate up, each object's lowest point along it; the floor is the lowest of
    those, and an object is on it when its lowest point is within ``tol`` × the scene's size.
    The directions with the most objects on the floor (then the smallest spread) are
    polished so the floor objects' lowest points agree (least squares over the direction) and
    returned best first, at least ``separation_deg`` apart: [(up (3,) unit, objects on it)].
    When fewer than three objects can share a plane, the directions along which the objects
    on it stand widest (:func:`contact_area`) instead.
    """
    hulls = []
    for m in meshes.values():
        try:
            hulls.append(np.asarray(m.convex_hull.vertices, float))
        except Exception:                       # flat or tiny: all its vertices
            hulls.append(np.asarray(m.vertices, float))
    if not hulls:
        return []
    allv = np.concatenate(hulls)
    size = float(np.linalg.norm(allv.max(0) - allv.min(0)))
    dirs = fibonacci_directions(directions)

    def lows(ups):
        return np.stack([(h @ ups.T).min(0) for h in hulls], axis=-1)     # (D, N)

    low = lows(dirs)
    gap = (low - low.min(1, keepdims=True)) / size
    on = gap <= tol
    n_on = on.sum(1)
    spread = np.where(on, gap, 0.0).sum(1) / np.maximum(n_on, 1)
    plane_guesses = _plane_up_candidates(dirs, on, n_on, spread, lows, size, count, separation_deg) \
        if n_on.max() >= 3 else []
    if n_on.max() < 3 or len(hulls) <= 3:
        # One or two floor objects fix no plane by their lowest points (three always share
        # one: three points make a plane, so with three objects the plane's guesses stay
        # first and the masks choose); their own bottoms do:
        # along the true up a chair stands on four feet, a cabinet on its base (a wide contact),
        # along most other directions it touches the plane at a corner.
        contact = np.zeros(len(dirs))
        for d in np.nonzero(n_on == n_on.max())[0]:
            contact[d] = -sum(contact_area(hulls[j], dirs[d], tol * size) for j in np.nonzero(on[d])[0])
        order = np.lexsort((contact, -n_on))
        chosen: list[tuple[np.ndarray, int]] = []
        cos_sep = np.cos(np.radians(separation_deg))
        # A table stands as widely on its top as on its feet: each direction with its opposite
        # (the masks decide between them).
        for d in order[:max(1, int(np.count_nonzero(contact < 0)))]:
            if len(chosen) >= count:
                break
            if all(abs(float(dirs[d] @ c)) <= cos_sep for c, _ in chosen + plane_guesses):
                chosen += [(dirs[d], int(n_on[d])), (-dirs[d], int(n_on[d]))]
        return plane_guesses + chosen[:max(count, 2)]
    return plane_guesses


def _plane_up_candidates(dirs, on, n_on, spread, lows, size, count, separation_deg):
    """The directions along which three or more objects' lowest points share a plane, best
    first and polished (see :func:`floor_up_candidates`)."""
    from scipy.optimize import minimize
    order = np.lexsort((spread, -n_on))
    chosen: list[tuple[np.ndarray, int]] = []
    cos_sep = np.cos(np.radians(separation_deg))
    for d in order:
        if n_on[d] < 3 or len(chosen) >= count:
            break
        if any(float(dirs[d] @ c) > cos_sep for c, _ in chosen):
            continue
        members = np.nonzero(on[d])[0]

        def spread_of(x, members=members):
            u = x / max(np.linalg.norm(x), 1e-12)
            return float(np.var(lows(u[None])[0, members])) / size ** 2

        r = minimize(spread_of, dirs[d], method="Nelder-Mead",
                     options={"xatol": 1e-6, "fatol": 1e-14, "maxiter": 400})
        up = r.x / np.linalg.norm(r.x)
        if float(up @ dirs[d]) < np.cos(np.radians(10.0)):      # wandered off: keep the grid's
            up = dirs[d]
        chosen.append((up, int(n_on[d])))
    return chosen


def contact_area(hull: np.ndarray, up: np.ndarray, tol: float) -> float:
    """Area (units²) of the convex hull of ``hull``'s points within ``tol`` of its lowest
    level along unit ``up``: how widely the object would stand on a floor there."""
    from scipy.spatial import ConvexHull
    h = hull @ up
    pts = hull[h - h.min() <= tol]
    if len(pts) < 3:
        return 0.0
    a = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(up, a)
    try:
        return float(ConvexHull(np.stack([pts @ a, pts @ b], 1)).volume)
    except Exception:                          # collinear contact: an edge, no area
        return 0.0


def rotation_taking(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation taking unit ``a`` onto unit ``b``."""
    a = np.asarray(a, float) / np.linalg.norm(a)
    b = np.asarray(b, float) / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return rotation_about(perp, np.pi)
    return rotation_about(axis, float(np.arctan2(sin, cos)))


def translation_on_rays(K: np.ndarray, points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(3,) ``t`` that puts each camera point ``points[i] + t`` on the ray through ``pixels[i]``
    (N ≥ 2; least squares, each ray's two linear constraints)."""
    K = np.asarray(K, float)
    a = (pixels[:, 0] - K[0, 2]) / K[0, 0]
    b = (pixels[:, 1] - K[1, 2]) / K[1, 1]
    n = len(points)
    A = np.zeros((2 * n, 3))
    y = np.zeros(2 * n)
    A[0::2, 0], A[0::2, 2], y[0::2] = 1.0, -a, a * points[:, 2] - points[:, 0]
    A[1::2, 1], A[1::2, 2], y[1::2] = 1.0, -b, b * points[:, 2] - points[:, 1]
    return np.linalg.lstsq(A, y, rcond=None)[0]


def soft_l1_cost(residuals: np.ndarray, f_scale: float = 3.0) -> float:
    """The cost ``least_squares(loss="soft_l1", f_scale)`` reports for these residuals."""
    z = (np.asarray(residuals) / f_scale) ** 2
    return float(0.5 * f_scale ** 2 * np.sum(2.0 * (np.sqrt(1.0 + z) - 1.0)))


def floor_yaw_starts(terms: "MaskTerms", seg: np.ndarray, K: np.ndarray, centroids: dict,
                     ups_midi: list, scale: float, pitches_deg, yaws_deg) -> list[tuple[float, np.ndarray]]:
    """Scored similarity starts from a global search: MIDI's up (each of ``ups_midi``) onto the
    camera's up at each pitch (no roll), then every turn about that up (``yaws_deg``); the
    translation puts the instance centroids on the rays through their mask centroids; each
    pose is scored by ``terms`` (soft-L1 mask cost). Returns [(cost, camera_from_midi, MIDI's up)],
    best first."""
    ids = [i for i in terms.ids if i in centroids]
    if len(ids) < 2:
        return []
    # An object the picture cuts has its mask's centroid off its own: left out when it can be.
    whole = [i for i in ids if not any(terms.touches[i])]
    ray_ids = whole if len(whole) >= 2 else ids
    src = np.stack([centroids[i] for i in ray_ids]) * scale
    pix = []
    for i in ray_ids:
        ys, xs = np.nonzero(seg == i)
        pix.append([xs.mean() + 0.5, ys.mean() + 0.5])
    pix = np.asarray(pix)
    out = []
    for up_m in ups_midi:
        for pitch in np.radians(np.asarray(pitches_deg, float)):
            up_c = camera_up(pitch)
            align = rotation_taking(up_m, up_c)
            for yaw in np.radians(np.asarray(yaws_deg, float)):
                R = rotation_about(up_c, yaw) @ align
                pts = src @ R.T
                t = translation_on_rays(K, pts, pix)
                if np.any(pts[:, 2] + t[2] <= 1e-6):
                    continue
                T = similarity_matrix(scale, R, t)
                out.append((soft_l1_cost(terms.residuals(T)), T, up_m))
    out.sort(key=lambda x: x[0])
    return out


def distinct_starts(scored: list, count: int, separation_deg: float = 15.0) -> list[tuple]:
    """The ``count`` best of [(cost, similarity, up or None)] whose rotations differ pairwise by
    at least ``separation_deg``: [(similarity, up or None)]."""
    chosen: list[tuple] = []
    for _, T, up in sorted(scored, key=lambda x: x[0]):
        R = split_similarity(T)[1]
        if all(np.degrees(np.arccos(np.clip((np.trace(R @ split_similarity(C)[1].T) - 1) / 2, -1, 1)))
               >= separation_deg for C, _ in chosen):
            chosen.append((T, up))
        if len(chosen) >= count:
            break
    return chosen


# -- floor ----------------------------------------------------------------------------------
def support_floor(lowest_along, scene_size: float, pitch_range_deg, tol: float) -> tuple[float, float, list]:
    """(pitch rad, floor distance below the camera, indices of the objects on it).

    ``lowest_along(up (C, 3)) -> (C, N)``: each object's lowest height along each candidate
    up. The floor is below every object; the pitch wins whose floor (the lowest object's
    level) touches the most objects within ``tol`` × ``scene_size``, then the smallest spread.
    """
    pitches = np.radians(np.arange(pitch_range_deg[0], pitch_range_deg[1] + 1e-9, 0.25))
    lows = lowest_along(camera_up(pitches))                     # (C, N)
    floor = lows.min(axis=1, keepdims=True)
    gap = (lows - floor) / scene_size
    on = gap <= tol
    count = on.sum(1)
    spread = np.where(on, gap, 0).sum(1)
    best = int(np.lexsort((spread, -count))[0])
    # Polish: the pitch that makes the touching objects' lowest levels agree (least squares).
    members = np.nonzero(on[best])[0]
    if len(members) >= 2:
        from scipy.optimize import minimize_scalar
        def var(p):
            lv = lowest_along(camera_up(np.array([p])))[0, members]
            return float(np.var(lv))
        step = np.radians(0.5)
        r = minimize_scalar(var, bounds=(pitches[best] - step, pitches[best] + step), method="bounded",
                            options={"xatol": 1e-7})
        pitch = float(r.x) if r.fun <= var(pitches[best]) else float(pitches[best])
    else:
        pitch = float(pitches[best])
    low = lowest_along(camera_up(np.array([pitch])))[0]
    level = float(np.median(low[members])) if len(members) else float(low.min())
    return pitch, -level, [int(m) for m in members]


def world_from_camera_for(pitch_rad: float, height: float) -> np.ndarray:
    """(4, 4) world_from_camera: Y up along ``camera_up(pitch)``, camera ``height`` above y = 0,
    world -Z the camera's horizontal forward, no roll."""
    up = camera_up(pitch_rad)
    fwd = np.array([0.0, 0.0, 1.0]) - up[2] * up
    fwd /= np.linalg.norm(fwd)
    z_w = -fwd
    x_w = np.cross(up, z_w)
    m = np.eye(4)
    m[:3, :3] = np.stack([x_w, up, z_w])
    m[:3, 3] = [0.0, height, 0.0]
    return m


# -- metric scale without depth ----------------------------------------------------------------
def category_sizes(library, keep=None) -> dict:
    """{category: (n, 3) (w, h, d) metres of each of its assets} of an opened ``Library``
    (only the asset records for which ``keep(record)`` is true, when given)."""
    out = {}
    for cat in library.categories():
        recs = [r for r in library.by_category(cat) if keep is None or keep(r)]
        if recs:
            out[cat] = np.stack([np.asarray(r.size, float) for r in recs])
    return out


def size_table(sizes: dict) -> dict:
    """``sizes`` as {category: (n, 3)}: a single (3,) size per category is a table of one."""
    return {c: np.atleast_2d(np.asarray(v, float)) for c, v in sizes.items()}


def footprint_sides(points: np.ndarray) -> tuple[float, float]:
    """(long, short) sides of the smallest-area rectangle around ``points`` (N, 2) — the
    object's own footprint, whatever its yaw (1° steps over a quarter turn)."""
    from scipy.spatial import ConvexHull
    pts = np.asarray(points, float)
    try:
        pts = pts[ConvexHull(pts).vertices]
    except Exception:                          # degenerate (a flat or tiny mesh): all points
        pass
    angles = np.radians(np.arange(90.0))
    axes = np.stack([np.cos(angles), np.sin(angles)], 1)                    # (A, 2)
    along = pts @ axes.T                                                   # (N, A)
    across = pts @ np.stack([-axes[:, 1], axes[:, 0]], 1).T
    a = np.ptp(along, axis=0)
    b = np.ptp(across, axis=0)
    k = int(np.argmin(a * b))
    return float(max(a[k], b[k])), float(min(a[k], b[k]))


def size_scale_votes(heights: dict, footprints: dict, labels: dict, sizes: dict) -> dict:
    """{id: :class:`SizeVote`} from each labelled object's measured (height, long side, short
    side) in the registration's units.

    The reference is the asset of the object's category whose proportions are nearest the
    object's (the library knows each asset's real size; a category's median can be 30 %
    off for one sofa), and the vote is the size ratio over all three sides, height counted
    twice (it is measured from the floor, the best-determined line). ``footprints``:
    {id: (long, short)}; ``sizes``: {category: (n, 3) or (3,) (w, h, d) metres}.
    Each vote carries how far the proportions are from that asset's (``shape_gap``, the sum
    of the two log side : height mismatches) and how much the category's sizes spread
    (``category_spread``: the standard deviation of its assets' log cube-root volume; None
    with fewer than three assets).
    """
    from scenewright.library.categories import category_info
    from scenewright.methods.layout.labels import map_label
    table = size_table(sizes)
    votes = {}
    for i, h in heights.items():
        cat = map_label(labels.get(i)).category
        if cat is None or cat not in table or h <= 0:
            continue
        long_side, short_side = footprints[i]
        ref = table[cat]
        ref_h = ref[:, 1]
        ref_long, ref_short = np.maximum(ref[:, 0], ref[:, 2]), np.minimum(ref[:, 0], ref[:, 2])
        measured = np.log(np.maximum([h, long_side, short_side], 1e-9))
        catalog = np.log(np.stack([ref_h, ref_long, ref_short], 1))          # (n, 3)
        # Proportions are scale-free: compare shapes first, then read the scale off the match.
        shape_gap = np.abs((catalog[:, 1:] - catalog[:, :1]) - (measured[1:] - measured[0])).sum(1)
        k = int(np.argmin(shape_gap))
        lr = float(np.average(catalog[k] - measured, weights=[2.0, 1.0, 1.0]))
        spread = float(np.std(catalog.sum(1) / 3.0)) if len(catalog) >= 3 else None
        votes[int(i)] = SizeVote(lr, cat, k, float(shape_gap[k]), spread, category_info(cat).role == "small")
    return votes


@dataclass
class SizeVote:
    """One object's say on the metric scale: ``log_ratio`` (log metres per unit) read off
    asset ``asset`` of ``category``."""

    log_ratio: float
    category: str
    asset: int
    shape_gap: float
    category_spread: float | None
    small: bool


def object_measures(verts: dict, floor_ids, pitch: float, height: float) -> tuple[dict, dict]:
    """({id: height}, {id: (long side, short side)}) of each object in the registration's
    units: a floor object's height above the floor, any other's own height; footprints in
    the floor plane, whatever the yaw. ``verts``: {id: (n, 3) camera-frame vertices}."""
    up = camera_up(pitch)
    heights = {i: float((v @ up).max() + height) for i, v in verts.items()}
    # Two horizontal axes of the floor plane; each footprint's own sides in them.
    side = np.cross(up, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    ahead = np.cross(side, up)
    foot = {i: footprint_sides(np.stack([v @ side, v @ ahead], 1)) for i, v in verts.items()}
    # Objects off the floor measure their own height, not height above the floor.
    for i in heights:
        if i not in floor_ids:
            heights[i] = float(np.ptp(verts[i] @ up))
    return heights, foot


def vote_components(vote: SizeVote, s: RegisterSettings) -> list[tuple[float, float]]:
    """[(weight, log sd)] of one object's vote, a mixture of "it is that asset" and "it is
    another object of the category".

    The library knows its assets' sizes exactly, so an object that is one of them says the
    scale within ``exact_sigma``; its proportions then match the asset's up to the
    measurement (``shape_gap`` ≲ 0.02 on the bench's library rooms). But an object no asset
    stands for can match some asset's proportions as closely by chance (two held-out chairs
    at a gap of 0.013 from a library chair 16 % larger), so a small gap makes the object
    likely, not certainly, that asset: the exact part's weight ``exact_prior`` ×
    exp(−½ (gap / ``exact_gap``)²) fades smoothly with the gap instead of a threshold
    deciding, and the rest is ``furniture_sigma`` wide (how much a category's objects of
    like proportions differ in size). That spread is heavy-tailed: a share
    ``furniture_core_weight`` of a category's objects keep to the sizes its assets share
    (σ ``furniture_core_sigma``: the held-out catalogs' beds, nightstands, sofas and many
    chairs vote within a few % of their nearest-proportion asset even so), the rest differ by
    ``furniture_sigma`` — so objects of different categories that agree outweigh a
    camera-height prior that disagrees (the eye-level prior is 10 % wide), while one that
    is 10–30 % off still has a wide part to fall in. Small things (vases, lamps, decor)
    vary most: ``small_sigma`` alone."""
    if vote.small:
        return [(1.0, s.small_sigma)]
    p_exact = s.exact_prior * float(np.exp(-0.5 * (vote.shape_gap / s.exact_gap) ** 2))
    core = min(s.furniture_core_sigma, s.furniture_sigma)
    return [(p_exact, s.exact_sigma), ((1.0 - p_exact) * s.furniture_core_weight, core),
            ((1.0 - p_exact) * (1.0 - s.furniture_core_weight), s.furniture_sigma)]


def combine_log_votes(values: np.ndarray, components: list, outlier_density: float = 0.02,
                      step: float = 5e-4) -> tuple[float, float]:
    """(estimate, its standard deviation) of one log quantity from independent votes.

    Vote k says ``values[k]`` with the error density ``components[k]`` = [(weight, sd)], a
    Gaussian mixture (one pair: a plain Gaussian), plus ``outlier_density`` per unit: any
    vote may be plain wrong, so a wild one costs the consensus at most a constant. The
    estimate maximises the sum of the votes' log densities (a fine grid over the votes'
    span, then a parabola through the best three points); its sd is from that sum's
    curvature there."""
    v = np.asarray(values, float)
    widest = max(sd for comp in components for _, sd in comp)
    grid = np.arange(v.min() - 4.0 * widest, v.max() + 4.0 * widest + step, step)

    def log_density(x):
        total = np.zeros_like(x)
        for value, comp in zip(v, components):
            d = np.zeros_like(x)
            for weight, sd in comp:
                d += weight * np.exp(-0.5 * ((x - value) / sd) ** 2) / (sd * np.sqrt(2.0 * np.pi))
            total += np.log(d + outlier_density)
        return total

    L = log_density(grid)
    k = int(np.clip(np.argmax(L), 1, len(grid) - 2))
    a, b, c = L[k - 1:k + 2]
    curve = a - 2.0 * b + c
    x = float(grid[k] + (0.5 * step * (a - c) / curve if curve < 0 else 0.0))
    h = 0.005
    la, lb, lc = log_density(np.array([x - h, x, x + h]))
    second = (la - 2.0 * lb + lc) / h ** 2
    sd = float(1.0 / np.sqrt(-second)) if second < 0 else float("inf")
    return x, sd


def metric_scale_from_cues(verts: dict, floor_ids, pitch: float, height: float, labels: dict, sizes: dict,
                           settings: RegisterSettings) -> tuple[float, str, dict, list, dict]:
    """(metres per unit, what fixed it, size votes, flags, cues) for a scene registered up to scale.

    ``verts`` {id: camera-frame vertices} and ``height`` (the camera above the floor) are in
    the registration's units. Independent cues, each a log scale with an error density,
    combined robustly (:func:`combine_log_votes`):

    - each labelled object's size against its category's assets (:func:`size_scale_votes`,
      :func:`vote_components`: that asset, or another of the category); objects read off the
      same asset (the four chairs of a dining set) are one cue, not four: their errors are
      one error (``merge_same_asset``);
    - the camera's height above the floor: a photo is taken at eye level
      (``height_prior_m`` ± ``height_prior_sigma`` in log).
    ``cues`` records each cue's log scale, its standard deviation (the widest part's) and,
    for an object, how likely it is the asset (``p_exact``)."""
    flags = []
    if not height > 0:
        # The floor found is not below the camera (a wrong pose): no camera-height cue, and the
        # objects measure their own heights, not heights above that floor.
        flags.append("floor_not_below_camera")
        floor_ids = []
    heights, foot = object_measures(verts, floor_ids, pitch, height)
    votes = size_scale_votes(heights, foot, labels, sizes)
    groups: dict = {}
    for i, v in votes.items():
        groups.setdefault((v.category, v.asset) if settings.merge_same_asset else i, []).append((i, v))
    values, components, names, p_exact = [], [], [], []
    for members in groups.values():
        vs = [v for _, v in members]
        closest = min(vs, key=lambda v: v.shape_gap)
        values.append(float(np.mean([v.log_ratio for v in vs])))
        components.append(vote_components(closest, settings))
        p_exact.append(0.0 if closest.small else components[-1][0][0])
        names.append(f"{vs[0].category}#{vs[0].asset}" + (f"x{len(vs)}" if len(vs) > 1 else f"@{members[0][0]}"))
    if height > 0 and (settings.height_prior_sigma > 0 or not values):
        values.append(float(np.log(settings.height_prior_m / height)))
        components.append([(1.0, settings.height_prior_sigma if settings.height_prior_sigma > 0 else 1.0)])
        p_exact.append(None)
        names.append("camera_height")
    if not values:
        cues = {"combined": {"log_scale": 0.0, "sigma": None}}
        return 1.0, "none", votes, flags + ["no_size_evidence"], cues
    x, sd = combine_log_votes(np.array(values), components, settings.vote_outlier_density)
    metric_scale = float(np.exp(x))
    scale_from = "sizes" if votes else "camera_height_prior"
    if votes and settings.height_prior_sigma > 0:
        scale_from = "sizes+camera_height"
    if not votes:
        flags.append("no_size_evidence")
    elif len(votes) >= 3:
        lr = np.array([v.log_ratio for v in votes.values()])
        if float(np.median(np.abs(lr - x))) > 0.25:
            flags.append("size_evidence_inconsistent")
    cues = {}
    for n, v, comp, pe in zip(names, values, components, p_exact):
        cues[n] = {"log_scale": round(v, 4), "sigma": round(max(sd_ for _, sd_ in comp), 4)}
        if pe is not None:
            cues[n]["p_exact"] = round(pe, 3)
    cues["combined"] = {"log_scale": round(x, 4), "sigma": round(sd, 4)}
    return metric_scale, scale_from, votes, flags, cues


# -- everything -------------------------------------------------------------------------------
def register(meshes: dict, capture, settings: RegisterSettings | None = None, sizes: dict | None = None,
             depth: np.ndarray | None = None) -> Registration:
    """Register generated meshes ``{capture id: trimesh in MIDI's frame}`` to ``capture``.

    ``capture``: anything with ``K``, ``seg`` (H, W), ``labels`` {id: str} and ``depth`` (metres
    or None). ``depth`` overrides the capture's. ``sizes``: {category: (w, h, d) metres}
    or {category: (n, 3)} per asset (:func:`category_sizes`) for the metric scale without
    depth. Returns a :class:`Registration`.
    """
    s = settings or RegisterSettings()
    s.validate()
    timings = {}
    t0 = time.perf_counter()
    K = np.asarray(capture.K, float)
    seg = np.asarray(capture.seg)
    depth = capture.depth if depth is None else depth
    meshes = {int(i): m for i, m in meshes.items() if m is not None and len(m.faces)}
    if not meshes:
        raise InputError("register: no instance has a mesh")
    mode = s.mode
    if mode == "auto":
        mode = "depth" if depth is not None and getattr(capture, "depth_kind", "metric") == "metric" else "masks"
    if mode == "depth" and depth is None:
        raise InputError(f"{getattr(capture, 'path', 'capture')}: register=depth but the capture has no depth")
    samples, normals = surface_samples(meshes, s.points_per_object, s.seed)
    trees = {i: cKDTree(p) for i, p in samples.items()}
    centroids_midi = {i: p.mean(0) for i, p in samples.items()}
    flags = []
    terms = MaskTerms(seg, K, samples, s.mask_points, s.seed, subsample=s.mask_points)
    timings["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rmse = None
    line_pitch = None
    if mode == "depth":
        observed = observed_points(np.asarray(depth, float), seg, K, list(meshes), s.max_observed_per_object,
                                   s.seed)
        ids = [i for i in observed if i in samples]
        if not ids:
            raise InputError(f"{getattr(capture, 'path', 'capture')}: no instance has depth inside its mask")
        src = np.stack([centroids_midi[i] for i in ids])
        dst = np.stack([observed[i].mean(0) for i in ids])
        best = None
        # Whole-object centroids against seen-side centroids are off in scale (a bed's seen side
        # is half its length nearer): each turn of the start also at 1 ± scale_spread, all
        # screened by a cheap fit, the best `starts` of them fitted in full.
        rng = np.random.default_rng(s.seed)
        few = {i: observed[i][rng.choice(len(observed[i]), min(len(observed[i]), s.restart_points), replace=False)]
               for i in ids}
        centre = dst.mean(0)
        screened = []
        for init in starts_from_centroids(src, dst, s.starts):
            for f in (1.0, 1.0 + s.scale_spread, 1.0 / (1.0 + s.scale_spread)):
                m = np.diag([f, f, f, 1.0])
                m[:3, 3] = centre - f * centre
                T, r = icp_similarity(trees, samples, normals, few, m @ init, s.restart_iterations, s.trim,
                                      facing=s.icp_facing)
                screened.append((r + 1e-3 * float(np.mean(np.abs(terms.residuals(T)))), T))
        screened.sort(key=lambda x: x[0])
        for _, init in screened[:s.starts]:
            T, r = icp_similarity(trees, samples, normals, {i: observed[i] for i in ids}, init,
                                  s.icp_iterations, s.trim, facing=s.icp_facing)
            # Reprojection decides between starts whose depth fits are equally good.
            score = r + 1e-3 * float(np.mean(np.abs(terms.residuals(T))))
            if best is None or score < best[0]:
                best = (score, T, r)
        _, camera_from_midi, rmse = best
        camera_from_midi, rmse = icp_restarts(trees, samples, normals, {i: observed[i] for i in ids},
                                              camera_from_midi, rmse, s)
        metric_scale, scale_from = 1.0, "depth"
    else:
        labels = dict(getattr(capture, "labels", {}) or {})
        medians = {c: np.median(v, axis=0) for c, v in size_table(sizes or {}).items()}
        apparent = apparent_depths(seg, K, meshes)
        pseudo = metrology_centres(seg, K, list(meshes), labels, medians) if medians else {}
        if len(pseudo) < min(3, len(meshes)):
            pseudo = apparent
        ids = [i for i in pseudo if i in samples]
        if not ids:
            raise InputError(f"{getattr(capture, 'path', 'capture')}: no instance of the scene is in seg.png")
        src = np.stack([centroids_midi[i] for i in ids])
        dst = np.stack([pseudo[i] for i in ids])
        centroid_starts = starts_from_centroids(src, dst, s.starts)
        if pseudo is not apparent:
            # Apparent sizes place the objects otherwise (a small object far, a big one near):
            # their starts too, at the same scale (scaling about the camera changes no mask).
            ids_a = [i for i in apparent if i in samples]
            more = starts_from_centroids(np.stack([centroids_midi[i] for i in ids_a]),
                                         np.stack([apparent[i] for i in ids_a]), s.starts)
            unit = split_similarity(centroid_starts[0])[0]
            for T in more:
                T = T.copy()
                T[:3] *= unit / split_similarity(T)[0]
                centroid_starts.append(T)
        coarse = MaskTerms(seg, K, samples, s.coarse_points, s.seed, subsample=s.coarse_points)
        scored = [(soft_l1_cost(coarse.residuals(T)), T, None) for T in centroid_starts]
        ups = floor_up_candidates(meshes, s.floor_tol, s.floor_candidates) if s.yaw_search else []
        line_pitch = pitch_from_image(capture, s.seed) if s.line_pitch_weight > 0 else None
        if ups:
            first, last, step = s.pitch_grid_deg
            pitches = np.arange(first, last + 1e-9, step)
            if line_pitch is not None:
                pitches = np.append(pitches, np.degrees(line_pitch))
            scored += floor_yaw_starts(coarse, seg, K, centroids_midi, [u for u, _ in ups],
                                       split_similarity(centroid_starts[0])[0],
                                       pitches, np.arange(0.0, 360.0, s.yaw_step_deg))
        timings["search"] = time.perf_counter() - t0
        best = None
        for init, up in distinct_starts(scored, s.starts):
            if up is None:
                # A start from the centroids is held like the others (same roll and pitch terms,
                # so the costs compare): by the floor candidate it already takes for up.
                up = nearest_up(split_similarity(init)[1], [u for u, _ in ups], line_pitch)
            T, cost = solve_masks(terms, init, up, s.roll_weight, line_pitch, s.line_pitch_weight)
            # A room is photographed from above its floor: a pose that puts the floor the
            # generated scene stands on above the camera (seen from below) is a mirror-like
            # minimum of the masks, taken only when no start gives another.
            below = up is None or floor_below_camera(T, samples, up)
            if best is None or (below, -cost) > (best[2], -best[0]):
                best = (cost, T, below)
        camera_from_midi = best[1]
        if not best[2]:
            flags.append("floor_not_below_camera")
        if s.polish_points > s.mask_points:
            # Sparse samples leave a near object's mask pixels uncovered, so the fit slides it
            # to cover them: denser samples in a last refit of the winner. The lines' pitch
            # chose the basin; here the masks alone settle the pitch within it (the lines'
            # pitch is off by 1.4° on one bench image, where the masks are right).
            T0 = camera_from_midi
            dense = MaskTerms(seg, K, samples, s.mask_points, s.seed, subsample=s.polish_points)
            up = nearest_up(split_similarity(T0)[1], [u for u, _ in ups], line_pitch)
            camera_from_midi, _ = solve_masks(dense, T0, up, s.roll_weight)
            if up is not None and best[2] and not floor_below_camera(camera_from_midi, samples, up):
                camera_from_midi = T0
        metric_scale, scale_from = None, None
    timings["solve"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    # Floor from the objects' lowest points (the similarity's units).
    sc, R, t = split_similarity(camera_from_midi)
    verts = {i: np.asarray(m.vertices, float) @ (sc * R).T + t for i, m in meshes.items()}
    all_v = np.concatenate(list(verts.values()))
    scene_size = float(np.linalg.norm(all_v.max(0) - all_v.min(0)))
    order = sorted(verts)

    def lowest_along(ups):
        return np.stack([(verts[i] @ ups.T).min(0) for i in order], axis=1)

    pitch, height, members = support_floor(lowest_along, scene_size, s.pitch_range_deg, s.floor_tol)
    floor_ids = [order[m] for m in members]
    votes, scale_cues = {}, {}
    if metric_scale is None:
        metric_scale, scale_from, votes, scale_flags, scale_cues = metric_scale_from_cues(
            verts, floor_ids, pitch, height, dict(getattr(capture, "labels", {}) or {}), sizes or {}, s)
        flags += scale_flags
        camera_from_midi = similarity_matrix(sc * metric_scale, R, t * metric_scale)
        height *= metric_scale
    if len(floor_ids) < 2:
        flags.append("floor_from_fewer_than_two_objects")
    timings["floor"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    iou = mask_iou(seg, K, samples, camera_from_midi)
    timings["reprojection"] = time.perf_counter() - t0
    return Registration(mode=mode, camera_from_midi=camera_from_midi,
                        scale=split_similarity(camera_from_midi)[0],
                        world_from_camera=world_from_camera_for(pitch, height), pitch_deg=float(np.degrees(pitch)),
                        camera_height_m=float(height), mask_iou=iou, depth_rmse_m=rmse, scale_from=scale_from,
                        floor_objects=floor_ids,
                        size_votes={str(k): {"size_ratio": round(float(np.exp(v.log_ratio)), 4),
                                             "category": v.category, "shape_gap": round(v.shape_gap, 4)}
                                    for k, v in votes.items()},
                        scale_cues=scale_cues,
                        scale_settings={k: getattr(s, k) for k in SCALE_SETTINGS} if scale_cues else {},
                        flags=list(dict.fromkeys(flags)), timings_s=timings,
                        line_pitch_deg=None if line_pitch is None else round(float(np.degrees(line_pitch)), 3))


def similarity_errors(estimate: np.ndarray, truth: np.ndarray, points: np.ndarray) -> dict:
    """Rotation (degrees), relative scale and translation errors between two similarities.

    Translation is measured where it matters: the largest distance between where the two put
    any of ``points`` (N, 3, e.g. the generated objects' centres) — a rotation error about a
    far origin would otherwise show as a translation error of no consequence."""
    se, Re, _ = split_similarity(estimate)
    st, Rt, _ = split_similarity(truth)
    c = np.clip((np.trace(Re @ Rt.T) - 1) / 2, -1.0, 1.0)
    pe = points @ estimate[:3, :3].T + estimate[:3, 3]
    pt = points @ truth[:3, :3].T + truth[:3, 3]
    return {"rotation_deg": float(np.degrees(np.arccos(c))), "scale_rel": float(abs(se / st - 1.0)),
            "translation_m": float(np.linalg.norm(pe - pt, axis=1).max())}


def random_midi_frame(gt_scene, rng: np.random.Generator, width: float = 2.0) -> tuple[dict, np.ndarray]:
    """A ground-truth scene moved into a MIDI-like normalised frame by a random similarity.

    Returns ({id: mesh in that frame}, ``camera_from_midi`` (4, 4) truth). The frame: a
    uniformly random rotation, the scene's box scaled to about ``width`` units (× 0.8–1.25)
    and centred near the origin (± 0.1) — what registration must undo."""
    from scipy.spatial.transform import Rotation
    world = {inst.id: inst.world_mesh() for inst in gt_scene.instances if inst.mesh is not None}
    allv = np.concatenate([m.vertices for m in world.values()])
    centre = (allv.max(0) + allv.min(0)) / 2
    diag = float(np.linalg.norm(allv.max(0) - allv.min(0)))
    scale = width / diag * float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    R = Rotation.random(random_state=rng).as_matrix()
    midi_from_world = similarity_matrix(scale, R, -scale * R @ centre + rng.uniform(-0.1, 0.1, 3))
    meshes = {}
    for i, m in world.items():
        m = m.copy()
        m.apply_transform(midi_from_world)
        meshes[i] = m
    camera_from_world = np.linalg.inv(np.asarray(gt_scene.camera.world_from_camera, float))
    return meshes, camera_from_world @ np.linalg.inv(midi_from_world)


# -- the registered scene ----------------------------------------------------------------------
def registered_scene(scene, capture, reg: Registration, plausibility: bool = False):
    """A normal scene (Y up, floor at y = 0, metres, camera, relations) from MIDI's raw scene.

    Each generated mesh is moved by ``world_from_camera @ camera_from_midi`` and given its own
    object frame (centred in x and z on its box, lowest point at y = 0, world axes; MIDI knows
    no object's front), so ``world_from_object`` is a translation. Relations come from the
    scene-graph code the layout method uses; ``plausibility`` runs its layout optimiser (rest
    on supports, separate interpenetrating pairs) and records its report. The raw frame stays
    recoverable: ``extra.midi.registration.camera_from_midi``.
    """
    import copy

    from scenewright.methods.layout.labels import map_label
    from scenewright.methods.layout.scene_graph import build_scene_graph
    from scenewright.scene import Camera
    out = copy.copy(scene)
    world_from_midi = np.asarray(reg.world_from_camera) @ np.asarray(reg.camera_from_midi)
    instances = []
    for inst in scene.instances:
        new = copy.copy(inst)
        new.extra = dict(inst.extra)
        new.category = inst.category or map_label(inst.label).category
        if inst.mesh is not None:
            mesh = inst.mesh.copy()
            mesh.apply_transform(world_from_midi @ np.asarray(inst.world_from_object, float))
            lo, hi = mesh.bounds
            origin = np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
            mesh.apply_translation(-origin)
            new.mesh = mesh
            new.world_from_object = np.eye(4)
            new.world_from_object[:3, 3] = origin
            new.size = mesh.extents.tolist()
            iou = reg.mask_iou.get(int(inst.id))
            new.extra["mask_iou"] = None if iou is None else round(float(iou), 4)
        instances.append(new)
    out.instances = instances
    out.camera = Camera(K=np.asarray(capture.K, float), width=int(capture.width), height=int(capture.height),
                        world_from_camera=np.asarray(reg.world_from_camera, float))
    out.floor = {"normal": [0.0, 1.0, 0.0], "height": 0.0}
    meshed = [i for i in instances if i.mesh is not None]
    out.relations = build_scene_graph(meshed, out.floor)
    out.extra = dict(scene.extra)
    midi = dict(out.extra.get("midi", {}))
    midi["frame"] = "registered: world Y up, floor at y = 0, metres (camera_from_midi below maps MIDI's frame)"
    midi["registration"] = reg.to_json()
    if plausibility:
        from scenewright.methods.layout.optimize import optimize_layout
        t0 = time.perf_counter()
        moved, report = optimize_layout(meshed, out.floor, (), out.relations)
        by_id = {m.id: m for m in moved}
        out.instances = [by_id.get(i.id, i) for i in instances]
        out.relations = build_scene_graph([i for i in out.instances if i.mesh is not None], out.floor)
        midi["plausibility"] = {k: report[k] for k in ("colliding_pairs", "unsupported", "not_resting")
                                if k in report}
        midi["plausibility"]["time_s"] = round(time.perf_counter() - t0, 4)
    out.extra["midi"] = midi
    return out
