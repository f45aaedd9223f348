"""Estimated depth made right in shape: the smooth warp fitted to the floor the lines' pitch
gives, and the bleeding at object edges taken out (synthetic cameras with known answers)."""

from __future__ import annotations

import numpy as np

from scenewright.bench.degrade import bleed
from scenewright.methods.layout.depth_fit import (DepthFitSettings, SizeVote, _within_height_band, clean_segments,
                                                  consensus, local_planes, poly_terms, warp_correction)
from scenewright.perception.metrology import camera_up, floor_depth, pixel_rays

SIZE = 256
K = np.array([[220.0, 0.0, SIZE / 2], [0.0, 220.0, SIZE / 2], [0.0, 0.0, 1.0]])
PITCH = np.radians(22.0)
HEIGHT = 1.5


def _room() -> tuple[np.ndarray, np.ndarray]:
    """(depth, seg) of a camera over a floor, a wall 6 m ahead and one box-like object (id 1)."""
    floor = floor_depth(K, (SIZE, SIZE), PITCH, HEIGHT, max_depth_m=50.0)
    vv, uu = np.mgrid[0:SIZE, 0:SIZE].astype(float) + 0.5
    rays = pixel_rays(K, uu, vv)
    forward = np.array([0.0, -np.sin(PITCH), np.cos(PITCH)])       # horizontal, in the camera frame
    wall = 6.0 / (rays @ forward)
    depth = np.fmin(floor, wall)
    seg = np.zeros((SIZE, SIZE), np.int32)
    seg[150:200, 90:160] = 1
    depth[seg == 1] = 3.0
    return depth, seg


def _log_warp(x, y):
    return 0.05 * x - 0.04 * y + 0.03 * x * y + 0.02 * y * y


def test_a_smooth_warp_of_the_floor_is_taken_out_up_to_one_scale():
    depth, seg = _room()
    vv, uu = np.mgrid[0:SIZE, 0:SIZE].astype(float) + 0.5
    x, y = (uu - SIZE / 2) / (SIZE / 2), (vv - SIZE / 2) / (SIZE / 2)
    observed = 1.13 * depth * np.exp(_log_warp(x, y))
    flags: list[str] = []
    c, rec = warp_correction(K, observed, seg, PITCH, DepthFitSettings(), flags)
    assert flags == [] and rec["floor_pixels"] > 5000 and len(rec["coefficients"]) == 5
    ratio = c * observed / depth                      # the global scale alone is left
    on_floor = np.isfinite(floor_depth(K, (SIZE, SIZE), PITCH, HEIGHT, 50.0)) & (ratio > 0) & (seg == 0)
    on_floor &= floor_depth(K, (SIZE, SIZE), PITCH, HEIGHT, 50.0) <= depth
    scale = np.median(ratio[on_floor])
    # the warp lies in the correction's span: on the floor and the object (between floor pixels)
    # only the few wall pixels at the junction that pass the floor band pull the fit; above, the
    # polynomial extrapolates that pull to the top of the picture
    assert np.max(np.abs(ratio[on_floor] / scale - 1.0)) < 2e-3
    assert np.max(np.abs(ratio[seg == 1] / scale - 1.0)) < 2e-3
    assert np.max(np.abs(ratio / scale - 1.0)) < 1e-2
    # everything is off by the one scale the sizes solve later: the floor's height in the input's units
    assert abs(rec["floor_height_input_units"] / scale - HEIGHT) < 0.01 * HEIGHT
    # an untouched map needs none (the same junction pull, extrapolated, aside)
    c0, _ = warp_correction(K, depth, seg, PITCH, DepthFitSettings(), [])
    assert np.max(np.abs(c0[on_floor | (seg == 1)] - 1.0)) < 2e-3 and np.max(np.abs(c0 - 1.0)) < 1e-2


def test_the_floor_seen_at_the_wrong_pitch_is_tilted_back():
    """The lines' pitch is what the floor must show: a map whose floor looks pitched 3° more
    (a linear warp in the image) is corrected to the lines' floor."""
    depth, seg = _room()
    wrong = floor_depth(K, (SIZE, SIZE), PITCH + np.radians(3.0), HEIGHT, max_depth_m=50.0)
    observed = np.where(np.isfinite(wrong) & (wrong < depth), wrong, depth)
    observed[seg == 1] = 3.0
    floor_px = np.isfinite(wrong) & (wrong < depth) & (seg == 0)
    c, rec = warp_correction(K, observed, seg, PITCH, DepthFitSettings(), [])
    vv, uu = np.mgrid[0:SIZE, 0:SIZE].astype(float) + 0.5
    heights = -(pixel_rays(K, uu, vv) @ camera_up(PITCH)) * c * observed
    before = -(pixel_rays(K, uu, vv) @ camera_up(PITCH)) * observed
    spread = lambda h: np.percentile(h[floor_px], 95) / np.percentile(h[floor_px], 5) - 1  # noqa: E731
    assert spread(before) > 0.10 and spread(heights) < 0.25 * spread(before)


