/* Exact nearest sample of each query point, answered from per-cell candidate lists.
 *
 * Retrieval's ICP asks one asset's few hundred surface samples for the nearest sample of tens of
 * thousands of points per step. A uniform grid covers the samples' box with a margin; each cell
 * keeps the samples that can be nearest to some point of the cell: with ``bound`` the least, over
 * the samples, of a sample's farthest distance from the cell, a sample whose nearest distance to
 * the cell exceeds ``bound`` is farther than that sample from every point of the cell. A cell's
 * list is made the first time a query falls in it, from the list of the cell of a grid of twice
 * the side that holds it (made from every sample: a pass over a few hundred samples per coarse
 * cell, over a few dozen per cell), and kept in a pool the caller owns; a query scans its cell's
 * few candidates. Squared distances are summed as a k-d
 * tree sums them, ((dx*dx + dy*dy) + dz*dz), and the least wins (the lower index among equals),
 * so the answer is the tree's nearest. A query outside the grid gets -1 (the caller's tree
 * answers it); so does one whose cell list no longer fits the pool.
 *
 * query(samples, lo_h, dims, cells, pool, pool_used, queries, out)
 *   samples    float64 (3, N), C order: x, y and z of the samples, 0 < N < 65536
 *   lo_h       float64 (4,): grid origin x, y, z and cell side h
 *   dims       int64 (3,): cells along x, y, z (cell id = (i * ny + j) * nz + k)
 *   cells      int32 (C + C',): for the grid's C cells, then the C' cells of a grid of twice the side
 *              (nx + 1) / 2 × (ny + 1) / 2 × (nz + 1) / 2: 0 for a cell whose list is not made yet,
 *              else 1 + where it is in pool
 *   pool       uint16 (P,): the lists, one after the other, each its length then its samples
 *   pool_used  int64 (1,): entries of pool in use
 *   queries    float64 (Q, 3), C order
 *   out        int64 (Q,), written
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* The bound is widened and the distances narrowed by this relative margin, so rounding never
   leaves out a sample that can be nearest (a list holds one more candidate at worst). */
#define SLACK 1e-9

static inline double sq(double v) { return v * v; }

/* far: a sample's farthest squared distance from the cell, near: its nearest (0 inside), for the
   cell of centre (cx, cy, cz) and half side ``half``; returns the least ``far``. Two samples at a
   time where SSE2 is there (the compiler leaves a least-of loop and fmax scalar otherwise). */
static inline double far_one(double x, double y, double z, double cx, double cy, double cz, double half) {
    return (sq(fabs(x - cx) + half) + sq(fabs(y - cy) + half)) + sq(fabs(z - cz) + half);
}

static inline double near_one(double x, double y, double z, double cx, double cy, double cz, double half) {
    return (sq(fmax(fabs(x - cx) - half, 0.0)) + sq(fmax(fabs(y - cy) - half, 0.0))) + sq(fmax(fabs(z - cz) - half, 0.0));
}

