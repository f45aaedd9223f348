"""No depth: the scale each asset implies by its top row, the camera height refitted to the placed
floor objects (:mod:`scenewright.methods.layout.floor_pose`), and placing by the samples' hull.
Boxes of known size seen by cameras of known pitch and height, masks drawn from their surfaces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenewright.geometry.transforms import rigid_inverse
from scenewright.methods.layout.floor_pose import (FloorPoseSettings, Footprint, footprint_of, implied_scale,
                                                   outline_points, place_on_floor, project, refit_camera_height,
                                                   rescale_about_camera, scene_scale, shortlist_at,
                                                   with_camera_height)
from scenewright.methods.layout.retrieval import Hypothesis
from scenewright.perception.metrology import footings
from tests.layout.test_floor_pose import K, W, box_points, camera, draw_mask


class _Points:
    """The two things refit_camera_height asks of the library index: samples per asset, a cache."""

    def __init__(self, points: dict[str, np.ndarray]):
        self.points = points

    def derived(self, kind, asset_id, make):
        return make()

    class _Lib:
        def __init__(self, points):
            self.points = points

        def samples(self, asset_id):
            return (self.points[asset_id],)

    @property
    def library(self):
        return self._Lib(self.points)


def _mask_rows(seg: np.ndarray) -> float:
    ys = np.nonzero(seg)[0]
    return float(ys.max() - ys.min() + 1)


@pytest.mark.parametrize("true_scale,pitch,height,where", [
    (1.18, 18.0, 1.5, (0.3, 3.0)), (0.86, 25.0, 1.6, (-0.6, 2.6)), (1.0, 12.0, 1.3, (0.8, 4.0))])
def test_the_scale_a_box_implies_by_its_top_row_is_its_size(true_scale, pitch, height, where):
    """A box seen at ``true_scale`` × the size the library knows: with its bottom on the mask's lowest
    row, the scale that puts its top on the mask's top row is ``true_scale`` — to the pixel the mask
    is drawn with (one row of the box's height in pixels, twice for the two ends)."""
    wfc = camera(pitch, height)
    size = (0.8, 0.9, 0.5)
    pts = box_points(size)
    truth = np.array([where[0], 0.0, where[1]])
    seg = draw_mask(pts * true_scale + truth, wfc)
    fp = footprint_of(footings(seg, [1])[1], W)
    t1 = place_on_floor(pts, 0.0, np.ones(3), fp, K, wfc, 0.0, truth[[0, 2]] + [0.3, -0.4])
    s, t = implied_scale(pts, outline_points(pts), 0.0, fp, K, wfc, 0.0, t1[[0, 2]], FloorPoseSettings())
    assert abs(np.log(s / true_scale)) < 2.0 / _mask_rows(seg)
    assert np.linalg.norm(t - truth) < 2.0 / _mask_rows(seg) * np.linalg.norm(truth - wfc[:3, 3])


def test_a_camera_solved_too_low_is_refitted_to_the_true_height():
    """Three boxes of known size seen from 1.50 m; the scene placed from a camera 4 % too low (each box
    on its mask's bottom, sizes right, tops off). The refit brings the height back within what the
    masks' whole pixels allow (2 rows of the smallest box), and the tops' misfits shrink."""
    true_cam = camera(20.0, 1.5)
    sizes = {"a": (0.9, 0.75, 0.6), "b": (0.5, 1.0, 0.5), "c": (1.6, 0.45, 0.8)}
    where = {"a": (0.4, 3.0), "b": (-1.0, 3.8), "c": (1.1, 4.6)}
    points = {k: box_points(v) for k, v in sizes.items()}
    segs, feet = {}, {}
    for n, k in enumerate(sizes, start=1):
        t = np.array([where[k][0], 0.0, where[k][1]])
        segs[k] = draw_mask(points[k] + t, true_cam, n)
        feet[k] = footings(segs[k], [n])[n]
        assert feet[k].bottom_ok and feet[k].top_ok
    wrong = with_camera_height(true_cam, 1.5 * 0.96)
    placed = []
    for k in sizes:
        h = Hypothesis(asset_id=k, category="cabinet", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        h.translation = place_on_floor(points[k], 0.0, np.ones(3), footprint_of(feet[k], W), K, wrong, 0.0,
                                       np.array(where[k]))
        placed.append((h, feet[k]))
    factor, record = refit_camera_height(placed, _Points(points), K, wrong, W, FloorPoseSettings())
    smallest = min(_mask_rows(s) for s in segs.values())
    assert factor is not None and record["objects"] == 3
    assert abs(np.log(1.5 * 0.96 * factor / 1.5)) < 2.0 / smallest
    misfit = np.array(list(record["top_row_misfit_px"].values()))
    assert np.abs(misfit[:, 1]).sum() < np.abs(misfit[:, 0]).sum()


def test_nothing_to_refit_without_a_seen_bottom_and_top():
    wfc = camera(20.0, 1.5)
    pts = box_points((0.9, 0.75, 0.6))
    seg = draw_mask(pts + [0.0, 0.0, 3.0], wfc)
    f = footings(seg, [1])[1]
    f.top_ok = False
    h = Hypothesis(asset_id="a", category="cabinet", yaw=0.0, scale=np.ones(3), translation=np.array([0, 0, 3.0]))
    factor, record = refit_camera_height([(h, f)], _Points({"a": pts}), K, wfc, W, FloorPoseSettings())
    assert factor is None and record["objects"] == 0


def test_scaling_about_the_camera_foot_keeps_every_pixel_and_the_floor():
    """The scene moved with the camera's height: each point's pixel stays, the floor stays y = 0."""
    wfc = camera(22.0, 1.45, yaw_deg=25.0)
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(-2, 2, 50), rng.uniform(0, 1.5, 50), rng.uniform(1, 5, 50)])
    pts[:10, 1] = 0.0
    hyps = [Hypothesis(asset_id="a", category=None, yaw=0.0, scale=np.ones(3), translation=p.copy()) for p in pts]
    factor = 1.07
    rescale_about_camera(hyps, wfc, factor)
    moved = np.array([h.translation for h in hyps])
    new = with_camera_height(wfc, wfc[1, 3] * factor)
    u0, v0 = project(pts, K, rigid_inverse(wfc))
    u1, v1 = project(moved, K, rigid_inverse(new))
    # a few float operations on metre-sized numbers, projected at a 400 px focal length
    assert np.allclose(u0, u1, atol=1e-9 * 400 * 10) and np.allclose(v0, v1, atol=1e-9 * 400 * 10)
    assert np.all(moved[:10, 1] == 0.0)


