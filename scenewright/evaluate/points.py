"""Point-cloud metrics: seeded surface sampling, nearest neighbours, Chamfer, F-score, ICP.

Two protocols share these functions (see ``docs/evaluate.md``):

- **P1, "MIDI protocol (corrected ICP)"**: CD = mean *squared* NN distance pred→gt
  **plus** mean squared gt→pred, after rigid ICP; F-score at τ on *unsquared* distances, ×100.
- **P2 style (metric, unaligned)**: CD = (mean d(gt→pred) + mean d(pred→gt)) / 2 on
  *unsquared* distances in metres, no alignment; F-score at τ = 0.05 m and 0.10 m.

Points are (N, 3) float64 arrays. Nearest neighbours use scipy's cKDTree with all cores.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from scenewright.geometry.surface import sample_surface  # noqa: F401  (part of this module's API)


def stable_seed(base: int, *parts: object) -> int:
    """A deterministic 32-bit seed from ``base`` and any labels (scene name, id, "gt"/"pred").

    Python's ``hash`` is salted per process, so crc32 keeps runs reproducible.
    """
    text = "/".join(str(p) for p in parts).encode()
    return (zlib.crc32(text) ^ (int(base) * 2654435761)) & 0xFFFFFFFF


def nn_distances(source: np.ndarray, target: np.ndarray | cKDTree) -> tuple[np.ndarray, np.ndarray]:
    """Unsquared distance (N,) from each source point to its nearest target point, and its index (N,)."""
    tree = target if isinstance(target, cKDTree) else cKDTree(target)
    dist, idx = tree.query(source, k=1, workers=-1)
    return dist, idx


def fscore(d_pred_to_gt: np.ndarray, d_gt_to_pred: np.ndarray, tau: float) -> float:
    """F-score ×100 at threshold ``tau`` on unsquared distances (precision: pred side)."""
    precision = float(np.mean(d_pred_to_gt < tau))
    recall = float(np.mean(d_gt_to_pred < tau))
    if precision + recall == 0:
        return 0.0
    return 100.0 * 2 * precision * recall / (precision + recall)


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) proper rigid transform (no scale) minimising Σ|T·source_i − target_i|² (paired rows).

    The released MIDI ICP used V as if it were Vᵀ; this is the textbook form
    R = V·diag(1, 1, det(V·Uᵀ))·Uᵀ with H = Σ (s − s̄)(t − t̄)ᵀ = U·S·Vᵀ.
    """
    mu_s, mu_t = source.mean(0), target.mean(0)
    H = (source - mu_s).T @ (target - mu_t)
    U, _, Vt = np.linalg.svd(H)
    V = Vt.T
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(V @ U.T)) or 1.0])
    R = V @ D @ U.T
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = mu_t - R @ mu_s
    return T


@dataclass
class ICPResult:
    transform: np.ndarray      # (4, 4) target_from_source
    aligned: np.ndarray        # (N, 3) source after the transform
    iterations: int
    rmse: float                # of the final NN distances


def icp(source: np.ndarray, target: np.ndarray, max_iterations: int = 50,
        rel_tol: float = 1e-6, tree: cKDTree | None = None, max_points: int = 0,
        seed: int = 0) -> ICPResult:
    """Rigid point-to-point ICP of ``source`` onto ``target`` (no scale), starting at identity.

    Each iteration pairs every source point with its nearest target point and solves
    Kabsch. Stops after ``max_iterations`` or when the RMSE changes by less than
    ``rel_tol`` (relative), as pytorch3d's ``iterative_closest_point`` does.
    ``max_points`` > 0: the transform is estimated on a fixed seeded subset of that many
    source points (all target points stay in the tree) and then applied to all of them;
    this only speeds up the estimate (8,192 points pin down 6 degrees of freedom well).
    """
    tree = tree if tree is not None else cKDTree(target)
    T = np.eye(4)
    full = np.asarray(source, float)
    current = full
    if 0 < max_points < len(full):
        current = full[np.random.default_rng(seed).choice(len(full), max_points, replace=False)]
    prev_rmse = None
    it = 0
    for it in range(1, max_iterations + 1):
        dist, idx = nn_distances(current, tree)
        rmse = float(np.sqrt(np.mean(dist ** 2)))
        # Relative test, plus an absolute floor: identical clouds have RMSE ~1e-16 noise.
        if rmse < 1e-12 or (prev_rmse is not None and abs(prev_rmse - rmse) <= rel_tol * prev_rmse):
            it -= 1
            break
        step = kabsch(current, target[idx])
        current = current @ step[:3, :3].T + step[:3, 3]
        T = step @ T
        prev_rmse = rmse
    aligned = full @ T[:3, :3].T + T[:3, 3]
    dist, _ = nn_distances(aligned, tree)
    return ICPResult(T, aligned, it, float(np.sqrt(np.mean(dist ** 2))))


def normalise_per_axis(points: np.ndarray, bound: float = 0.95) -> np.ndarray:
    """Min–max normalise each axis to [−bound, bound] (MIDI's object normalisation; anisotropic).

    A flat axis (zero extent) maps to 0.
    """
    lo, hi = points.min(0), points.max(0)
    extent = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return ((points - lo) / extent * 2.0 - 1.0) * bound * (hi - lo > 1e-12)


def p1_metrics(pred: np.ndarray, gt: np.ndarray, tau: float, max_iterations: int,
               rel_tol: float = 1e-6, icp_max_points: int = 0) -> dict:
    """MIDI protocol on one pair of clouds: ICP pred→gt, then squared CD (sum) and F@τ ×100."""
    tree = cKDTree(gt)
    res = icp(pred, gt, max_iterations=max_iterations, rel_tol=rel_tol, tree=tree,
              max_points=icp_max_points)
    d_pg, _ = nn_distances(res.aligned, tree)
    d_gp, _ = nn_distances(gt, res.aligned)
    return {"cd": float(np.mean(d_pg ** 2) + np.mean(d_gp ** 2)),
            "f": fscore(d_pg, d_gp, tau), "icp_iterations": res.iterations}


def p2_metrics(pred: np.ndarray, gt: np.ndarray, taus: tuple[float, ...]) -> dict:
    """P2-style, unaligned: CD = (mean d(gt→pred) + mean d(pred→gt)) / 2 in metres; F@τ ×100."""
    d_pg, _ = nn_distances(pred, gt)
    d_gp, _ = nn_distances(gt, pred)
    out = {"cd": float((d_pg.mean() + d_gp.mean()) / 2)}
    for tau in taus:
        out[f"f@{tau:g}"] = fscore(d_pg, d_gp, tau)
    return out


def aabb_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Volume IoU of two axis-aligned boxes given as (2, 3) [min, max] arrays."""
    lo, hi = np.maximum(a[0], b[0]), np.minimum(a[1], b[1])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    va, vb = float(np.prod(a[1] - a[0])), float(np.prod(b[1] - b[0]))
    union = va + vb - inter
    return inter / union if union > 0 else 0.0
