"""Exact nearest-neighbour searches over small point sets, answered as scipy's ``cKDTree`` answers.

Retrieval's ICP asks a tree of one asset's 384 samples for the nearest two samples of
4,000-20,000 points per step, hundreds of times per scene. ``pykdtree`` answers those
queries about 1.4× faster than scipy's ``cKDTree`` (measured on recorded calls of four
bench scenes), with the same indices and the same distances bit for bit (both compute
the squared distance in float64 and take its square root; tested in
``tests/layout/test_nearest.py``). Without pykdtree installed, ``cKDTree`` answers.

pykdtree parallelises a query over OpenMP threads. Retrieval already scores candidates
on one thread per core, and a team of OpenMP threads per query on top of that doubles
the CPU time on a busy machine (threads spinning while they wait), so every thread that
queries first sets its own OpenMP thread count to one (an OpenMP setting is per thread:
other threads and other libraries keep theirs).
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import threading

import numpy as np

try:
    from pykdtree.kdtree import KDTree as _PyKDTree
except ImportError:       # not installed: scipy answers (the same results, slower)
    _PyKDTree = None

_LOCAL = threading.local()
_SET_THREADS = None        # omp_set_num_threads of pykdtree's own OpenMP runtime, when found


def _omp_set_num_threads():
    """pykdtree's own OpenMP runtime's ``omp_set_num_threads`` (its wheel bundles one), else None."""
    global _SET_THREADS
    if _SET_THREADS is None:
        import pykdtree
        here = os.path.dirname(os.path.dirname(os.path.abspath(pykdtree.__file__)))
        found = None
        for path in sorted(glob.glob(os.path.join(here, "pykdtree.libs", "libgomp*"))
                           + glob.glob(os.path.join(here, "pykdtree", ".dylibs", "libomp*"))):
            try:
                found = ctypes.CDLL(path).omp_set_num_threads
                break
            except (OSError, AttributeError):
                continue
        _SET_THREADS = found or (lambda n: None)
    return _SET_THREADS


def _one_openmp_thread() -> None:
    if not getattr(_LOCAL, "limited", False):
        _omp_set_num_threads()(1)
        _LOCAL.limited = True


class NearestTree:
    """A KD-tree over ``points`` (N, 3) with ``cKDTree.query``'s answers.

    ``query(x, k, distance_upper_bound)`` returns (distances, indices) shaped as cKDTree's:
    (M,) for ``k=1``, (M, k) otherwise; a point with nothing within the bound gets distance
    ``inf`` and index N.
    """

    def __init__(self, points: np.ndarray):
        self.points = np.ascontiguousarray(points, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"NearestTree: points must be (N, 3), got {self.points.shape}")
        self.n = len(self.points)
        if _PyKDTree is not None and self.n:
            self._tree, self._scipy = _PyKDTree(self.points), False
        else:
            from scipy.spatial import cKDTree
            self._tree, self._scipy = cKDTree(self.points), True

    def _scipy_tree(self):
        if not self._scipy:       # fewer points than neighbours asked for: scipy pads with (inf, N)
            from scipy.spatial import cKDTree
            self._tree, self._scipy = cKDTree(self.points), True
        return self._tree

    def query(self, x: np.ndarray, k: int = 1, distance_upper_bound: float = np.inf):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if self._scipy or k > self.n:
            return self._scipy_tree().query(x, k=k, distance_upper_bound=distance_upper_bound)
        if len(x) == 0:
            shape = (0,) if k == 1 else (0, k)
            return np.zeros(shape), np.zeros(shape, np.intp)
        _one_openmp_thread()
        dist, idx = self._tree.query(x.reshape(-1, 3), k=k, distance_upper_bound=distance_upper_bound)
        return dist, idx.astype(np.intp)



try:
    from scenewright.geometry import _grid_nearest
except ImportError:       # built without a C compiler: the k-d tree answers (the same, slower)
    _grid_nearest = None


class SampleGrid:
    """The nearest of a few hundred ``points`` (N, 3) to each query point, from per-cell candidate lists.

    A uniform grid covers the points' box and a margin of ``margin`` × its longest side (where
    99 % of ICP's queries fall on the bench); each cell lists the points that can be nearest to
    some point of it, made the first time a query falls in it (``_grid_nearest.c``), so a query
    compares a handful of points instead of descending a tree. Exact: the same index as
    :class:`NearestTree` (the squared distance summed in the same order; the lower index among
    equals). Queries outside the grid, and any once the lists fill their pool, go to the tree.
    Without the compiled search (no C compiler at install) the tree answers everything.

    The cell side is half a point's share of the box's surface (samples lie on the surface), at
    most ``max_cells_per_axis`` cells along an axis.
    """

    margin = 0.35
    side_share = 0.5
    max_cells_per_axis = 48
    pool_per_cell = 8         # pool entries per grid cell (a list holds ~3-10 points near the surface)

    def __init__(self, points: np.ndarray, tree: "NearestTree | None" = None):
        self.points = np.ascontiguousarray(points, dtype=np.float64)
        self.tree = tree if tree is not None else NearestTree(self.points)
        self.available = _grid_nearest is not None and 0 < len(self.points) < 65536
        if not self.available:
            return
        lo, hi = self.points.min(0), self.points.max(0)
        ext = hi - lo
        area = 2 * (ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2])
        pad = self.margin * float(ext.max())
        lo, ext = lo - pad, ext + 2 * pad
        side = max(self.side_share * math.sqrt(area / len(self.points)), float(ext.max()) / self.max_cells_per_axis, 1e-9)
        self.dims = np.maximum(np.ceil(ext / side).astype(np.int64), 1)
        self.lo_side = np.array([*lo, side], np.float64)
        cells = int(np.prod(self.dims))
        # zeros and empty: the pages of cells no query reaches are never touched, so not held.
        # After the grid's cells, those of a grid of twice the side (their lists make the cells' lists).
        self.cells = np.zeros(cells + int(np.prod((self.dims + 1) // 2)), np.int32)
        self.pool = np.empty(min(cells * self.pool_per_cell, 2 ** 31 - 1), np.uint16)
        self.pool_used = np.zeros(1, np.int64)
        self._columns = np.ascontiguousarray(self.points.T)     # x, y, z rows: the C loops vectorise
        self._lock = threading.Lock()      # the lists are made by whichever query comes first

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """(M,) index of the nearest point to each row of ``x`` (M, 3)."""
        if not self.available:
            return self.tree.query(x, k=1)[1]
        x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 3)
        out = np.empty(len(x), np.int64)
        with self._lock:
            _grid_nearest.query(self._columns, self.lo_side, self.dims, self.cells, self.pool,
                                self.pool_used, x, out)
        outside = np.flatnonzero(out < 0)
        if len(outside):
            out[outside] = self.tree.query(x[outside], k=1)[1]
        return out

    def icp(self, obs: np.ndarray, cos_sin: np.ndarray, scales: np.ndarray, t: np.ndarray, reach: float,
            steps: int, fix_y: bool) -> np.ndarray:
        """Translation-only ICP of H hypotheses against these points, in C (``_grid_nearest.icp``:
        ``retrieval._fit_hypotheses``' numpy steps, the same bits). ``obs`` (M, 3) world points,
        ``cos_sin`` (2, H) of the yaws, ``scales`` (H, 3), ``t`` (H, 3) starts, moved in place;
        points within ``reach`` of their nearest sample weigh fully. Returns the last step's
        residual lengths (H, M)."""
        dist = np.empty((len(t), len(obs)))
        with self._lock:
            _grid_nearest.icp(self._columns, self.lo_side, self.dims, self.cells, self.pool, self.pool_used,
                              np.ascontiguousarray(obs, np.float64), np.ascontiguousarray(cos_sin, np.float64),
                              np.ascontiguousarray(scales, np.float64), t, float(reach), int(steps), bool(fix_y), dist)
        return dist