def test_placing_by_the_hull_is_placing_by_every_sample():
    """The extremes of a perspective projection are at the hull's vertices: a chair-like cloud (a seat
    box, a back, four thin legs, samples inside) lands at the same place either way."""
    rng = np.random.default_rng(0)
    seat = box_points((0.5, 0.05, 0.5), 20) + [0, 0.45, 0]
    back = box_points((0.5, 0.5, 0.05), 20) + [0, 0.5, -0.22]
    legs = np.concatenate([box_points((0.04, 0.45, 0.04), 8) + [x, 0, z] for x in (-0.22, 0.22) for z in (-0.22, 0.22)])
    inner = rng.uniform([-0.2, 0.1, -0.2], [0.2, 0.4, 0.2], (300, 3))
    pts = np.concatenate([seat, back, legs, inner])
    hull = outline_points(pts)
    assert len(hull) < len(pts) // 4
    wfc = camera(18.0, 1.5)
    fp = Footprint(v_bottom=420.0, v_top=260.0, u_left=200.0, u_right=290.0)
    for yaw in (0.0, 0.7, 2.1):
        a = place_on_floor(pts, yaw, np.ones(3), fp, K, wfc, 0.0, np.array([0.0, 3.0]), outline=pts)
        b = place_on_floor(pts, yaw, np.ones(3), fp, K, wfc, 0.0, np.array([0.0, 3.0]), outline=hull)
        assert a is not None and np.allclose(a, b, atol=1e-9)


