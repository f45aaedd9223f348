"""The room planes' adaptive refinement computes each plane's point distances once: the same
planes and inliers, bit for bit, as its straightforward form (one ``refine_plane`` step per
iteration, the distances computed again for the next step and the result)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scenewright.capture import load_capture
from scenewright.geometry.planes import refine_plane, ransac_plane
from scenewright.geometry.transforms import backproject
from scenewright.perception.room_planes import _adaptive_refine, _band, up_prior

CAPTURE = Path(__file__).resolve().parents[2] / "examples" / "living_room" / "capture"


def reference(points, plane, abs_m, rel, thr_min, vertical_to=None, iterations=6, rel_max=None):
    thr = _band(plane, abs_m, rel)
    for _ in range(iterations):
        plane, inliers = refine_plane(points, plane, thr, iterations=1, vertical_to=vertical_to, depth_noise=True)
        if inliers.sum() < 10:
            break
        dist = max(abs(plane.distance(np.zeros(3))), 1e-3)
        sigma_rel = 1.4826 * np.median(np.abs(plane.distance(points[inliers]))) / dist
        hi = _band(plane, abs_m, rel if rel_max is None else rel_max)
        thr = float(np.clip(3.0 * sigma_rel * dist, thr_min, min(hi, 2 * thr)))
    return plane, np.abs(plane.distance(points)) < thr


@pytest.fixture(scope="module")
def room_points():
    capture = load_capture(CAPTURE)
    pts = backproject(capture.depth, capture.K)
    room = (capture.seg == 0) & np.isfinite(capture.depth) & (capture.depth > 0)
    return pts[room]


@pytest.mark.parametrize("noise, dtype, vertical, rel_max", [
    (0.0, np.float64, False, None), (0.02, np.float64, False, 0.06), (0.02, np.float32, True, None),
    (0.08, np.float64, True, 0.06),
])
def test_adaptive_refine_is_its_straightforward_form(room_points, noise, dtype, vertical, rel_max):
    rng = np.random.default_rng(3)
    pts = room_points * (1 + noise * rng.standard_normal((len(room_points), 1)))
    pts = pts.astype(dtype)
    up = up_prior(10.0)
    found = 0
    for seed in range(6):
        plane, _ = ransac_plane(pts, np.random.default_rng(seed), 256, 0.03, rel_threshold=0.02,
                                vertical_to=up if vertical else None)
        if plane is None:
            continue
        args = (0.03, 0.02, 0.0075)
        kwargs = dict(vertical_to=up if vertical else None, rel_max=rel_max)
        got_plane, got_inliers = _adaptive_refine(pts, plane, *args, **kwargs)
        want_plane, want_inliers = reference(pts, plane, *args, **kwargs)
        assert got_plane.point.tobytes() == want_plane.point.tobytes()
        assert got_plane.normal.tobytes() == want_plane.normal.tobytes()
        assert np.array_equal(got_inliers, want_inliers)
        found += int(want_inliers.sum() >= 10)
    assert found >= 3                       # real planes were refined, not only degenerate ones
