"""One BLAS thread while a scene is reconstructed.

numpy's and scipy's OpenBLAS start a thread per core and split a large enough matrix product
across them; between calls the helper threads spin, waiting for the next. The layout method
makes thousands of small products (a 4×4 inverse per render, N×3 points turned by a 3×3),
each too small to gain from a second thread, and on a 2-core machine the spinning cost the
pose stage about as much CPU again as its own work (0.50 -> 0.95 CPU-s on a 9-object bench
scene) while the retrieval threads already keep both cores busy. Products split by rows or
columns give the same numbers with one thread (each element is the same dot product).

An environment that sets ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) keeps its own
count; without threadpoolctl nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import threading

# Off by default: switching OpenBLAS to one thread at run time while the retrieval threads call
# it (``openblas_set_num_threads``, sequential mode entered and left per scene) is the one new
# native-level change of the session in which a bench subprocess died of SIGSEGV at a no-depth
# scene (once, in a fresh-clone CI under load; not reproduced in three reruns). Until that is
# understood, one BLAS thread is the user's choice, made safely at start-up:
# ``OPENBLAS_NUM_THREADS=1`` (the measured 0.85× CPU of a cold reconstruct).
BLAS_THREADS = 0        # while reconstructing (0: leave OpenBLAS as it is); see the module docstring
_CONTROLLER: list = []  # the threadpoolctl controller, made at first use (after scipy's OpenBLAS is loaded)
_LOCK = threading.Lock()
_ACTIVE = {"blocks": 0, "limiter": None}   # reconstructions running (the web page runs them on threads)


def _controller():
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER.append(ThreadpoolController())
        except Exception:      # not installed, or a library it cannot inspect: leave BLAS as it is
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


@contextlib.contextmanager
def blas_threads_limited(threads: int = BLAS_THREADS):
    """Within the block, at most ``threads`` BLAS threads (unless the environment chose a count).

    The count is process-wide: blocks running at once on several threads share one limit,
    set by the first to enter and undone by the last to leave."""
    if threads <= 0 or any(os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        yield
        return
    with _LOCK:
        controller = _controller()
        if controller is None:
            limiter = None
        else:
            if _ACTIVE["blocks"] == 0:
                _ACTIVE["limiter"] = controller.limit(limits=threads, user_api="blas")
            _ACTIVE["blocks"] += 1
            limiter = _ACTIVE["limiter"]
    if limiter is None:
        yield
        return
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE["blocks"] -= 1
            if _ACTIVE["blocks"] == 0:
                _ACTIVE["limiter"].restore_original_limits()
                _ACTIVE["limiter"] = None
