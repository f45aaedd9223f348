"""Float tolerances derived from the computation, not from what one machine printed.

Two evaluations of the same formula on different CPUs (or thread counts, batch sizes,
BLAS kernels) add the same terms in a different order, so their float results differ by
rounding. Rounding errors of a length-n sum behave like a random walk: the error is about
√n · eps · (magnitude of the terms) (Higham, *Accuracy and Stability of Numerical
Algorithms*, §2.8 and §3.1; the worst case n · eps is not approached in practice).
Layers applied one after another each add such an error, independently: √layers.

:func:`reorder_atol` turns that into a bound with a safety factor of 8 = √2 (two
evaluations, each off from the exact value) × ~5.7 (the maximum over up to ~10⁶ outputs of
a Gaussian error reaches ~5 standard deviations). It is far below any error a wrong
formula makes, and independent of the machine the tests were written on.
"""

from __future__ import annotations

import math

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)     # 1.19e-7: float32 spacing at 1.0
EPS64 = float(np.finfo(np.float64).eps)     # 2.2e-16
SAFETY = 8.0


def rms(values) -> float:
    """Root mean square of ``values`` (array or tensor): the typical magnitude of the terms."""
    a = np.asarray(values.detach().cpu().double() if hasattr(values, "detach") else values, np.float64)
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def reorder_atol(scale: float, length: int, layers: int = 1, eps: float = EPS32) -> float:
    """Largest |a − b| expected between two evaluations of one computation that differ only in
    the order of their sums.

    ``scale``: typical magnitude of the summed terms (e.g. :func:`rms` of the layer outputs:
    normalisation keeps activations of one size through the network); ``length``: the
    longest reduction (dot-product length, attention keys, filter taps); ``layers``: how many
    such reductions are chained; ``eps``: machine epsilon of the dtype.
    """
    return SAFETY * eps * scale * math.sqrt(max(length, 1) * max(layers, 1))


def marching_cubes_shift(values_a: np.ndarray, values_b: np.ndarray, value_tol: float,
                         spacing: np.ndarray, level: float = 0.0) -> np.ndarray:
    """Per-vertex bound (V, 3) on how far a marching-cubes vertex can move when the grid
    values move by at most ``value_tol``, for grids ``values_a``/``values_b`` (same shape) and
    grid ``spacing`` (3,).

    A vertex on the edge between corners with values v0, v1 (opposite sides of the level)
    sits at t = (level − v0)/(v1 − v0) of the edge. Moving each corner value by ≤ δ moves t
    by ≤ δ/(|v1 − v0| − 2δ) (exactly, as |v0 − level| + |v1 − level| = |v1 − v0|), so the
    vertex moves ≤ spacing · δ/(|v1 − v0| − 2δ) along its edge: a field value sitting near the iso level on a flat edge moves the vertex much
    more than the values move, and that is legitimate. Vertices are those of
    ``skimage.measure.marching_cubes(values_a, level)`` in order.
    """
    from skimage import measure

    verts, _, _, _ = measure.marching_cubes(values_a, level)
    lo = np.floor(verts).astype(np.int64)
    frac = verts - lo
    axis = np.argmax(np.abs(frac - np.round(frac)), axis=1)      # the coordinate that is not integral
    lo = np.clip(np.round(verts).astype(np.int64), 0, np.array(values_a.shape) - 1)
    rows = np.arange(len(verts))
    lo[rows, axis] = np.floor(verts[rows, axis]).astype(np.int64)
    hi = lo.copy()
    hi[rows, axis] = np.minimum(lo[rows, axis] + 1, np.array(values_a.shape)[axis] - 1)
    dv = np.minimum(np.abs(values_a[tuple(hi.T)] - values_a[tuple(lo.T)]),
                    np.abs(values_b[tuple(hi.T)] - values_b[tuple(lo.T)]))
    shift = np.zeros_like(verts)
    shift[rows, axis] = value_tol / np.maximum(dv - 2.0 * value_tol, 1e-30)
    return shift * np.asarray(spacing, float)
