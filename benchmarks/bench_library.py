"""Asset library benchmark: build speed on a sample of assets, and read speed of a library.

    .venv/bin/python benchmarks/bench_library.py --library data/library          # read speed
    .venv/bin/python benchmarks/bench_library.py --build 16 --workers 2          # build speed

Prints one JSON object (timings in seconds, sizes in MB). Machine notes go in docs/library.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def bench_read(folder: str, n_meshes: int = 50) -> dict:
    from scenewright.library import Library
    from scenewright.library.info import folder_size

    t = time.perf_counter()
    lib = Library.open(folder)
    t_open = time.perf_counter() - t
    ids = lib.ids
    t = time.perf_counter()
    total = 0.0
    for aid in ids:                       # every asset's samples, as a layout scorer would
        pts, nrm = lib.samples(aid)
        total += float(pts[::512, 1].sum())
    t_samples = time.perf_counter() - t
    t = time.perf_counter()
    occ = sum(int(lib.voxels(aid)[0].sum()) for aid in ids)
    t_voxels = time.perf_counter() - t
    sub = ids[:: max(1, len(ids) // n_meshes)][:n_meshes]
    t = time.perf_counter()
    faces = sum(len(lib.mesh(aid).faces) for aid in sub)
    t_mesh = (time.perf_counter() - t) / max(1, len(sub))
    with_views = [aid for aid in sub if lib.record(aid).has_views]
    t = time.perf_counter()
    for aid in with_views:
        lib.views(aid)
    t_views = (time.perf_counter() - t) / max(1, len(with_views))
    return {"library": folder, "assets": len(ids), "categories": len(lib.categories()),
            "disk_mb": round(folder_size(Path(folder)) / 1e6, 1),
            "open_s": t_open, "samples_all_assets_s": t_samples, "voxels_all_assets_s": t_voxels,
            "mesh_load_s_per_asset": t_mesh, "views_load_s_per_asset": t_views,
            "mean_faces": faces / max(1, len(sub)), "voxels_occupied_mean": occ / max(1, len(ids)),
            "build": {k: lib.info.get(k) for k in ("counts", "timings_s", "mean_asset_timings_s", "workers")}}


def bench_build(n: int, workers: int) -> dict:
    from scenewright.library.build import build_library
    from scenewright.library.sources import read_sources

    items = [it for col in read_sources(None) for it in col.items if not it.excluded]
    rng = np.random.default_rng(0)
    only = [items[i].asset_id for i in sorted(rng.choice(len(items), size=min(n, len(items)), replace=False))]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        report = build_library(Path(tmp) / "lib", None, workers=workers, only=only, progress=False)
        first = time.perf_counter() - t
        t = time.perf_counter()
        again = build_library(Path(tmp) / "lib", None, workers=workers, only=only, progress=False)
        resume = time.perf_counter() - t
    return {"assets": n, "workers": workers, "build_s": first, "s_per_asset": first / max(1, n),
            "built": report.built, "skipped": len(report.skipped), "resume_s": resume,
            "resume_reused": again.reused}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--library", default=None, help="library folder to time reads on")
    p.add_argument("--build", type=int, default=0, help="build N random assets into a temp folder")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    out = {}
    if args.build:
        out["build"] = bench_build(args.build, args.workers)
    if args.library:
        out["read"] = bench_read(args.library)
    if not out:
        p.error("pass --library and/or --build")
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