#ifdef __SSE2__
#include <emmintrin.h>
static double cell_bounds(const double *xs, const double *ys, const double *zs, int64_t n, double cx, double cy,
                          double cz, double half, double *near) {
    const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd(), h = _mm_set1_pd(half);
    const __m128d vx = _mm_set1_pd(cx), vy = _mm_set1_pd(cy), vz = _mm_set1_pd(cz);
    __m128d least = _mm_set1_pd(INFINITY);
    int64_t s = 0;
    for (; s + 2 <= n; s += 2) {
        __m128d ax = _mm_andnot_pd(sign, _mm_sub_pd(_mm_loadu_pd(xs + s), vx));
        __m128d ay = _mm_andnot_pd(sign, _mm_sub_pd(_mm_loadu_pd(ys + s), vy));
        __m128d az = _mm_andnot_pd(sign, _mm_sub_pd(_mm_loadu_pd(zs + s), vz));
        __m128d fx = _mm_add_pd(ax, h), fy = _mm_add_pd(ay, h), fz = _mm_add_pd(az, h);
        least = _mm_min_pd(least, _mm_add_pd(_mm_add_pd(_mm_mul_pd(fx, fx), _mm_mul_pd(fy, fy)), _mm_mul_pd(fz, fz)));
        __m128d gx = _mm_max_pd(_mm_sub_pd(ax, h), zero), gy = _mm_max_pd(_mm_sub_pd(ay, h), zero);
        __m128d gz = _mm_max_pd(_mm_sub_pd(az, h), zero);
        _mm_storeu_pd(near + s, _mm_add_pd(_mm_add_pd(_mm_mul_pd(gx, gx), _mm_mul_pd(gy, gy)), _mm_mul_pd(gz, gz)));
    }
    double two[2];
    _mm_storeu_pd(two, least);
    double bound = two[0] < two[1] ? two[0] : two[1];
    for (; s < n; s++) {
        double far = far_one(xs[s], ys[s], zs[s], cx, cy, cz, half);
        bound = far < bound ? far : bound;
        near[s] = near_one(xs[s], ys[s], zs[s], cx, cy, cz, half);
    }
    return bound;
}
#else
static double cell_bounds(const double *xs, const double *ys, const double *zs, int64_t n, double cx, double cy,
                          double cz, double half, double *near) {
    double bound = INFINITY;
    for (int64_t s = 0; s < n; s++) {
        double far = far_one(xs[s], ys[s], zs[s], cx, cy, cz, half);
        bound = far < bound ? far : bound;
        near[s] = near_one(xs[s], ys[s], zs[s], cx, cy, cz, half);
    }
    return bound;
}
#endif

/* The same bounds over the samples listed in cand[0:m] (a coarse cell's list), one at a time. */
static double listed_bounds(const double *xs, const double *ys, const double *zs, const uint16_t *cand, int64_t m,
                            double cx, double cy, double cz, double half, double *near) {
    double bound = INFINITY;
    for (int64_t t = 0; t < m; t++) {
        const int64_t s = cand[t];
        double far = far_one(xs[s], ys[s], zs[s], cx, cy, cz, half);
        bound = far < bound ? far : bound;
        near[t] = near_one(xs[s], ys[s], zs[s], cx, cy, cz, half);
    }
    return bound;
}

/* Makes the list of cell c (centre (cx, cy, cz), half side ``half``) from the samples that can be
   nearest anywhere in a cell holding it: cand[0:m], or every sample when cand is NULL. The list
   is pool[at + 1 : at + 1 + pool[at]], in index order; returns at, or -1 when the pool is full. */
static int64_t make_list(const double *xs, const double *ys, const double *zs, int64_t n, const uint16_t *cand,
                         int64_t m, double cx, double cy, double cz, double half, double *near, int32_t *cells,
                         int64_t c, uint16_t *pool, int64_t pool_size, int64_t *pool_used) {
    const int64_t at = *pool_used, len = cand ? m : n;
    if (pool_size - at < len + 1 || at >= INT32_MAX) return -1;   /* the cell stays unmade */
    const double bound = (cand ? listed_bounds(xs, ys, zs, cand, m, cx, cy, cz, half, near)
                               : cell_bounds(xs, ys, zs, n, cx, cy, cz, half, near)) * (1.0 + SLACK);
    int64_t used = at + 1;
    for (int64_t t = 0; t < len; t++) {             /* written always, kept when within the bound */
        pool[used] = cand ? cand[t] : (uint16_t)t;
        used += near[t] * (1.0 - SLACK) <= bound;
    }
    pool[at] = (uint16_t)(used - at - 1);
    cells[c] = (int32_t)(at + 1);
    *pool_used = used;
    return at;
}

/* The list of fine cell (i, j, k): made from the list of the coarse cell (twice the side) holding
   it, which is made from every sample. A sample that can be nearest somewhere in the fine cell can
   be so in the coarse cell, so the coarse list holds it; and any sample bounds the distance to the
   nearest, so the bound from the coarse list's samples is sound. */
