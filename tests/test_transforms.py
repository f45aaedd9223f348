"""Rotations about +Y: one yaw and many give the same matrices."""

from __future__ import annotations

import numpy as np

from scenewright.geometry.transforms import rot_y


def test_one_yaw_is_the_same_matrix_as_in_a_batch():
    yaws = np.concatenate([np.random.default_rng(3).uniform(-7, 7, 64), [0.0, -0.0, np.pi / 2, -np.pi]])
    batch = rot_y(yaws)
    assert batch.shape == (len(yaws), 3, 3) and batch.dtype == np.float64
    for yaw, expected in zip(yaws, batch):
        for given in (float(yaw), np.float64(yaw), np.array(yaw)):
            one = rot_y(given)
            assert one.shape == (3, 3) and one.dtype == np.float64
            assert one.tobytes() == expected.tobytes()          # bit for bit, signs of zeros included
    assert rot_y(np.float32(0.3)).dtype == np.float32               # the yaw's precision is kept
    R = rot_y(0.4)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-15) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(R @ [1.0, 0.0, 0.0], [np.cos(0.4), 0.0, -np.sin(0.4)])   # +X turns toward -Z
