"""Building a library's assets on a Ray cluster: one task per asset, as ``batch`` runs captures.

``scenewright library build -o LIB --address local|auto|HOST:PORT`` hands every selected
asset to :func:`scenewright.library.build.process_item` as a Ray task (one CPU each) instead
of the local process pool; the driver collects the results and writes the stacked arrays,
``index.sqlite`` and the retrieval index itself, exactly as a local build does. Each task
writes its asset folder atomically and marks it with ``done.json``, so a build stopped at
any point resumes where it was (finished assets are reused, by the same markers as a local
build), and the files are the same bit for bit as a local build's: the per-asset work is
the same function with the same inputs.

On several machines ``LIB`` must be one shared folder (NFS or similar) mounted at the same
path everywhere, and every node needs the Sweet Home 3D catalogs at the same path and a
working EGL for the views (an asset whose views cannot be rendered is built without them,
as locally). Start the cluster with ``ray start --head`` on one machine and
``ray start --address HEAD:6379`` on the others, then run the build with ``--address auto``
on the head (see ``docs/batch.md`` for the Ray side).
"""

from __future__ import annotations

from typing import Callable


def run_on_ray(items: list, out: str, settings, handle: Callable[[dict], None], address: str,
               num_cpus: int | None = None) -> dict:
    """Process ``items`` (SourceItem) as Ray tasks; ``handle(result)`` gets each as it finishes.

    A task lost with its worker (a crash, a lost node) is retried once by Ray, then reported
    as a failed asset with the reason. Returns the cluster description.
    """
    from ray.exceptions import RayError

    from scenewright.batch.cluster import cluster_info, connect
    from scenewright.library.build import process_item

    ray, started = connect(address, num_cpus=num_cpus)
    try:
        info = cluster_info(ray)
        task = ray.remote(num_cpus=1, max_retries=1)(process_item)
        pending = {task.remote(it, out, settings): it for it in items}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                it = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except RayError as exc:
                    res = {"asset_id": it.asset_id, "status": "failed",
                           "reason": f"the Ray task died while processing it ({type(exc).__name__})"}
                handle(res)
        return info
    finally:
        if started:
            ray.shutdown()