static int64_t fine_list(const double *xs, const double *ys, const double *zs, int64_t n, const double *lo_h,
                         const int64_t *dims, int64_t i, int64_t j, int64_t k, double *near, int32_t *cells,
                         uint16_t *pool, int64_t pool_size, int64_t *pool_used) {
    const double lx = lo_h[0], ly = lo_h[1], lz = lo_h[2], h = lo_h[3];
    const int64_t ny = dims[1], nz = dims[2], fine = dims[0] * ny * nz;
    const int64_t cy = (ny + 1) / 2, cz = (nz + 1) / 2, ci = i / 2, cj = j / 2, ck = k / 2;
    const int64_t cc = fine + (ci * cy + cj) * cz + ck;
    int64_t coarse = (int64_t)cells[cc] - 1;
    if (coarse < 0) {
        coarse = make_list(xs, ys, zs, n, NULL, 0, lx + (2 * ci + 1) * h, ly + (2 * cj + 1) * h, lz + (2 * ck + 1) * h,
                           h, near, cells, cc, pool, pool_size, pool_used);
        if (coarse < 0) return -1;
    }
    return make_list(xs, ys, zs, n, pool + coarse + 1, pool[coarse], lx + (i + 0.5) * h, ly + (j + 0.5) * h,
                     lz + (k + 0.5) * h, 0.5 * h, near, cells, (i * ny + j) * nz + k, pool, pool_size, pool_used);
}

/* The nearest sample of (qx, qy, qz): from its cell's list, made if need be; -1 outside the grid or
   when the pool is full. */
static inline int64_t nearest_listed(const double *xs, const double *ys, const double *zs, int64_t n,
                                     const double *lo_h, const int64_t *dims, int32_t *cells, uint16_t *pool,
                                     int64_t pool_size, int64_t *pool_used, double *near, double qx, double qy,
                                     double qz) {
    const double lx = lo_h[0], ly = lo_h[1], lz = lo_h[2], h = lo_h[3];
    const int64_t nx = dims[0], ny = dims[1], nz = dims[2];
    const double fx = floor((qx - lx) / h), fy = floor((qy - ly) / h), fz = floor((qz - lz) / h);
    if (!(fx >= 0 && fx < nx && fy >= 0 && fy < ny && fz >= 0 && fz < nz)) return -1;   /* NaN too */
    const int64_t i = (int64_t)fx, j = (int64_t)fy, k = (int64_t)fz, c = (i * ny + j) * nz + k;
    int64_t at = (int64_t)cells[c] - 1;
    if (at < 0) {
        at = fine_list(xs, ys, zs, n, lo_h, dims, i, j, k, near, cells, pool, pool_size, pool_used);
        if (at < 0) return -1;
    }
    double best = INFINITY;
    int64_t best_i = -1;
    for (int64_t m = at + 1, end = at + 1 + pool[at]; m < end; m++) {
        const int64_t s = pool[m];
        const double dx = xs[s] - qx, dy = ys[s] - qy, dz = zs[s] - qz;
        const double d = (dx * dx + dy * dy) + dz * dz;
        best_i = d < best ? s : best_i;     /* a list is in index order: the lower index among equals */
        best = d < best ? d : best;
    }
    return best_i;
}

/* The nearest of all samples (the lower index among equals). */
static int64_t nearest_all(const double *xs, const double *ys, const double *zs, int64_t n, double qx, double qy,
                           double qz) {
    double best = INFINITY;
    int64_t best_i = 0;
    for (int64_t s = 0; s < n; s++) {
        const double dx = xs[s] - qx, dy = ys[s] - qy, dz = zs[s] - qz;
        const double d = (dx * dx + dy * dy) + dz * dz;
        best_i = d < best ? s : best_i;
        best = d < best ? d : best;
    }
    return best_i;
}

static void search(const double *soa, int64_t n, const double *lo_h, const int64_t *dims, int32_t *cells,
                   uint16_t *pool, int64_t pool_size, int64_t *pool_used, const double *queries, int64_t nq,
                   int64_t *out, double *near) {
    const double *xs = soa, *ys = soa + n, *zs = soa + 2 * n;
    for (int64_t q = 0; q < nq; q++)
        out[q] = nearest_listed(xs, ys, zs, n, lo_h, dims, cells, pool, pool_size, pool_used, near,
                                queries[3 * q], queries[3 * q + 1], queries[3 * q + 2]);
}

/* numpy's sum of a contiguous row of doubles (np.add.reduce): from 0, blocks of 8192 (its buffer),
   each summed pairwise with eight accumulators below 128 values. */
static double pairwise(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    } else if (n <= 128) {
        double r[8], res;
        int64_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    } else {
        int64_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise(a, n2) + pairwise(a + n2, n - n2);
    }
}

