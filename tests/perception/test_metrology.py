"""Single-view metrology on synthetic cameras with known answers: masks drawn as the exact
perspective silhouettes (convex hull of the projected corners) of boxes of known size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull
from skimage.draw import polygon

from scenewright.perception.metrology import (camera_up, footings, place_boxes, project_rows_cols,
                                              solve_camera)

W = H = 640
K = np.array([[520.0, 0, W / 2], [0, 520.0, H / 2], [0, 0, 1]])


def _box(pitch_deg, height_m, distance_m, lateral_m, size, yaw_deg=0.0):
    """(8, 3) camera-frame corners of a box standing on the floor, the middle of its near bottom
    edge ``distance_m`` ahead (horizontally) of the camera and ``lateral_m`` to the right, square
    to the camera (the solver's model of an object) turned by ``yaw_deg``."""
    up = camera_up(np.radians(pitch_deg))
    z = np.array([0.0, 0.0, 1.0])
    ahead = z - (z @ up) * up
    ahead /= np.linalg.norm(ahead)
    across = np.cross(up, ahead)
    base = -height_m * up + distance_m * ahead + lateral_m * across
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    a2, f2 = c * across + s * ahead, -s * across + c * ahead
    return np.array([base + a * size[0] * a2 + b * size[1] * up + d * size[2] * f2
                     for a in (-0.5, 0.5) for b in (0.0, 1.0) for d in (0.0, 1.0)])


def _draw(seg, corners, instance_id):
    u, v = project_rows_cols(K, corners)
    pts = np.stack([u, v], 1)
    hull = pts[ConvexHull(pts).vertices]
    # skimage fills pixel (r, c) when the point (r, c) is inside; our pixel centres are at +0.5.
    rr, cc = polygon(hull[:, 1] - 0.5, hull[:, 0] - 0.5, seg.shape)
    seg[rr, cc] = instance_id


@pytest.mark.parametrize("pitch_deg, height_m", [(12.0, 1.3), (22.0, 1.5), (33.0, 1.7)])
def test_camera_and_distance_of_known_boxes_come_back_within_2_percent(pitch_deg, height_m):
    sizes = np.array([[0.9, 0.8, 0.6], [0.5, 0.95, 0.5], [1.6, 0.45, 0.8]])
    placements = [(2.2, -0.6), (3.4, 0.7), (4.6, -0.2)]          # (distance, lateral) metres
    seg = np.zeros((H, W), np.int32)
    # Far first, so nearer boxes are drawn over them (as a camera would see them).
    for i in sorted(range(3), key=lambda i: -placements[i][0]):
        _draw(seg, _box(pitch_deg, height_m, *placements[i], sizes[i]), i + 1)
    feet = footings(seg, [1, 2, 3])
    sol = solve_camera(K, [feet[i] for i in (1, 2, 3)], sizes)
    assert sol.n_objects == 3
    # Both are on a grid (0.5° / ~1.4 % steps): 2 % and 1° are one step plus rasterisation.
    assert abs(sol.height_m / height_m - 1) < 0.02
    assert abs(np.degrees(sol.pitch_rad) - pitch_deg) < 1.0
    corners, t = place_boxes(K, [feet[i] for i in (1, 2, 3)], sizes, np.zeros(3), sol.pitch_rad,
                             sol.height_m, H)
    for j, (dist, lateral) in enumerate(placements):
        true_contact = _box(pitch_deg, height_m, dist, lateral, sizes[j])[[0, 4]].mean(0)
        assert abs(np.linalg.norm(corners[j][[0, 4]].mean(0)) / np.linalg.norm(true_contact) - 1) < 0.02


def test_one_box_is_still_solved_and_the_prior_decides_what_it_cannot():
    seg = np.zeros((H, W), np.int32)
    size = np.array([0.9, 0.8, 0.6])
    _draw(seg, _box(22.0, 1.45, 3.0, 0.0, size), 1)
    sol = solve_camera(K, [footings(seg, [1])[1]], size[None])
    assert sol.n_objects == 1
    assert abs(sol.height_m / 1.45 - 1) < 0.05


def test_hidden_bottom_is_not_a_floor_contact():
    seg = np.zeros((H, W), np.int32)
    size = np.array([0.9, 0.8, 0.6])
    _draw(seg, _box(22.0, 1.45, 4.0, 0.0, size), 1)
    _draw(seg, _box(22.0, 1.45, 2.5, 0.0, np.array([1.4, 0.5, 0.5])), 2)      # in front, hides 1's bottom
    feet = footings(seg, [1, 2])
    assert feet[2].bottom_ok and not feet[1].bottom_ok and feet[1].below_id == 2
    sol = solve_camera(K, [feet[1], feet[2]], np.array([size, [1.4, 0.5, 0.5]]))
    assert sol.n_objects == 1       # only the front box touches the floor where it is seen


def test_one_box_with_the_pitch_pinned_gives_the_height_within_2_percent():
    # One object alone cannot separate pitch from height (the prior decides, above); a pitch
    # cost from elsewhere (the image's lines: scenewright.perception.lines) pins it, and the
    # box's known height then fixes the camera height.
    seg = np.zeros((H, W), np.int32)
    size = np.array([0.9, 0.8, 0.6])
    pitch_deg, height_m = 31.0, 1.25                   # far from the 22° / 1.45 m prior
    _draw(seg, _box(pitch_deg, height_m, 2.6, 0.3, size), 1)
    feet = [footings(seg, [1])[1]]
    free = solve_camera(K, feet, size[None])
    pinned = solve_camera(K, feet, size[None], pitch_cost=lambda p: ((np.asarray(p) - np.radians(pitch_deg))
                                                                    / np.radians(0.2)) ** 2, pitch_weight=1.0)
    assert abs(np.degrees(pinned.pitch_rad) - pitch_deg) < 0.5
    assert abs(pinned.height_m / height_m - 1) < 0.02
    assert abs(free.height_m / height_m - 1) > abs(pinned.height_m / height_m - 1)


def test_a_side_that_ends_against_a_nearer_thing_is_hidden_and_not_the_other_way():
    """A bed-sized box whose left end is behind a nearer tall box: the far one's left side is where
    the near one starts (hidden), its right side its own; the near one's right side ends against a
    farther thing and stays its own. Without the marking the far box's width would count."""
    seg = np.zeros((H, W), np.int32)
    far, near = np.array([2.0, 0.5, 1.0]), np.array([0.8, 1.8, 0.6])
    _draw(seg, _box(20.0, 1.5, 4.5, -0.3, far), 1)
    _draw(seg, _box(20.0, 1.5, 2.8, 0.9, near), 2)                 # drawn last: in front, on its left
    feet = footings(seg, [1, 2], hidden_sides=True)
    assert feet[1].bottom_ok and feet[2].bottom_ok
    assert feet[1].left_hidden and not feet[1].right_hidden and not feet[1].sides_ok
    assert not feet[2].left_hidden and not feet[2].right_hidden
    plain = footings(seg, [1, 2])                                   # the default (other methods)
    assert not plain[1].left_hidden and plain[1].sides_ok