def test_no_floor_in_view_leaves_the_depth_alone_and_says_so():
    depth, _ = _room()
    seg = np.ones((SIZE, SIZE), np.int32)                # one object fills the picture
    flags: list[str] = []
    c, rec = warp_correction(K, depth, seg, PITCH, DepthFitSettings(), flags)
    assert flags == ["warp_unresolved"] and np.all(c == 1.0) and rec["floor_pixels"] == 0


def test_poly_terms_has_no_constant():
    t = poly_terms(np.array([0.0]), np.array([0.0]), 3)
    assert t.shape == (1, 9) and np.all(t == 0.0)


def test_clean_segments_restores_edges_and_smooths_noise():
    depth = np.full((120, 160), 4.0)
    seg = np.zeros((120, 160), np.int32)
    seg[30:90, 40:120] = 1
    depth[seg == 1] = 2.0
    rng = np.random.default_rng(0)
    noisy = bleed(depth, 2.0) * (1.0 + 0.01 * rng.standard_normal(depth.shape))
    cleaned = clean_segments(noisy, seg, rim_px=4.0, sigma_px=1.5)
    edge = np.abs(np.diff(seg, axis=0, prepend=seg[:1])) + np.abs(np.diff(seg, axis=1, prepend=seg[:, :1])) > 0
    near = np.zeros_like(edge)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            near |= np.roll(np.roll(edge, dy, 0), dx, 1)
    # bled values are ~half-way between the two sides at the edge; cleaned ones are the side's own
    assert np.max(np.abs(noisy[near] / depth[near] - 1)) > 0.2
    assert np.max(np.abs(cleaned / depth - 1)) < 0.03
    # a Gaussian of σ 1.5 px averages ~28 pixels: the 1 % noise drops well below half
    inner = ~near
    assert np.std(cleaned[inner] / depth[inner]) < 0.5 * np.std(noisy[inner] / depth[inner])
    assert clean_segments(noisy, seg, 0.0, 0.0) is noisy


def test_the_scale_keeps_the_camera_at_eye_level():
    s = DepthFitSettings(camera_height_band=(1.1, 1.8))
    flags: list[str] = []
    assert _within_height_band(1.0, 1.5, s, flags) == 1.0 and flags == []       # 1.5 m: left alone
    assert abs(_within_height_band(0.5, 1.5, s, flags) * 1.5 - 1.1) < 1e-12      # 0.75 m: up to 1.1 m
    assert flags == ["camera_height_clamped"]
    assert abs(_within_height_band(2.0, 1.5, s, flags) * 1.5 - 1.8) < 1e-12      # 3 m: down to 1.8 m
    assert flags == ["camera_height_clamped"]
    assert _within_height_band(0.5, None, s, []) == 0.5                          # no floor seen: no say


def test_local_planes_are_exact_on_a_plane_up_to_its_edge():
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    q = 0.3 + 0.002 * xx - 0.001 * yy
    inside = np.zeros((h, w), bool)
    inside[10:50, 15:70] = True
    a, b, c = local_planes(np.where(inside, q, np.nan), inside, 3.0)
    # at the edge pixels too (a plain weighted average would lean inwards there)
    assert np.allclose(a[inside], q[inside], rtol=1e-9, atol=1e-12)
    assert np.allclose(b[inside], 0.002, atol=1e-9) and np.allclose(c[inside], -0.001, atol=1e-9)


