"""Camera pitch from straight lines: rooms rendered by the real renderer (walls, floor boards,
boxes square to the walls) at known pitches must give the pitch back."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scenewright.perception.lines import line_segments, manhattan_cost, pitch_from_lines

W = H = 384
F = 300.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])


def _room(yaw_deg: float) -> list:
    """A 5 × 4 m room with 2.6 m walls, floor boards 0.2 m wide and three boxes, turned by
    ``yaw_deg`` about the vertical; one colour per part so edges show."""
    from scenewright.render import RenderItem
    parts = []

    def box(extents, centre, colour):
        m = trimesh.creation.box(extents=extents)
        m.apply_translation(centre)
        m.visual.face_colors = colour
        parts.append(m)
    box((5.0, 0.02, 4.0), (0, -0.01, 0), (150, 110, 80, 255))
    for k in range(-12, 13):                         # boards: thin darker strips along z
        box((0.01, 0.002, 4.0), (0.2 * k, 0.001, 0), (90, 60, 40, 255))
    box((5.0, 2.6, 0.02), (0, 1.3, -2.0), (200, 200, 190, 255))    # back wall
    box((0.02, 2.6, 4.0), (-2.5, 1.3, 0), (170, 175, 180, 255))    # left wall
    box((0.02, 2.6, 4.0), (2.5, 1.3, 0), (185, 180, 170, 255))     # right wall
    box((1.2, 0.75, 0.6), (-0.8, 0.375, -1.2), (120, 60, 30, 255))
    box((0.5, 1.1, 0.5), (1.2, 0.55, -1.5), (40, 60, 160, 255))
    box((0.8, 0.45, 0.8), (0.3, 0.225, 0.2), (60, 140, 60, 255))
    turn = trimesh.transformations.rotation_matrix(np.radians(yaw_deg), [0, 1, 0])
    return [RenderItem(m, turn, i + 1) for i, m in enumerate(parts)]


def _camera(pitch_deg: float, height_m: float) -> np.ndarray:
    """world_from_camera (OpenCV axes) at (0, height, 1.8) looking towards −z, pitched down."""
    p = np.radians(pitch_deg)
    fwd = np.array([0.0, -np.sin(p), -np.cos(p)])
    right = np.array([1.0, 0.0, 0.0])
    down = np.cross(fwd, right)
    wfc = np.eye(4)
    wfc[:3, 0], wfc[:3, 1], wfc[:3, 2] = right, down, fwd
    wfc[:3, 3] = [0.0, height_m, 1.8]
    return wfc


@pytest.fixture(scope="module")
def renderer():
    from scenewright.render import Renderer
    r = Renderer(W, H)
    yield r
    r.release()


@pytest.mark.parametrize("pitch_deg, yaw_deg", [(12.0, 0.0), (21.0, 25.0), (33.0, -40.0)])
def test_pitch_of_a_rendered_room_comes_back_within_half_a_degree(renderer, pitch_deg, yaw_deg):
    res = renderer.render(_room(yaw_deg), K, _camera(pitch_deg, 1.5))
    segs = line_segments(res.rgb, max_tilt_deg=90.0)
    assert len(segs) >= 10
    pitch = pitch_from_lines(segs, K)
    # 0.5°: the 0.05° grid, segment endpoints refitted to ~0.2 px on edges ~100 px long
    # (0.1–0.2°), and a few segments along edges that are not of the room's three directions.
    assert abs(np.degrees(pitch) - pitch_deg) < 0.5


def test_cost_is_lowest_near_the_true_pitch_and_flat_without_lines(renderer):
    res = renderer.render(_room(10.0), K, _camera(18.0, 1.4))
    cost = manhattan_cost(line_segments(res.rgb, max_tilt_deg=90.0), K)
    grid = np.radians(np.arange(0.0, 60.0, 0.5))
    c = cost(grid)
    assert abs(np.degrees(grid[np.argmin(c)]) - 18.0) <= 1.0
    assert np.median(c) > c.min() + 5        # a clear basin: several segments fit only there
    blank = np.full((H, W, 3), 128, np.uint8)
    segs = line_segments(blank)
    assert segs.shape == (0, 4)
    assert np.all(manhattan_cost(segs, K)(grid) == 0)
    assert pitch_from_lines(segs, K) is None