def test_scene_scale_from_implied_scales_and_the_shortlist_near_it():
    def h(scale=None, trials=None):
        x = Hypothesis(asset_id="a", category="chair", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        if scale is not None:
            x.extra["implied_scale"] = scale
        if trials is not None:
            x.extra["scale_trials"] = trials
        return x
    s = FloorPoseSettings()
    assert scene_scale([h(0.9), h(1.2), h(1.1), None], s) == pytest.approx(1.1)
    assert scene_scale([h()], s) is None
    # "far" scores best but fits only at 1.5: near the scene's scale 1.0 the others come first
    tried = [("far", 1.5, 2.0), ("near", 1.02, 1.6), ("mid", 1.2, 1.75), ("near", 0.98, 1.5)]
    assert shortlist_at(h(trials=tried), 1.0, 2, rank_scale_penalty=2.0) == ["near", "mid"]
    assert shortlist_at(h(trials=tried), 1.0, 3, rank_scale_penalty=0.0) == ["far", "mid", "near"]


def test_a_pictures_line_segments_are_found_once_and_handed_out_as_copies():
    from scenewright.perception import lines
    rng = np.random.default_rng(1)
    rgb = np.full((96, 96, 3), 200, np.uint8)
    rgb[:, 40:44] = 30
    rgb[60:63, :] = 30
    rgb += rng.integers(0, 3, rgb.shape, dtype=np.uint8)
    first = lines.line_segments(rgb, seed=0)
    assert len(first) >= 2
    first[:] = -1
    again = lines.line_segments(rgb, seed=0)
    assert np.array_equal(again, lines._line_segments(rgb, 90.0, None, 1.5, 0))


def test_placements_whose_width_cannot_fit_the_mask_are_not_rendered():
    """A long low box seen side-on: placed at the two turns, the one turned 90° is far narrower than
    the mask and is pruned; the kept minimum and the switch (0 = off) are honoured."""
    from scenewright.methods.layout.floor_pose import _pruned_by_width, _trial
    wfc = camera(15.0, 1.4)
    pts = box_points((1.6, 0.5, 0.45))
    truth = np.array([0.0, 0.0, 3.2])
    seg = draw_mask(pts + truth, wfc)
    fp = footprint_of(footings(seg, [1])[1], W)
    assert fp.u_left is not None and fp.u_right is not None
    index = _Points({"box": pts})
    base = Hypothesis(asset_id="box", category="sofa", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
    trials = []
    for yaw in (0.0, np.pi / 2, np.pi, -np.pi / 2):
        t = place_on_floor(pts, yaw, np.ones(3), fp, K, wfc, 0.0, truth[[0, 2]])
        trials.append(_trial(base, yaw, t))
    kept = _pruned_by_width(trials, index, fp, K, wfc, FloorPoseSettings(prune_width_log=0.2, prune_keep_min=1))
    assert sorted(round(float(np.cos(h.yaw))) for h in kept) == [-1, 1]
    assert len(_pruned_by_width(trials, index, fp, K, wfc, FloorPoseSettings(prune_width_log=0.2,
                                                                              prune_keep_min=3))) == 3
    assert len(_pruned_by_width(trials, index, fp, K, wfc, FloorPoseSettings(prune_width_log=0.0))) == 4


def test_one_objects_bumpy_scale_curve_is_read_by_a_fitted_parabola_several_by_their_sum():
    """One floor object's score curve over the scale grid has bumps (each scale's best is another
    asset or turn): its peak comes from a least-squares parabola through the points around its
    best, not from the bump. Several curves summed keep the three-point vertex."""
    s = FloorPoseSettings(single_curve_steps=3, rescale_min_objects=1,
                          scales=(0.67, 0.74, 0.82, 0.9, 1.0, 1.1, 1.22, 1.35, 1.5))
    grid = np.array(s.scales)
    peak = 1.05

    def curve(bumps=None):
        y = 3.0 - 4.0 * (np.log(grid) - np.log(peak)) ** 2
        for g, dy in (bumps or {}).items():
            y[list(grid).index(g)] += dy
        return {float(g): float(v) for g, v in zip(grid, y)}

    def hyp(c):
        x = Hypothesis(asset_id="a", category="desk", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        x.extra["scale_curve"] = c
        return x

    # a bump at 0.82 standing above the true peak's value
    bumpy = curve({0.82: 0.3})
    assert max(bumpy, key=bumpy.get) == 0.82
    alone = scene_scale([hyp(bumpy)], s)
    # the three-point vertex (single_curve_steps = 0) stays at the bump
    at_bump = scene_scale([hyp(bumpy)], dataclasses.replace(s, single_curve_steps=0))
    assert abs(np.log(at_bump / 0.82)) < 0.05, at_bump
    # the fit is pulled by the bump (one point of six, a tenth of the curve's range) but stays
    # within 10 % of the peak, less than half the three-point vertex's error
    assert abs(np.log(alone / peak)) < 0.1, alone
    assert abs(np.log(alone / peak)) < abs(np.log(at_bump / peak)) / 2, (alone, at_bump)
    # a smooth curve alone: the fit finds its peak (the curve is a parabola in log scale)
    assert scene_scale([hyp(curve())], s) == pytest.approx(peak, rel=1e-6)
    # several curves: their sum's three-point vertex, as before (exact for parabolas)
    assert scene_scale([hyp(curve()), hyp(curve())], s) == pytest.approx(peak, rel=1e-6)
