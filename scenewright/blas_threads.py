"""One BLAS thread while a scene is reconstructed.

numpy's and scipy's OpenBLAS start a thread per core and split a large enough matrix product
across them; between calls the helper threads spin, waiting for the next. The layout method
makes thousands of small products (a 4×4 inverse per render, N×3 points turned by a 3×3),
each too small to gain from a second thread, and on a 2-core machine the spinning cost the
pose stage about as much CPU again as its own work (0.50 -> 0.95 CPU-s on a 9-object bench
scene) while the retrieval threads already keep both cores busy. Products split by rows or
columns give the same numbers with one thread (each element is the same dot product).

Two ways to one thread. The CLI's reconstructing commands set ``OPENBLAS_NUM_THREADS`` before
numpy is imported (:func:`limit_at_start_up`): OpenBLAS starts with one thread and nothing
changes the count afterwards. A program that imported numpy itself (a notebook, a benchmark
script) can limit a reconstruction at run time (:func:`blas_threads_limited`, off by default:
``BLAS_THREADS`` = 0). An environment that sets ``OPENBLAS_NUM_THREADS`` (or
``OMP_NUM_THREADS``) keeps its own count either way; without threadpoolctl the run-time limit
does nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

# Off by default: switching OpenBLAS to one thread at run time while the retrieval threads call
# it (``openblas_set_num_threads``, sequential mode entered and left per scene) is the one new
# native-level change of the session in which a bench subprocess died of SIGSEGV at a no-depth
# scene (once, in a fresh-clone CI under load; not reproduced in three reruns, nor since in 82
# scenes (19 without depth) of the same commands with the limit on at load 14-21, nor by 5,391
# switches while three threads ran BLAS calls: docs/library.md). The CLI gets the one thread
# without a switch (below).
BLAS_THREADS = 0        # while reconstructing (0: leave OpenBLAS as it is); see the module docstring
# The one thread without a switch: the commands that reconstruct set OpenBLAS's own variable before
# numpy is imported, so OpenBLAS starts with it and nothing changes its count while threads run.
# Same arrays (a product split by rows or columns has the same elements); a cold reconstruct of
# the seed-0 bench scenes 0.86x the CPU (docs/library.md). 0: leave the environment alone.
STARTUP_BLAS_THREADS = 1
RECONSTRUCTING_COMMANDS = ("reconstruct", "demo", "batch", "app")
_ENV_KEYS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def limit_at_start_up(command: str | None, threads: int = STARTUP_BLAS_THREADS) -> bool:
    """For a reconstructing ``command`` of the CLI: ``OPENBLAS_NUM_THREADS=threads`` in this
    process's environment (and its children's), when OpenBLAS is not loaded yet and the
    environment chose no count. True when set. Called by :func:`scenewright.cli.main` first."""
    if threads <= 0 or command not in RECONSTRUCTING_COMMANDS or any(os.environ.get(k) for k in _ENV_KEYS):
        return False
    if "numpy" in sys.modules or "scipy" in sys.modules:     # OpenBLAS has read its environment already
        return False
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    return True
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
    if threads <= 0 or any(os.environ.get(k) for k in _ENV_KEYS):
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
