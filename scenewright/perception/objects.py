"""Per-object observations: clean a mask's depth, lift it to world points, fit an upright box."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage
from scipy.spatial import cKDTree

from scenewright.geometry.boxes import OrientedBox, fit_upright_box


@dataclass
class ObjectObservation:
    """One instance of the capture as seen by the camera.

    ``mask`` (H, W) bool as given; ``points`` (N, 3) cleaned world points of the
    (eroded) mask; ``box`` the upright box of those points (None without points);
    ``truncated``: the mask touches the image border; ``n_pixels``: mask area;
    ``area_fraction``: mask area over image area (a hint of how much is visible);
    ``flags``: what was unusual (tiny, not_eroded, depth_holes, no_depth, few_points, ...).
    """

    id: int
    label: str
    mask: np.ndarray
    points: np.ndarray
    box: OrientedBox | None
    truncated: bool
    n_pixels: int
    area_fraction: float = 0.0
    n_valid_depth: int = 0
    bbox_2d: tuple[int, int, int, int] | None = None      # (row0, col0, row1, col1), exclusive end
    flags: list[str] = field(default_factory=list)


def erode_mask(mask: np.ndarray, iterations: int, min_pixels: int) -> tuple[np.ndarray, bool]:
    """Erode a mask at its edges (where depth mixes foreground and background), but only as far
    as at least ``min_pixels`` remain. Returns ``(mask, eroded?)``."""
    out = mask
    done = 0
    for _ in range(iterations):
        nxt = ndimage.binary_erosion(out, structure=np.ones((3, 3), bool), border_value=1)
        if nxt.sum() < min_pixels:
            break
        out, done = nxt, done + 1
    return out, done > 0


def robust_depth_inliers(z: np.ndarray, k: float, min_band: float, max_gap: float | None = None,
                         min_share: float = 0.05, max_extent: float = 2.5) -> np.ndarray:
    """(N,) bool: depths within ``k`` robust sigmas (1.4826·MAD) of the median, never a band
    narrower than ``min_band`` metres (a flat object facing the camera has MAD ≈ 0).

    With ``max_gap`` (metres) the depths are also split into runs at gaps wider than it, and
    every run holding at least ``min_share`` of the points within ``max_extent`` metres of the
    median is kept too. A bed seen from its foot has most pixels on the footboard (a small
    MAD) and its top receding a metre and more behind, past a gap where the footboard hides
    the mattress: a large part of the object, not outliers. Outliers (background leaking
    through the mask edge, flying pixels) are a small share beyond a gap.
    """
    if len(z) == 0:
        return np.zeros(0, bool)
    med = np.median(z)
    band = max(k * 1.4826 * np.median(np.abs(z - med)), min_band)
    keep = np.abs(z - med) <= band
    if max_gap is not None and max_gap > 0 and len(z) > 1:
        order = np.argsort(z)
        zs = z[order]
        run = np.concatenate([[0], np.cumsum(np.diff(zs) > max_gap)])     # run index per sorted point
        counts = np.bincount(run)
        near = np.abs(zs - med) <= max_extent
        big = counts >= min_share * len(z)
        ok_run = np.zeros(len(counts), bool)
        ok_run[np.unique(run[near])] = True
        keep_sorted = (big & ok_run)[run] & near
        keep[order[keep_sorted]] = True
    return keep


def statistical_outliers(points: np.ndarray, k: int, std_ratio: float, median_ratio: float = 4.0) -> np.ndarray:
    """(N,) bool keep-mask: drop points whose mean distance to their ``k`` nearest neighbours is
    more than ``std_ratio`` standard deviations above the mean (flying pixels, stray returns),
    but keep everything within ``median_ratio`` × the median spacing: surfaces seen at a
    grazing angle are sparse yet genuine, and cutting them shrinks the box."""
    n = len(points)
    if n <= k + 1:
        return np.ones(n, bool)
    d, _ = cKDTree(points).query(points, k=k + 1)
    mean_d = d[:, 1:].mean(axis=1)
    return mean_d <= max(mean_d.mean() + std_ratio * mean_d.std(), median_ratio * np.median(mean_d))


def masked_median(depth: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Median of each pixel's ``size`` × ``size`` neighbourhood, over pixels of ``mask`` with a
    finite depth only (so nothing leaks across the object's outline). (H, W) → (H, W); pixels
    outside the mask keep NaN. Noise along the rays drops by ~``size``× without rounding edges
    of flat faces (the median of a planar ramp is its centre value)."""

    r = size // 2
    d = np.where(mask, depth, np.nan)
    padded = np.pad(d, r, constant_values=np.nan)
    win = sliding_window_view(padded, (size, size))[mask]          # (N, size, size)
    out = np.full(depth.shape, np.nan, dtype=np.float64)
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN windows stay NaN
            out[mask] = np.nanmedian(win.reshape(len(win), -1), axis=1)
    return out


