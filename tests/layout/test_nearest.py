"""NearestTree answers exactly as scipy's cKDTree: the same indices and distances, bit for bit.

Retrieval's results depend on every nearest sample its ICP finds (and on the reverse
distances), so the faster tree must not change a single answer: checked on real library
assets' samples, with the query points ICP makes (turned, shifted, scaled copies, far
points), for one and two neighbours and with a distance bound, also from several threads
at once (each thread limits its own OpenMP team).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.spatial import cKDTree

from scenewright.geometry import nearest
from scenewright.geometry.nearest import NearestTree
from scenewright.geometry.transforms import rot_y
from scenewright.library.store import Library


def _queries(points: np.ndarray, rng) -> np.ndarray:
    """Points as ICP asks about them: the asset's own samples turned, scaled, shifted and noisy,
    plus points far outside it."""
    parts = []
    for yaw in (0.0, 0.7, 2.9):
        moved = points @ rot_y(yaw).T * rng.uniform(0.7, 1.3, 3) + rng.normal(0, 0.05, 3)
        parts.append(moved + rng.normal(0, 0.01, moved.shape))
    parts.append(rng.uniform(-3, 3, (200, 3)))
    parts.append(points[:50])                    # exactly on samples: distance 0
    return np.concatenate(parts)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].dtype == b[1].dtype and a[0].shape == b[0].shape


def _assets_and_queries(library, seed: int):
    """Each library asset's samples (at most 384, as retrieval keeps) with query points around them."""
    lib = Library.open(library)
    rng = np.random.default_rng(seed)
    for asset_id in lib.ids:
        pts = np.asarray(lib.samples(asset_id)[0], float)
        pts = pts[rng.choice(len(pts), min(384, len(pts)), replace=False)]
        yield pts, _queries(pts, rng)


def test_answers_equal_ckdtree_on_library_assets(small_library):
    for pts, q in _assets_and_queries(small_library, seed=0):
        fast, ref = NearestTree(pts), cKDTree(pts)
        for k in (1, 2):
            _same(fast.query(q, k=k), ref.query(q, k=k))
        for bound in (0.08, 1e-6):
            _same(fast.query(q, k=1, distance_upper_bound=bound), ref.query(q, k=1, distance_upper_bound=bound))
        _same(fast.query(q[:0], k=2), ref.query(q[:0], k=2))


def test_answers_from_many_threads_equal_one_thread(small_library):
    lib = Library.open(small_library)
    rng = np.random.default_rng(1)
    trees, queries = [], []
    for asset_id in lib.ids:
        pts = np.asarray(lib.samples(asset_id)[0], float)
        trees.append((NearestTree(pts), cKDTree(pts)))
        queries.append(_queries(pts, rng))
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda tq: tq[0][0].query(tq[1], k=2), zip(trees, queries)))
    for (_, ref), q, got in zip(trees, queries, answers):
        _same(got, ref.query(q, k=2))


def test_fewer_points_than_neighbours_pads_like_ckdtree():
    pts = np.array([[0.0, 0.0, 0.0]])
    q = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    _same(NearestTree(pts).query(q, k=2), cKDTree(pts).query(q, k=2))


def test_bad_points_are_refused():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        NearestTree(np.zeros((4, 2)))


@pytest.mark.skipif(nearest._PyKDTree is None, reason="pykdtree not installed: scipy answers")
def test_pykdtree_answers_with_its_openmp_team_limited():
    """pykdtree answers when installed, and its own OpenMP runtime was found (without it every
    query would start a team of threads per retrieval thread)."""
    import ctypes
    assert not NearestTree(np.zeros((4, 3)))._scipy
    assert isinstance(nearest._omp_set_num_threads(), ctypes._CFuncPtr)


needs_grid = pytest.mark.skipif(nearest._grid_nearest is None, reason="built without the compiled grid search")


@needs_grid
def test_grid_answers_equal_the_tree_on_library_assets(small_library):
    """The grid's nearest sample is the tree's, for points inside and outside its box; asked twice
    (the second time from the candidate lists the first made) and after its pool filled up."""
    for pts, q in _assets_and_queries(small_library, seed=2):
        grid, ref = nearest.SampleGrid(pts), cKDTree(pts).query(q, k=1)[1]
        assert grid.available
        first = grid.nearest(q)
        assert first.dtype == np.int64 and first.shape == (len(q),)
        np.testing.assert_array_equal(first, ref)
        np.testing.assert_array_equal(grid.nearest(q[::-1]), ref[::-1])
        assert 0 < grid.pool_used[0] <= len(grid.pool)
        assert (grid.cells > 0).sum() < len(grid.cells)     # lists are made only where queries fell
        small = nearest.SampleGrid(pts)
        small.pool = small.pool[: len(pts) + 1]               # room for one list: the tree answers the rest
        np.testing.assert_array_equal(small.nearest(q), ref)


@needs_grid
def test_grid_answers_equal_the_tree_on_flat_tied_and_tiny_sets():
    """A flat set (one cell thick), samples given twice, points on cell borders, one sample.

    (Between distinct samples at exactly the same distance the grid takes the lower index and
    the tree the one it meets first; the benches' scenes come out the same bit for bit.)"""
    rng = np.random.default_rng(3)
    flat = np.c_[rng.uniform(0, 2, 300), np.zeros(300), rng.uniform(0, 1, 300)]
    lattice = np.stack(np.meshgrid(*[np.arange(6) * 0.1] * 3, indexing="ij"), -1).reshape(-1, 3)
    doubled = np.concatenate([lattice, lattice])           # equal distances: the lower index, as the tree
    for pts in (flat, doubled, np.array([[0.3, 0.2, 0.1]])):
        q = np.concatenate([pts + rng.normal(0, 0.05, pts.shape), rng.uniform(-2, 3, (500, 3)),
                            np.round(rng.uniform(-0.2, 0.8, (500, 3)), 1)])
        ref = cKDTree(pts).query(q, k=1)[1]
        grid = nearest.SampleGrid(pts)
        got = grid.nearest(q)
        dist = np.linalg.norm(pts[got] - q, axis=1)
        np.testing.assert_array_equal(dist, np.linalg.norm(pts[ref] - q, axis=1))
        if pts is not doubled:
            np.testing.assert_array_equal(got, ref)
        else:   # one of two equal samples: either is the nearest (the same point for ICP)
            np.testing.assert_array_equal(pts[got], pts[ref])


@needs_grid
def test_grid_answers_from_many_threads_equal_one_thread(small_library):
    lib = Library.open(small_library)
    rng = np.random.default_rng(4)
    pts = np.asarray(lib.samples(lib.ids[0])[0], float)[:384]
    grid = nearest.SampleGrid(pts)
    parts = [_queries(pts, rng) for _ in range(6)]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(grid.nearest, parts))
    for q, got in zip(parts, answers):
        np.testing.assert_array_equal(got, cKDTree(pts).query(q, k=1)[1])
