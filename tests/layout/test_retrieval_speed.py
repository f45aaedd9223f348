"""Retrieval's speed-ups give the results of the straightforward computation, bit for bit.

``reference_fit`` below is the plain form of ``retrieval.geometric_fit``: scipy's tree, the
rotations as matrix products, numpy's own sums over hypothesis-major arrays, and the reverse
distances searched for every asset sample. The fast form (pykdtree, the rotation about y
written out, point-major arrays, reverse searches only for facing samples up to ``trunc``)
must return the same arrays exactly, on real library assets under every kind of hypothesis
retrieval makes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from scenewright.geometry import nearest
from scenewright.geometry.transforms import rot_y
from scenewright.library.store import Library
from scenewright.methods.layout.retrieval import (LibraryIndex, RetrievalSettings, expected_visible,
                                                  geometric_fit)


def reference_fit(geom, obs_pts, cam_pos, yaws, scales, t0, settings, fix_y=True, view=None):
    H, M = len(yaws), len(obs_pts)
    R = rot_y(yaws)
    t = np.broadcast_to(np.asarray(t0, float), (H, 3)).copy()
    trunc = settings.trunc_m
    for _ in range(settings.icp_iters + 1):
        local = np.einsum("hji,hmj->hmi", R, obs_pts[None] - t[:, None]) / scales[:, None]
        _, nn = geom.tree.query(local.reshape(-1, 3), k=1)
        res_obj = (geom.points[nn].reshape(H, M, 3) - local) * scales[:, None]
        res = np.einsum("hij,hmj->hmi", R, res_obj)
        d = np.linalg.norm(res, axis=-1)
        w = (d < 2 * trunc).astype(float) + 1e-6
        step = -(res * w[..., None]).sum(1) / w.sum(1)[:, None]
        if fix_y:
            step[:, 1] = 0.0
        t = t + step
    fwd = np.minimum(d, trunc).mean(1)
    world = np.einsum("hij,hnj->hni", R, geom.points[None] * scales[:, None]) + t[:, None]
    nrm = np.einsum("hij,nj->hni", R, geom.normals)
    facing = (nrm * (cam_pos - world)).sum(-1) > 0
    if view is not None:
        facing &= expected_visible(world.reshape(-1, 3), *view).reshape(facing.shape)
    dr, _ = cKDTree(obs_pts).query(world.reshape(-1, 3), k=1)
    dr = np.minimum(dr.reshape(H, -1), trunc)
    rev = (dr * facing).sum(1) / np.maximum(facing.sum(1), 1)
    return t, fwd + 0.5 * rev


def _observation(lib: Library, asset_id: str, rng, n: int, yaw: float, shift, noise: float, keep: float):
    """World points of the asset's own samples: turned, shifted, noisy, and only the part with x below
    the ``keep`` quantile (a partial view)."""
    pts = np.asarray(lib.samples(asset_id)[0], float)
    pts = pts[rng.choice(len(pts), min(n, len(pts)), replace=False)]
    pts = pts[pts[:, 0] <= np.quantile(pts[:, 0], keep)]
    return pts @ rot_y(yaw).T + shift + rng.normal(0, noise, pts.shape)


@pytest.mark.parametrize("fix_y", [True, False])
def test_geometric_fit_equals_the_straightforward_computation(small_library, fix_y):
    lib = Library.open(small_library)
    index = LibraryIndex(lib)
    settings = RetrievalSettings()
    rng = np.random.default_rng(1)
    ids = index.ids
    K = np.array([[120.0, 0, 64], [0, 120.0, 64], [0, 0, 1]])
    checked = 0
    for k, asset_id in enumerate(ids):
        geom = index.geometry(str(asset_id))
        other = index.geometry(str(ids[(k + 1) % len(ids)]))       # a wrong asset too: far points, big steps
        obs = _observation(lib, str(asset_id), rng, 512, yaw=0.3 * k, shift=[0.5, 0.0, 2.5],
                           noise=0.01 * (k % 3), keep=(1.0, 0.6, 0.35)[k % 3])
        cam = np.array([0.3, 1.4, 5.5])
        camera_from_world = np.linalg.inv(np.array([[-1.0, 0, 0, 0.3], [0, -1, 0, 1.4], [0, 0, -1, 5.5],
                                                    [0, 0, 0, 1]]))
        depth = np.full((128, 128), 3.0, np.float32)
        depth[:, :40] = np.nan
        n_yaw = 8 + 4 * (k % 2)
        yaws = 0.2 + np.arange(n_yaw) * 2 * np.pi / n_yaw
        scales = np.exp(rng.uniform(-0.3, 0.3, (n_yaw, 3)))
        starts = [np.array([0.5, 0.0, 2.5]),                            # one start for all
                  np.array([0.5, 0.0, 2.5]) + rng.uniform(-0.4, 0.4, (n_yaw, 3))]   # one start per hypothesis
        assert geom.grid is not None and geom.grid.available == (nearest._grid_nearest is not None)
        # the compiled steps (the grid's), and numpy's with the tree's searches (no grid)
        for g in (geom, other, replace(geom, grid=None)):
            for t0 in starts:
                for view in (None, (K, camera_from_world, depth)):
                    a = geometric_fit(g, obs, cam, yaws, scales, t0, settings, fix_y=fix_y, view=view)
                    b = reference_fit(g, obs, cam, yaws, scales, t0, settings, fix_y=fix_y, view=view)
                    np.testing.assert_array_equal(a[0], b[0])
                    np.testing.assert_array_equal(a[1], b[1])
                    checked += 1
    assert checked == 12 * len(ids)


def test_hypotheses_given_twice_are_fitted_once_with_the_same_answers(small_library):
    """A partial view's starts shifted by a zero unseen extent repeat the box centre: each copy
    gets the answer of the straightforward fit of all of them, duplicates included."""
    lib = Library.open(small_library)
    index = LibraryIndex(lib)
    settings = RetrievalSettings()
    rng = np.random.default_rng(3)
    asset_id = str(index.ids[0])
    geom = index.geometry(asset_id)
    obs = _observation(lib, asset_id, rng, 512, yaw=0.4, shift=[0.2, 0.0, 2.0], noise=0.01, keep=0.6)
    cam = np.array([0.3, 1.4, 5.5])
    yaws = 0.1 + np.arange(8) * 2 * np.pi / 8
    scales = np.exp(rng.uniform(-0.2, 0.2, (8, 3)))
    centre = np.array([0.2, 0.0, 2.0])
    shifted = centre + rng.uniform(-0.3, 0.3, (8, 3))
    shifted[::2] = centre                      # half the shifts are zero: the centre again
    starts = np.concatenate([np.repeat(centre[None], 8, 0), shifted, shifted])     # (24, 3): 12 distinct
    tiled_yaws, tiled_scales = np.tile(yaws, 3), np.tile(scales, (3, 1))
    t, cham = geometric_fit(geom, obs, cam, tiled_yaws, tiled_scales, starts, settings)
    t_ref, cham_ref = reference_fit(geom, obs, cam, tiled_yaws, tiled_scales, starts, settings)
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(cham, cham_ref)
    assert len(np.unique(cham)) == 12          # the copies really were copies, the rest distinct


@pytest.mark.parametrize("hypotheses", [1, 2, 12, 60])
def test_point_major_sums_are_numpys_sums(hypotheses):
    """``geometric_fit`` lays its per-point arrays out point-major and writes 3-vector sums out;
    both give numpy's own sums of the hypothesis-major arrays bit for bit."""
    rng = np.random.default_rng(hypotheses)
    res = rng.normal(size=(hypotheses, 512, 3)) * rng.uniform(0, 3, size=(hypotheses, 512, 1))
    x, y, z = res[..., 0], res[..., 1], res[..., 2]
    assert np.array_equal(np.sqrt((x * x + y * y) + z * z), np.linalg.norm(res, axis=-1))
    point_major = np.ascontiguousarray(res.transpose(1, 0, 2))
    assert np.array_equal(np.add.reduce(point_major, axis=0), res.sum(1))


@pytest.mark.parametrize("hypotheses", [1, 2, 3])
def test_few_hypotheses_equal_the_straightforward_computation(small_library, hypotheses):
    """The extent fit asks for one hypothesis: numpy's sums over few hypotheses keep their order."""
    lib = Library.open(small_library)
    index = LibraryIndex(lib)
    settings = RetrievalSettings()
    rng = np.random.default_rng(7)
    for asset_id in index.ids[:3]:
        geom = index.geometry(str(asset_id))
        obs = _observation(lib, str(asset_id), rng, 512, yaw=0.7, shift=[0.1, 0.0, 2.2], noise=0.01, keep=0.6)
        yaws = 0.5 + np.arange(hypotheses) * 1.3
        scales = np.exp(rng.uniform(-0.2, 0.2, (hypotheses, 3)))
        for fix_y in (True, False):
            a = geometric_fit(geom, obs, np.array([0.3, 1.4, 5.5]), yaws, scales, [0.1, 0.0, 2.2], settings,
                              fix_y=fix_y)
            b = reference_fit(geom, obs, np.array([0.3, 1.4, 5.5]), yaws, scales, [0.1, 0.0, 2.2], settings,
                              fix_y=fix_y)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
