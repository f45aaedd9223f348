"""Ray: connecting (or starting a local cluster), describing it, and the actor pool.

``connect("local", num_cpus=2)`` starts a private single-machine cluster (no
dashboard, no usage statistics, worker logs not forwarded); ``connect("auto")`` joins
the cluster started on this machine with ``ray start --head`` (and so every node that
joined it with ``ray start --address HEAD:6379``); ``connect("ray://HOST:PORT")`` uses
Ray Client. A connection made earlier in this process (a test session, a notebook) is
reused and left open.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections import deque
from typing import Callable, Iterable

from scenewright.errors import InputError

# Runs in every Ray worker process before it deserialises anything (see below).
SETUP_HOOK = "scenewright.batch.cluster.block_broken_pyarrow"


def block_broken_pyarrow() -> None:
    """Hide an installed pyarrow that cannot be imported (one built for NumPy 2 under NumPy 1).

    Ray registers Arrow serialisers when pyarrow is importable and skips them only on
    ModuleNotFoundError; pyarrow ≥ 20 under NumPy 1.26 raises a plain ImportError
    instead, which breaks every task submission. Marking the module missing makes Ray
    skip it; nothing in scenewright uses pyarrow.
    """
    if "pyarrow" in sys.modules:
        return
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError:
        pass
    except ImportError:
        sys.modules["pyarrow"] = None      # `import pyarrow` now raises ModuleNotFoundError


def connect(address: str = "local", num_cpus: int | None = None):
    """Connect to Ray; returns ``(ray module, started)`` — ``started``: this call made the connection.

    ``num_cpus`` applies to ``"local"`` only (the CPUs the new cluster offers).
    An unreachable cluster is an InputError saying how to start one.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    block_broken_pyarrow()
    import ray
    if ray.is_initialized():
        return ray, False
    runtime_env = {"worker_process_setup_hook": SETUP_HOOK}
    try:
        if address == "local":
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR, runtime_env=runtime_env)
        elif address.startswith("ray://"):
            ray.init(address=address, runtime_env=runtime_env, logging_level=logging.ERROR)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR,
                     runtime_env=runtime_env)
    except (ConnectionError, TimeoutError) as exc:
        raise InputError(f"--address {address}: no Ray cluster reachable ({exc}); start one with "
                         "`ray start --head` (or use --address local); a cluster with token authentication "
                         "also needs RAY_AUTH_MODE=token and its token in ~/.ray/auth_token") from None
    return ray, True


def cluster_info(ray) -> dict:
    """Ray version, the cluster's total CPUs and its alive nodes (host, address, CPUs)."""
    nodes = [{"host": n.get("NodeManagerHostname"), "address": n.get("NodeManagerAddress"),
              "cpus": n.get("Resources", {}).get("CPU", 0.0)}
             for n in ray.nodes() if n.get("Alive")]
    return {"version": ray.__version__, "cpus": ray.cluster_resources().get("CPU", 0.0),
            "nodes": nodes}


def pool_size(requested: int | None, cluster_cpus: float, cpus_per_task: float) -> tuple[int, str | None]:
    """Actors to start: ``requested`` capped to what the cluster can hold (else pending forever).

    Returns (size, note) — the note says why fewer than requested were started.
    InputError when not even one worker fits.
    """
    fits = math.floor(cluster_cpus / cpus_per_task + 1e-9)
    if fits < 1:
        raise InputError(f"--cpus-per-task {cpus_per_task:g}: the cluster has only {cluster_cpus:g} CPUs, "
                         "no worker could ever start")
    if requested is None:
        return fits, None
    if requested > fits:
        return fits, (f"--workers {requested} × --cpus-per-task {cpus_per_task:g} exceeds the cluster's "
                      f"{cluster_cpus:g} CPUs: {fits} workers started")
    return requested, None


def run_pool(ray, batch, tasks: Iterable[tuple], n_workers: int, on_result: Callable[[dict], None],
             on_started: Callable[[list[dict], float], None] | None = None) -> list[dict]:
    """Run ``tasks`` (``(CaptureJob, out_dir, overwrite)``) on ``n_workers`` Reconstructor actors.

    Each actor gets one capture at a time and the next as soon as it returns, so a
    slow capture holds one worker only; results reach ``on_result`` as they finish.
    An actor that dies (segfault, out of memory, a lost node) is replaced by a fresh one,
    which retries its capture once; a second death fails the capture with the reason.
    Returns the workers' info (host, pid, warm-up seconds), replacements included.
    ``on_started(infos, seconds)`` is called once every actor is warm.
    """
    from ray.exceptions import RayActorError, RayError

    from scenewright.batch.worker import Reconstructor

    Actor = ray.remote(num_cpus=batch.cpus_per_task, max_restarts=0)(Reconstructor)
    t0 = time.perf_counter()
    actors = [Actor.remote(batch) for _ in range(n_workers)]
    try:
        try:
            infos = ray.get([a.info.remote() for a in actors])
        except RayError as exc:
            raise InputError(f"the batch workers could not start: {_first_line(exc)}") from None
        for k, info in enumerate(infos):
            info["actor"] = k
        if on_started is not None:
            on_started(infos, time.perf_counter() - t0)
        queue = deque(tasks)
        inflight: dict = {}
        current = list(infos)                    # the info of the actor now in each slot
        alive = [True] * n_workers
        deaths: dict[str, str] = {}              # capture name → why its first worker died

        def submit(k: int) -> None:
            task = queue.popleft()
            job, out, overwrite = task
            inflight[actors[k].run.remote(job, str(out), overwrite)] = (k, task)

        def replace(k: int) -> None:
            """A fresh actor in slot k (the dead one's state is gone); the slot closes if it cannot start."""
            try:
                actors[k] = Actor.remote(batch)
                info = ray.get(actors[k].info.remote())
                info["actor"] = k
                infos.append(info)
                current[k] = info
            except RayError:
                alive[k] = False

        for k in range(n_workers):
            if queue:
                submit(k)
        while inflight:
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            k, task = inflight.pop(ref)
            job, out, _ = task
            base = {"name": job.name, "capture": str(job.path), "out": str(out), "status": "failed",
                    "worker": current[k]["worker"], "actor": k, "seconds": None}
            record = None
            try:
                record = ray.get(ref)
                record["actor"] = k
            except RayActorError as exc:
                why = f"the worker died ({_first_line(exc)})"
                replace(k)
                if job.name not in deaths:
                    # Once more on a fresh worker: a lost node or an out-of-memory kill need not
                    # recur; a capture that crashes every worker it meets fails the second time.
                    deaths[job.name] = why
                    queue.appendleft(task)
                else:
                    record = {**base, "error": f"{job.path}: {why}, twice"}
            except RayError as exc:
                record = {**base, "error": f"{job.path}: {_first_line(exc)}"}
            if record is not None:
                if job.name in deaths:
                    record["retried_after"] = deaths[job.name]
                on_result(record)
            if queue and alive[k]:
                submit(k)
            if queue and not inflight:           # every slot closed: nothing can run the rest
                while queue:
                    job, out, _ = queue.popleft()
                    on_result({"name": job.name, "capture": str(job.path), "out": str(out), "status": "failed",
                               "error": f"{job.path}: no batch worker left (every replacement failed to start)",
                               "worker": None, "actor": None, "seconds": None})
        return infos
    finally:
        for a in actors:
            try:
                ray.kill(a)
            except Exception:
                pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