static double numpy_sum(const double *a, int64_t n) {
    double res = 0.0;
    for (int64_t i = 0; i < n; i += 8192) res += pairwise(a + i, n - i < 8192 ? n - i : 8192);
    return res;
}

/* Translation-only ICP of H hypotheses (retrieval.geometric_fit): each step, every observed point
   in each hypothesis' object frame, its nearest sample, the residual back in the world, and the
   trimmed mean step; written as retrieval._fit_hypotheses computes it with numpy, operation by
   operation, so the same bits (the sum over the points in point order, the weights' sum as numpy
   sums a row). t (H, 3) is updated in place; dist (H, M) gets the last step's residual lengths. */
static void icp(const double *soa, int64_t n, const double *lo_h, const int64_t *dims, int32_t *cells,
                uint16_t *pool, int64_t pool_size, int64_t *pool_used, double *near, const double *obs, int64_t M,
                const double *cs, const double *scales, double *t, int64_t H, double reach, int64_t steps, int fix_y,
                double *dist, double *weight, double *total) {
    const double *xs = soa, *ys = soa + n, *zs = soa + 2 * n;
    const double *cos_ = cs, *sin_ = cs + H;
    for (int64_t step = 0; step < steps; step++) {
        for (int64_t h = 0; h < 3 * H; h++) total[h] = 0.0;
        for (int64_t m = 0; m < M; m++) {
            const double ox = obs[3 * m], oy = obs[3 * m + 1], oz = obs[3 * m + 2];
            for (int64_t h = 0; h < H; h++) {
                const double c = cos_[h], s = sin_[h], sx = scales[3 * h], sy = scales[3 * h + 1], sz = scales[3 * h + 2];
                const double dx = ox - t[3 * h], dz = oz - t[3 * h + 2];
                const double l0 = (c * dx - s * dz) / sx, l1 = (oy - t[3 * h + 1]) / sy, l2 = (s * dx + c * dz) / sz;
                int64_t p = nearest_listed(xs, ys, zs, n, lo_h, dims, cells, pool, pool_size, pool_used, near, l0, l1, l2);
                if (p < 0) p = nearest_all(xs, ys, zs, n, l0, l1, l2);
                const double rx = (xs[p] - l0) * sx, ry = (ys[p] - l1) * sy, rz = (zs[p] - l2) * sz;
                const double r0 = c * rx + s * rz, r2 = c * rz - s * rx;
                const double d = sqrt((r0 * r0 + ry * ry) + r2 * r2);
                const double w = (d < reach ? 1.0 : 0.0) + 1e-6;
                total[3 * h] += r0 * w;
                total[3 * h + 1] += ry * w;
                total[3 * h + 2] += r2 * w;
                dist[h * M + m] = d;
                weight[h * M + m] = w;
            }
        }
        for (int64_t h = 0; h < H; h++) {
            const double wsum = numpy_sum(weight + h * M, M);
            for (int k = 0; k < 3; k++) {
                const double move = (k == 1 && fix_y) ? 0.0 : -total[3 * h + k] / wsum;
                t[3 * h + k] = t[3 * h + k] + move;
            }
        }
    }
}

