"""Pure geometry helpers: transforms, planes (RANSAC / least squares), upright boxes."""

import numpy as np
import pytest

from scenewright.geometry.boxes import OrientedBox, fit_upright_box, min_area_rectangle, yaw_error_deg
from scenewright.geometry.planes import (Plane, angle_deg, fit_plane, fit_plane_depth_noise,
                                         fit_vertical_plane, ransac_plane)
from scenewright.geometry.transforms import (apply, backproject, decompose_scale, project, rigid_inverse,
                                             rot_y, yaw_of)


def test_backproject_then_project_is_identity():
    K = np.array([[300.0, 0, 160], [0, 310, 120], [0, 0, 1]])
    depth = np.random.default_rng(0).uniform(1, 5, (240, 320))
    pts = backproject(depth, K)
    uv = project(pts, K)
    jj, ii = np.meshgrid(np.arange(320), np.arange(240))
    assert np.allclose(uv[..., 0], jj + 0.5) and np.allclose(uv[..., 1], ii + 0.5)
    assert np.allclose(pts[..., 2], depth)


def test_rigid_inverse_yaw_and_scale():
    t = np.eye(4)
    t[:3, :3] = rot_y(0.7)
    t[:3, 3] = [1, 2, 3]
    assert np.allclose(rigid_inverse(t) @ t, np.eye(4))
    assert yaw_of(rot_y(0.7)) == pytest.approx(0.7)
    r, s = decompose_scale(rot_y(-1.1) @ np.diag([2.0, 0.5, 1.5]))
    assert np.allclose(s, [2.0, 0.5, 1.5]) and np.allclose(r, rot_y(-1.1))
    assert np.allclose(apply(t, np.zeros(3)), [1, 2, 3])


def test_ransac_finds_plane_among_outliers():
    rng = np.random.default_rng(1)
    n = np.array([0.1, 0.98, -0.2])
    n /= np.linalg.norm(n)
    pts = rng.uniform(-2, 2, (3000, 3))
    pts = pts - np.outer(pts @ n - 0.5, n) + rng.normal(0, 0.005, (3000, 1)) * n
    outliers = rng.uniform(-2, 2, (2000, 3))
    plane, inl = ransac_plane(np.vstack([pts, outliers]), rng, threshold=0.02)
    assert angle_deg(plane.normal, n, unsigned=True) < 1.0
    assert abs(abs(plane.offset) - 0.5) < 0.01
    assert inl[:3000].mean() > 0.95 and inl[3000:].mean() < 0.05
    lsq = fit_plane(pts)
    assert angle_deg(lsq.normal, n, unsigned=True) < 0.2


def test_vertical_and_depth_noise_fits():
    rng = np.random.default_rng(2)
    up = np.array([0.0, 1.0, 0.0])
    # A wall x = -2 seen from the origin, depth noise along the rays (2 %).
    y, z = rng.uniform(0, 2.5, 4000), rng.uniform(-4, -3, 4000)
    pts = np.column_stack([np.full(4000, -2.0), y, z])
    noisy = pts * (1 + 0.02 * rng.standard_normal(4000))[:, None]
    wall = fit_plane_depth_noise(noisy, vertical_to=up)
    assert angle_deg(wall.normal, [1, 0, 0], unsigned=True) < 0.5
    assert abs(abs(wall.distance(np.zeros(3))) - 2.0) < 0.02
    assert abs(wall.normal @ up) < 1e-9
    v = fit_vertical_plane(pts, up)
    assert angle_deg(v.normal, [1, 0, 0], unsigned=True) < 1e-6


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.0, 1.4])
def test_upright_box_of_a_yawed_box(yaw):
    rng = np.random.default_rng(3)
    size = np.array([1.2, 0.8, 0.5])
    local = rng.uniform(-0.5, 0.5, (5000, 3)) * size
    pts = local @ rot_y(yaw).T + [1.0, 0.4, -2.0]
    box = fit_upright_box(pts, trim=0.0)
    assert yaw_error_deg(box.yaw, yaw, 180) < 1.0
    assert np.allclose(box.centre, [1.0, 0.4, -2.0], atol=0.02)
    assert np.allclose(box.size, size, atol=0.03)
    assert box.size[0] >= box.size[2]
    # The fitted box contains the points' footprint.
    assert box.contains_xz(pts[:, [0, 2]], margin=1e-6).all()


def test_min_area_rectangle_degenerate_inputs():
    assert min_area_rectangle(np.zeros((0, 2)))[2].tolist() == [0.0, 0.0]
    line = np.column_stack([np.linspace(0, 1, 10), np.zeros(10)])
    _, _, ext = min_area_rectangle(line)
    assert sorted(ext.round(6)) == [0.0, 1.0]
    assert fit_upright_box(np.zeros((2, 3))) is None


def test_box_corners_footprint():
    b = OrientedBox([0, 0.5, 0], [2, 1, 1], np.pi / 2)
    c = b.corners()
    assert np.allclose(c.min(0), [-0.5, 0, -1]) and np.allclose(c.max(0), [0.5, 1, 1])
    assert b.contains_xz(np.array([[0.0, 0.9], [0.9, 0.0]])).tolist() == [True, False]
    assert Plane.from_any({"normal": [0, 1, 0], "height": 0.3}).offset == pytest.approx(0.3)
