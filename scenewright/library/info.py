"""``scenewright library info``: what a library holds and how it was built."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenewright.fileio import dumps_json
from scenewright.library.store import Library


def folder_size(folder: Path) -> int:
    """Bytes on disk of every file under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def library_summary(folder) -> dict:
    """Counts per category and catalog, size statistics (m), disk size and build settings."""
    lib = Library.open(folder)
    per_category = {}
    for cat, n in lib.categories().items():
        sizes = np.array([r.size for r in lib.by_category(cat)])
        per_category[cat] = {"assets": n, "median_size_m": np.round(np.median(sizes, axis=0), 3).tolist()}
    per_catalog: dict[str, int] = {}
    for r in lib.records:
        per_catalog[r.catalog] = per_catalog.get(r.catalog, 0) + 1
    info = lib.info
    return {
        "library": str(lib.folder), "format": info.get("format"), "assets": len(lib),
        "with_views": sum(r.has_views for r in lib.records),
        "disk_mb": round(folder_size(lib.folder) / 1e6, 1),
        "per_category": per_category, "per_catalog": per_catalog,
        "build": {k: info.get(k) for k in ("settings", "sources", "selection", "workers", "counts",
                                            "per_catalog", "timings_s", "mean_asset_timings_s")},
        "skipped": info.get("skipped", []), "runs": info.get("runs", []),
    }


def library_info(folder, as_json: bool = False) -> str:
    """Text (or JSON) report of a library."""
    s = library_summary(folder)
    if as_json:
        return dumps_json(s)
    b = s["build"]
    lines = [f"library {s['library']} ({s['format']}): {s['assets']} assets, "
             f"{s['with_views']} with views, {s['disk_mb']} MB on disk",
             "", f"{'category':16s} {'assets':>6s}   median size w x h x d (m)"]
    for cat, c in s["per_category"].items():
        w, h, d = c["median_size_m"]
        lines.append(f"{cat:16s} {c['assets']:6d}   {w:.2f} x {h:.2f} x {d:.2f}")
    lines += ["", "catalog              assets"]
    lines += [f"{name:20s} {n:6d}" for name, n in s["per_catalog"].items()]
    settings = b.get("settings") or {}
    lines += ["", "build settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    for run in s["runs"]:
        lines.append(f"build run {run['finished']}: {run['selected']} selected, {run['built']} built, "
                     f"{run['reused']} reused, {run['skipped']} skipped, {run['workers']} workers, "
                     f"{run['timings_s']['total']:.1f} s")
    if b.get("mean_asset_timings_s"):
        lines.append("mean per built asset (s): " + ", ".join(
            f"{k}={v:.2f}" for k, v in b["mean_asset_timings_s"].items()))
    if s["skipped"]:
        lines.append(f"skipped at build: {len(s['skipped'])} (see library.json)")
    return "\n".join(lines)