static PyObject *py_query(PyObject *self, PyObject *args) {
    Py_buffer P, lo_h, dims, cells, pool, used, q, out;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*y*w*", &P, &lo_h, &dims, &cells, &pool, &used, &q, &out))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t d8 = (Py_ssize_t)sizeof(double), i8 = (Py_ssize_t)sizeof(int64_t);
    const int64_t n = P.len / (3 * d8), nq = q.len / (3 * d8);
    const int64_t *d = (const int64_t *)dims.buf;
    if (lo_h.len != 4 * d8 || dims.len != 3 * i8 || used.len != i8 || out.len != nq * i8 || P.len != n * 3 * d8
        || n < 1 || n >= 65536
        || cells.len != (d[0] * d[1] * d[2] + ((d[0] + 1) / 2) * ((d[1] + 1) / 2) * ((d[2] + 1) / 2)) * 4
        || ((int64_t *)used.buf)[0] * 2 > pool.len) {
        PyErr_SetString(PyExc_ValueError, "_grid_nearest.query: array sizes do not agree");
    } else {
        double *near = (double *)PyMem_RawMalloc((size_t)n * sizeof(double));
        if (near == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        search((const double *)P.buf, n, (const double *)lo_h.buf, d, (int32_t *)cells.buf, (uint16_t *)pool.buf,
               pool.len / 2, (int64_t *)used.buf, (const double *)q.buf, nq, (int64_t *)out.buf, near);
        Py_END_ALLOW_THREADS
        PyMem_RawFree(near);
        result = Py_None;
        Py_INCREF(result);
    }
done:
    PyBuffer_Release(&P); PyBuffer_Release(&lo_h); PyBuffer_Release(&dims); PyBuffer_Release(&cells);
    PyBuffer_Release(&pool); PyBuffer_Release(&used); PyBuffer_Release(&q); PyBuffer_Release(&out);
    return result;
}

static PyObject *py_icp(PyObject *self, PyObject *args) {
    Py_buffer P, lo_h, dims, cells, pool, used, obs, cs, scales, t, dist;
    double reach;
    long long steps;
    int fix_y;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*y*y*y*w*dLpw*", &P, &lo_h, &dims, &cells, &pool, &used, &obs, &cs,
                          &scales, &t, &reach, &steps, &fix_y, &dist))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t d8 = (Py_ssize_t)sizeof(double), i8 = (Py_ssize_t)sizeof(int64_t);
    const int64_t n = P.len / (3 * d8), M = obs.len / (3 * d8), H = t.len / (3 * d8);
    const int64_t *d = (const int64_t *)dims.buf;
    if (lo_h.len != 4 * d8 || dims.len != 3 * i8 || used.len != i8 || P.len != n * 3 * d8 || n < 1 || n >= 65536
        || cells.len != (d[0] * d[1] * d[2] + ((d[0] + 1) / 2) * ((d[1] + 1) / 2) * ((d[2] + 1) / 2)) * 4
        || ((int64_t *)used.buf)[0] * 2 > pool.len || obs.len != M * 3 * d8 || t.len != H * 3 * d8
        || cs.len != 2 * H * d8 || scales.len != H * 3 * d8 || dist.len != H * M * d8 || steps < 0) {
        PyErr_SetString(PyExc_ValueError, "_grid_nearest.icp: array sizes do not agree");
        goto done;
    }
    double *near = (double *)PyMem_RawMalloc((size_t)n * sizeof(double));
    double *weight = (double *)PyMem_RawMalloc((size_t)(H * M > 0 ? H * M : 1) * sizeof(double));
    double *total = (double *)PyMem_RawMalloc((size_t)(H > 0 ? 3 * H : 1) * sizeof(double));
    if (near == NULL || weight == NULL || total == NULL) {
        PyMem_RawFree(near); PyMem_RawFree(weight); PyMem_RawFree(total);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    icp((const double *)P.buf, n, (const double *)lo_h.buf, d, (int32_t *)cells.buf, (uint16_t *)pool.buf,
        pool.len / 2, (int64_t *)used.buf, near, (const double *)obs.buf, M, (const double *)cs.buf,
        (const double *)scales.buf, (double *)t.buf, H, reach, (int64_t)steps, fix_y, (double *)dist.buf,
        weight, total);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(near); PyMem_RawFree(weight); PyMem_RawFree(total);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&P); PyBuffer_Release(&lo_h); PyBuffer_Release(&dims); PyBuffer_Release(&cells);
    PyBuffer_Release(&pool); PyBuffer_Release(&used); PyBuffer_Release(&obs); PyBuffer_Release(&cs);
    PyBuffer_Release(&scales); PyBuffer_Release(&t); PyBuffer_Release(&dist);
    return result;
}

static PyMethodDef methods[] = {
    {"query", py_query, METH_VARARGS, "query(samples, lo_h, dims, cells, pool, pool_used, queries, out)"},
    {"icp", py_icp, METH_VARARGS,
     "icp(samples, lo_h, dims, cells, pool, pool_used, obs, cos_sin, scales, t, reach, steps, fix_y, dist)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_grid_nearest", NULL, -1, methods};

PyMODINIT_FUNC PyInit__grid_nearest(void) { return PyModule_Create(&module); }