def _tabletop():
    """(depth, seg, rays, up) of a 0.8 × 0.8 m tabletop 0.75 m high, 2–2.8 m ahead, seen from
    1.5 m at 20° down, before a wall 6 m away."""
    pitch, cam_h, top_h = np.radians(20.0), 1.5, 0.75
    vv, uu = np.mgrid[0:SIZE, 0:SIZE].astype(float) + 0.5
    rays = pixel_rays(K, uu, vv)
    up = camera_up(pitch)
    drop = -(rays @ up)                                            # metres down per metre of camera z
    with np.errstate(divide="ignore", invalid="ignore"):
        z_top = (cam_h - top_h) / drop
    p = rays * z_top[..., None]
    ahead = p[..., 2] * np.cos(pitch) - p[..., 1] * np.sin(pitch)  # horizontal distance ahead
    seg = ((drop > 0) & (np.abs(p[..., 0]) < 0.4) & (ahead > 2.0) & (ahead < 2.8)).astype(np.int32)
    depth = np.where(seg == 1, z_top, 6.0)
    return depth, seg, rays, up, cam_h, top_h


def test_the_rim_continues_a_tabletop_instead_of_lifting_its_far_edge():
    depth, seg, rays, up, cam_h, top_h = _tabletop()
    bled = bleed(depth, 2.0)

    def top_of(d):
        heights = cam_h + (rays * d[..., None])[seg == 1] @ up
        return float(np.quantile(heights, 0.998))
    # The nearest interior pixel's depth, copied to the far edge's rays (which go down), puts
    # that edge nearer, hence higher: several cm on this table.
    assert top_of(clean_segments(bled, seg, 4.0, 0.0, "nearest")) - top_h > 0.02
    # Inverse depth is linear on the tabletop: continued, the far edge stays at its height
    # (what is left is the bleeding's tail just inside the rim: well under a centimetre).
    assert abs(top_of(clean_segments(bled, seg, 4.0, 0.0, "plane")) - top_h) < 0.005


def test_only_whole_floor_objects_set_the_scale_when_there_are_enough():
    s = DepthFitSettings(clean_voters_min=2, even_split_midpoint=True)
    votes = [SizeVote(1, 0.00, 1.0, "asset", True), SizeVote(2, 0.02, 1.0, "asset", True),
             SizeVote(3, 0.40, 1.0, "asset", False), SizeVote(4, 0.35, 0.5, "asset", False),
             SizeVote(5, 0.45, 1.0, "category", False)]
    med, per = consensus(votes, s, [])
    assert abs(med - 0.01) < 1e-12          # two equal votes: their midpoint, not the lower
    assert per[3]["counted"] is False and per[1]["counted"] is True
    # everyone counts when fewer whole floor objects vote, and when the rule is off
    med_few, _ = consensus(votes[1:], s, [])
    assert med_few > 0.3
    med_off, _ = consensus(votes, DepthFitSettings(clean_voters_min=0), [])
    assert med_off > 0.3


def _camera(pitch_deg: float, height: float) -> np.ndarray:
    """world_from_camera (OpenCV camera: x right, y down, z ahead) at ``height`` above the floor
    (world y up), looking along −z of the world, pitched down."""
    p = np.radians(pitch_deg)
    x = np.array([1.0, 0.0, 0.0])
    z = np.array([0.0, -np.sin(p), -np.cos(p)])
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, [0.0, height, 0.0]
    return m


def test_contact_range_puts_a_box_where_its_mask_meets_the_floor():
    from scenewright.methods.layout.depth_fit import contact_range, silhouette_bottom_row
    wfc = _camera(20.0, 1.5)
    # a 0.6 × 0.8 × 0.5 m box standing 3 m ahead and 0.4 m to the side: its surface points
    g = np.stack(np.meshgrid(np.linspace(-0.3, 0.3, 13), np.linspace(0.0, 0.8, 17), np.linspace(-0.25, 0.25, 11),
                             indexing="ij"), -1).reshape(-1, 3)
    truth = np.array([0.4, 0.0, -3.0])
    v_bottom = silhouette_bottom_row(g + truth, K, wfc)
    assert 0 < v_bottom < SIZE
    for wrong in (0.9, 1.08):          # placed by a depth map that reads 10 % near / 8 % far there
        placed = truth * np.array([wrong, 1.0, wrong])
        k = contact_range(placed, g + placed, v_bottom, K, wfc, 0.15)
        assert k is not None
        moved = placed * np.array([k, 1.0, k])
        # the crossing is interpolated between k steps of 0.3 / 400 of the distance
        assert np.linalg.norm(moved - truth) < 3.0 * (0.3 / 400) * 3.0 + 1e-3
    # a mask bottom no k within ±15 % reaches (a cut or hidden bottom): left alone
    assert contact_range(truth, g + truth, v_bottom + 80.0, K, wfc, 0.15) is None