def observe_object(instance_id: int, label: str, mask: np.ndarray, points_world: np.ndarray,
                   depth: np.ndarray, settings, camera_centre: np.ndarray | None = None) -> ObjectObservation:
    """Observation of one instance. ``points_world`` (H, W, 3) is the whole back-projected
    image in world coordinates (computed once); ``depth`` (H, W) with NaN holes;
    ``camera_centre`` (3,) world position of the camera (for re-lifting denoised depth)."""
    s = settings
    h, w = mask.shape
    n_pixels = int(mask.sum())
    flags: list[str] = []
    rows, cols = np.nonzero(mask)
    truncated = bool(n_pixels and (rows.min() == 0 or cols.min() == 0 or rows.max() == h - 1
                                   or cols.max() == w - 1))
    bbox = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1) if n_pixels else None
    if n_pixels < s.tiny_object_pixels:
        flags.append("tiny")
    if truncated:
        flags.append("truncated")
    if n_pixels == 0:
        return ObjectObservation(id=int(instance_id), label=label, mask=mask, points=np.zeros((0, 3)),
                                 box=None, truncated=False, n_pixels=0, flags=["empty_mask", "no_depth"])
    # Work on the mask's bounding box (plus a margin): morphology on the whole image per object
    # would dominate the run time.
    r0, c0 = max(bbox[0] - 2, 0), max(bbox[1] - 2, 0)
    r1, c1 = min(bbox[2] + 2, h), min(bbox[3] + 2, w)
    m = mask[r0:r1, c0:c1]
    d = depth[r0:r1, c0:c1]
    if ndimage.binary_fill_holes(m).sum() > n_pixels:
        flags.append("mask_holes")
    core, eroded = erode_mask(m, s.erode_px, s.min_pixels_after_erosion)
    if not eroded and s.erode_px > 0:
        flags.append("not_eroded")
    valid = core & np.isfinite(d)
    if valid.sum() < s.min_depth_pixels and eroded:
        # The eroded core lost the measured pixels (thin or holey masks): use the full mask.
        valid = m & np.isfinite(d)
    n_valid = int(valid.sum())
    if n_valid < n_pixels * 0.9:
        flags.append("depth_holes")
    if s.depth_median_px >= 3 and n_valid >= s.min_depth_pixels:
        # Denoise depth inside the object before lifting it (and recompute those points):
        # independent per-pixel noise would otherwise inflate the box by a few sigmas.
        dm = masked_median(d, m & np.isfinite(d), s.depth_median_px)
        raw = points_world[r0:r1, c0:c1][valid]
        centre = np.zeros(3) if camera_centre is None else np.asarray(camera_centre, float)
        # A point moves along its own ray: P' = C + (P - C) · d' / d.
        pts = centre + (raw - centre) * (dm[valid] / d[valid])[:, None]
        z = dm[valid]
    else:
        pts = points_world[r0:r1, c0:c1][valid]
        z = d[valid]
    if len(pts):
        keep = robust_depth_inliers(z, s.depth_mad_k, s.depth_min_band_m, s.depth_max_gap_m)
        pts = pts[keep]
    if len(pts) > s.max_object_points:
        # Deterministic thinning keeps the spatial spread (pixels are in raster order).
        pts = pts[np.linspace(0, len(pts) - 1, s.max_object_points).astype(int)]
    if len(pts) > s.sor_neighbours * 3:
        pts = pts[statistical_outliers(pts, s.sor_neighbours, s.sor_std_ratio)]
    box = fit_upright_box(pts, trim=s.box_trim) if len(pts) >= 3 else None
    if n_valid == 0:
        flags.append("no_depth")
    elif len(pts) < s.min_depth_pixels:
        flags.append("few_points")
    return ObjectObservation(id=int(instance_id), label=label, mask=mask, points=pts, box=box,
                             truncated=truncated, n_pixels=n_pixels,
                             area_fraction=n_pixels / float(h * w), n_valid_depth=n_valid,
                             bbox_2d=bbox, flags=flags)
