"""Building a library folder from catalogs: resumable, parallel, never aborted by one bad asset.

Each asset is processed by a worker process (each with its own EGL context for
the views) into ``assets/<catalog>/<id>/``, written atomically and marked done by
``done.json`` holding the source content hash and the settings digests. A second
run reuses every asset whose marker matches, renders views for assets built
without them, and rebuilds the rest. The index and the stacked arrays are then
rewritten from the per-asset files (see :mod:`scenewright.library.store`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import trimesh

from scenewright.errors import InputError
from scenewright.fileio import (atomic_dir, atomic_file, check_writable_parent, is_no_space, read_json,
                                refuse_overlap, remove_stale_temporaries, write_json)
from scenewright.library import derive, normalize
from scenewright.library.categories import CATEGORIES
from scenewright.library.sources import Collection, SourceItem, fetch_model, read_sources
from scenewright.library.store import FORMAT, RECORD_FIELDS
from scenewright.progress import make_progress
from scenewright.render import Renderer

# Bump when the per-asset processing changes in a way that alters its outputs.
ASSET_VERSION = 2


@dataclass(frozen=True)
class BuildSettings:
    """How each asset is processed (recorded in library.json; digests drive resume)."""
    n_samples: int = 8192               # surface samples per asset (area-weighted)
    seed: int = 0                       # sampling seed (same for every asset)
    voxel_grid: int = 32                # G of the (G, G, G) occupancy grid
    views: bool = True                  # render views (needs scenewright.render)
    view_size: int = 128                # S: views are S x S pixels
    view_yaws: int = 12                 # yaws evenly spaced over 360 degrees
    view_pitches_deg: tuple[float, ...] = (15.0, 40.0)   # degrees above horizontal
    view_fov_deg: float = 40.0
    missing_textures: str = "diffuse"   # "diffuse": keep, use the MTL colour (as SH3D does);
                                        # "skip": report the asset as broken and leave it out
    max_texture: int = 1024             # px, largest side of one part's texture
    max_atlas: int = 2048               # px, largest side of the packed atlas

    def __post_init__(self):
        if self.missing_textures not in ("diffuse", "skip"):
            raise InputError(f"missing_textures must be 'diffuse' or 'skip', got {self.missing_textures!r}")
        for name in ("n_samples", "voxel_grid", "view_size", "view_yaws", "max_texture", "max_atlas"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"build setting {name} must be positive")

    @property
    def view_spec(self) -> derive.ViewSpec:
        return derive.ViewSpec(self.view_size, self.view_yaws, tuple(self.view_pitches_deg), self.view_fov_deg)

    def geometry_digest(self) -> str:
        keys = ("n_samples", "seed", "voxel_grid", "missing_textures", "max_texture", "max_atlas")
        return _digest({"v": ASSET_VERSION, **{k: getattr(self, k) for k in keys}})

    def views_digest(self) -> str:
        return _digest({"v": ASSET_VERSION, **dataclasses.asdict(self.view_spec)})


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class BuildReport:
    out: Path
    n_assets: int = 0                   # assets in the index
    built: int = 0                      # processed from the source this run
    reused: int = 0                     # finished earlier and unchanged
    views_added: int = 0                # reused assets that got their views this run
    without_views: int = 0              # assets in the index without views
    skipped: list[dict] = field(default_factory=list)   # {asset_id, reason}
    warnings: list[dict] = field(default_factory=list)  # {asset_id, warning}
    per_catalog: dict = field(default_factory=dict)     # {catalog: {items, excluded, selected, kept, skipped}}
    timings_s: dict = field(default_factory=dict)
    index_kept: bool = False            # all selected assets failed: the old index was kept

    def summary(self) -> str:
        return (f"{self.out}: {self.n_assets} assets ({self.built} built, {self.reused} reused, "
                f"{self.views_added} got views), {len(self.skipped)} skipped, "
                f"{self.without_views} without views, {self.timings_s.get('total', 0):.1f} s"
                + (" — every asset failed, the previous index was kept" if self.index_kept else ""))


# ---------------------------------------------------------------------------------
# worker side

_RENDERERS: dict = {}


def _renderer(size: int):
    """This process's renderer (one EGL context per worker), or None if unavailable."""
    if size not in _RENDERERS:
        try:
            _RENDERERS[size] = Renderer(size, size)
        except Exception as exc:  # no renderer module yet, or no EGL: build without views
            _RENDERERS[size] = None
            _RENDERERS["error"] = f"{type(exc).__name__}: {exc}"
    return _RENDERERS[size]


def _size_m(item: SourceItem) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in (item.width, item.height, item.depth)])


def _descriptive(item: SourceItem) -> dict:
    """An asset's metadata that does not depend on its geometry."""
    return {"asset_id": item.asset_id, "name": item.name, "category": item.category,
            "source_category": item.source_category, "catalog": item.catalog,
            "creator": item.creator, "license": item.license}


def _write_views(folder: Path, views: dict) -> None:
    with atomic_file(folder / "views.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **views)


def _try_views(mesh, settings: BuildSettings, timings: dict) -> dict | None:
    if not settings.views:
        return None
    t = time.perf_counter()
    views = None
    for attempt in range(2):
        renderer = _renderer(settings.view_size)
        if renderer is None:
            return None
        try:
            views = derive.render_views(renderer, mesh, settings.view_spec)
            break
        except Exception as exc:
            # a GL failure is the renderer's, not the asset's: try a fresh context once,
            # then keep the asset without views (the next build run adds them)
            _RENDERERS.pop(settings.view_size, None)
            if attempt == 1:
                _RENDERERS[settings.view_size] = None
                _RENDERERS["error"] = f"{type(exc).__name__}: {exc}"
                return None
    timings["views"] = time.perf_counter() - t
    if not views["mask"].any():
        raise InputError("rendered views are empty (the mesh is not visible)")
    return views


def process_item(item: SourceItem, out: str, settings: BuildSettings) -> dict:
    """Build (or reuse) one asset folder. Never raises: failures come back as status 'failed'."""
    try:
        return _process_item(item, Path(out), settings)
    except Exception as exc:
        return {"asset_id": item.asset_id, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                "no_space": is_no_space(exc)}


def _process_item(item: SourceItem, out: Path, settings: BuildSettings) -> dict:

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    folder = out / "assets" / item.folder_name
    done_path = folder / "done.json"
    geometry, views_digest = settings.geometry_digest(), settings.views_digest()
    with tempfile.TemporaryDirectory(prefix="sw-asset-") as tmp:
        model, content_hash = fetch_model(item, Path(tmp))
        done = None
        if done_path.is_file():
            try:
                done = json.loads(done_path.read_text())
            except (OSError, json.JSONDecodeError):
                done = None
        if done and done.get("content_hash") == content_hash and done.get("geometry") == geometry:
            meta = read_json(folder / "meta.json")
            # descriptive fields come from the current rules (categories.py may have changed)
            current = _descriptive(item)
            if any(meta.get(k) != v for k, v in current.items()):
                meta.update(current)
                write_json(folder / "meta.json", meta)
            if not settings.views or done.get("views") == views_digest:
                return {"asset_id": item.asset_id, "status": "reused", "meta": meta}
            mesh = trimesh.load(folder / "mesh.glb", force="mesh", process=False)
            views = _try_views(mesh, settings, timings)
            if views is None:
                return {"asset_id": item.asset_id, "status": "reused", "meta": meta,
                        "views_error": _RENDERERS.get("error")}
            _write_views(folder, views)
            meta["has_views"] = True
            meta["timings_s"]["views"] = timings["views"]
            write_json(folder / "meta.json", meta)
            write_json(done_path, {**done, "views": views_digest})
            return {"asset_id": item.asset_id, "status": "views_added", "meta": meta}

        warnings = []
        missing = normalize.missing_textures(model)
        if missing:
            if settings.missing_textures == "skip":
                raise InputError(f"missing texture(s): {', '.join(missing)}")
            warnings.append(f"missing texture(s) {', '.join(missing)}: diffuse colour used")
        t = time.perf_counter()
        parts = normalize.load_parts(model)
        timings["load"] = time.perf_counter() - t
        t = time.perf_counter()
        normalize.MAX_TEXTURE, normalize.MAX_ATLAS = settings.max_texture, settings.max_atlas
        mesh = normalize.normalize_mesh(parts, _size_m(item), np.asarray(item.rotation).reshape(3, 3))
        timings["normalize"] = time.perf_counter() - t

    with atomic_dir(folder, overwrite=True) as tmpdir:
        t = time.perf_counter()
        mesh.export(tmpdir / "mesh.glb")
        # everything below derives from the stored mesh, exactly what users will load
        mesh = trimesh.load(tmpdir / "mesh.glb", force="mesh", process=False)
        if len(mesh.faces) == 0:
            raise InputError("the stored mesh has no faces")
        timings["export"] = time.perf_counter() - t
        t = time.perf_counter()
        points, normals = derive.surface_samples(mesh, settings.n_samples, settings.seed)
        np.save(tmpdir / "samples.npy", np.concatenate([points, normals], axis=1))
        timings["samples"] = time.perf_counter() - t
        t = time.perf_counter()
        dense, _ = derive.surface_samples(mesh, max(50_000, settings.voxel_grid ** 3), settings.seed + 1)
        occupancy, _, _ = derive.voxelize(dense, mesh.extents, settings.voxel_grid)
        np.save(tmpdir / "voxels.npy", occupancy)
        timings["voxels"] = time.perf_counter() - t
        views = _try_views(mesh, settings, timings)
        if views is not None:
            _write_views(tmpdir, views)
        extents = mesh.extents
        meta = {
            **_descriptive(item),
            "width": float(extents[0]), "height": float(extents[1]), "depth": float(extents[2]),
            "content_hash": content_hash,
            "folder": f"assets/{item.folder_name}", "n_faces": int(len(mesh.faces)),
            "has_views": views is not None, "catalog_size_m": _size_m(item).tolist(),
            "rotation": list(item.rotation), "warnings": warnings,
            "timings_s": {**timings, "total": time.perf_counter() - t0},
        }
        write_json(tmpdir / "meta.json", meta)
        write_json(tmpdir / "done.json", {"content_hash": content_hash, "geometry": geometry,
                                          "views": views_digest if views is not None else None})
    result = {"asset_id": item.asset_id, "status": "built", "meta": meta}
    if settings.views and views is None:
        result["views_error"] = _RENDERERS.get("error")
    return result


# ---------------------------------------------------------------------------------
# parent side

def select_items(collections: list[Collection], only=None, categories=None, limit=None) -> list[SourceItem]:
    """The kept items to build, in catalog order, after ``only`` / ``categories`` / ``limit``."""
    items = [it for col in collections for it in col.items if not it.excluded]
    if only:
        wanted = set(only)
        known = {it.asset_id for col in collections for it in col.items}
        unknown = sorted(wanted - known)
        if unknown:
            raise InputError(f"--only: unknown asset id(s) {', '.join(unknown[:5])}")
        items = [it for it in items if it.asset_id in wanted]
    if categories:
        bad = sorted(set(categories) - set(CATEGORIES))
        if bad:
            raise InputError(f"--categories: unknown categories {', '.join(bad)} "
                             f"(known: {', '.join(CATEGORIES)})")
        items = [it for it in items if it.category in set(categories)]
    if limit is not None:
        items = items[: max(0, int(limit))]
    return items


def _check_out(out: Path, sources) -> None:
    """What can be checked about the library folder before reading any source."""
    from scenewright.library.sources import DEFAULT_CATALOG_DIR
    refuse_overlap(out, list(sources) if sources else [DEFAULT_CATALOG_DIR])
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "library.json").is_file():
        raise InputError(f"{out}: folder exists, is not empty and is not a library; choose another -o")
    check_writable_parent(out)


def _prepare_out(out: Path) -> None:
    try:
        (out / "assets").mkdir(parents=True, exist_ok=True)
        (out / "licenses").mkdir(exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{out}: output folder is not writable ({exc.strerror})") from None
    # temporaries of a killed earlier build (half-built asset folders, index files)
    for folder in (out, out / "licenses", *(p for p in (out / "assets").iterdir() if p.is_dir())):
        remove_stale_temporaries(folder)


def _run_pool(items: list[SourceItem], workers: int, out: str, settings: BuildSettings,
              handle) -> list[SourceItem]:
    """Process ``items`` in a fresh pool; returns those lost to a dead worker, in order."""
    broken = []
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        futures = {pool.submit(process_item, it, out, settings): i for i, it in enumerate(items)}
        for fut in as_completed(futures):
            try:
                handle(fut.result())
            except BrokenProcessPool:
                broken.append(futures[fut])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [items[i] for i in sorted(broken)]


def _run_in_pools(items, workers: int, out: str, settings: BuildSettings, handle) -> None:
    """Process ``items`` with ``workers`` spawned processes, surviving dead workers.

    A worker killed by a crash (a segfault in a GL driver, the OOM killer) breaks the
    whole pool. The items it took down are redone: all but the first ``workers + 1``
    (the ones that may have been in flight, as the pool feeds items in order) in a new
    pool, then each suspect alone in its own pool, so only the culprit is reported.
    """
    broken = _run_pool(items, workers, out, settings, handle)
    if not broken:
        return
    suspects, rest = broken[: workers + 1], broken[workers + 1:]
    if rest:
        _run_in_pools(rest, workers, out, settings, handle)
    for it in suspects:
        if _run_pool([it], 1, out, settings, handle):
            handle({"asset_id": it.asset_id, "status": "failed",
                    "reason": "the worker process died while processing it (crash)"})


def build_library(out, sources=None, workers: int = 2, limit: int | None = None, only=None,
                  progress: bool = True, categories=None,
                  settings: BuildSettings | None = None, address: str | None = None) -> BuildReport:
    """Build (or resume) a library in ``out`` from ``sources`` (.sh3f files and/or folders
    with assets.csv; default: every catalog in /usr/share/sweethome3d/furniture).

    Bad inputs (a truncated or unknown catalog, an unwritable ``out``) raise InputError
    before any work; a broken asset is reported in ``BuildReport.skipped`` and left out.
    ``address`` (``local``, ``auto``, ``HOST:PORT``): build the assets as Ray tasks
    (:mod:`scenewright.library.distributed`) instead of ``workers`` local processes.
    """
    settings = settings or BuildSettings()
    t_start = time.perf_counter()
    out = Path(out)
    _check_out(out, sources)
    collections = read_sources(sources)
    items = select_items(collections, only, categories, limit)
    _prepare_out(out)
    previous = read_json(out / "library.json") if (out / "library.json").is_file() else {}
    write_json(out / "library.json", {**previous, "format": FORMAT, "status": "building"})
    for col in collections:
        header = f"{col.title} ({col.path.name})\nCatalog license: {col.license or 'see below'}\n\n"
        with atomic_file(out / "licenses" / f"{col.name}.txt") as tmp:
            tmp.write_text(header + col.license_text)
    t_read = time.perf_counter() - t_start

    report = BuildReport(out=out)
    results: dict[str, dict] = {}
    t = time.perf_counter()
    with make_progress(progress, "library", eta=True) as bar:
        task = bar.add_task("", total=len(items))

        def handle(res: dict) -> None:
            if res.get("no_space"):
                # every later asset would fail the same way; what is built stays (the next run resumes)
                raise InputError(f"{out}: no space left on device (building {res['asset_id']}: {res['reason']})")
            results[res["asset_id"]] = res
            bar.update(task, advance=1, description=f"{res['status']:11s} {res['asset_id']}")

        if address:
            from scenewright.library.distributed import run_on_ray
            run_on_ray(items, str(out), settings, handle, address, num_cpus=int(workers) if address == "local" else None)
        elif workers <= 1 or len(items) <= 1:
            for it in items:
                handle(process_item(it, str(out), settings))
        else:
            _run_in_pools(items, int(workers), str(out), settings, handle)
    t_assets = time.perf_counter() - t

    t = time.perf_counter()
    records, view_errors = [], set()
    for it in items:
        res = results[it.asset_id]
        if res["status"] == "failed":
            report.skipped.append({"asset_id": it.asset_id, "reason": res["reason"]})
            continue
        report.built += res["status"] == "built"
        report.reused += res["status"] == "reused"
        report.views_added += res["status"] == "views_added"
        if res.get("views_error"):
            view_errors.add(res["views_error"])
        meta = res["meta"]
        for w in meta.get("warnings", []):
            report.warnings.append({"asset_id": it.asset_id, "warning": w})
        records.append(meta)
    if records or not items or not (out / "index.sqlite").is_file():
        _write_index(out, records)
        write_retrieval_index(out, progress)
    else:
        # every selected asset failed (a systemic problem, not bad assets): keep the
        # previous index, which still matches the asset folders left untouched
        report.index_kept = True
    report.n_assets = len(records)
    report.without_views = sum(not m["has_views"] for m in records)

    kept_ids = {m["asset_id"] for m in records}
    selected = {it.asset_id for it in items}
    for col in collections:
        report.per_catalog[col.name] = {
            "items": len(col.items),
            "excluded": sum(bool(it.excluded) for it in col.items),
            "selected": sum(it.asset_id in selected for it in col.items),
            "kept": sum(it.asset_id in kept_ids for it in col.items),
            "skipped": sum(it.asset_id in selected and it.asset_id not in kept_ids for it in col.items),
        }
    report.timings_s = {"read_sources": t_read, "assets": t_assets,
                        "index": time.perf_counter() - t, "total": time.perf_counter() - t_start}
    asset_times = [m["timings_s"] for m in records if m.get("timings_s")]
    write_json(out / "library.json", {
        "format": FORMAT, "status": "complete",
        "settings": dataclasses.asdict(settings),
        "sources": [{"name": c.name, "path": str(c.path), "kind": c.kind, "title": c.title,
                     "license": c.license} for c in collections],
        "selection": {"limit": limit, "only": list(only) if only else None,
                      "categories": list(categories) if categories else None},
        "workers": int(workers), "address": address,
        "counts": {"assets": report.n_assets, "built": report.built, "reused": report.reused,
                   "views_added": report.views_added, "skipped": len(report.skipped),
                   "without_views": report.without_views},
        "per_catalog": report.per_catalog, "index_kept": report.index_kept,
        "skipped": report.skipped, "warnings": report.warnings,
        "views_unavailable": sorted(view_errors),
        "view_spec": dataclasses.asdict(settings.view_spec),
        "timings_s": report.timings_s,
        # every run's counts and timings (the last run alone hides a full build's cost)
        "runs": previous.get("runs", []) + [{
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "workers": int(workers),
            "selected": len(items), "built": report.built, "reused": report.reused,
            "views_added": report.views_added, "skipped": len(report.skipped),
            "timings_s": report.timings_s}],
        "mean_asset_timings_s": {k: float(np.mean([a.get(k, 0.0) for a in asset_times]))
                                 for k in ("load", "normalize", "export", "samples", "voxels", "views", "total")}
        if asset_times else {},
    })
    return report


def write_retrieval_index(out: Path, progress: bool = False) -> Path:
    """(Re)write ``LIB/index/`` (see :mod:`scenewright.library.index`) from the library's files."""
    from scenewright.library.index import build_index
    from scenewright.library.store import Library
    return build_index(Library.open(out), progress=progress)


_SQL_TYPES = {"width": "REAL", "height": "REAL", "depth": "REAL", "row": "INTEGER",
              "n_faces": "INTEGER", "has_views": "INTEGER"}


def _write_index(out: Path, metas: list[dict]) -> None:
    """Rewrite the stacked arrays and index.sqlite from the per-asset files.

    The arrays get fresh names (``samples-<build>.npy``) and the index, replaced last,
    names them: a reader opening the library during a rebuild sees either the old
    index with the old arrays or the new with the new, never a mix.
    """

    build_id = f"{time.time_ns():x}"
    names = {"samples": f"samples-{build_id}.npy", "voxels": f"voxels-{build_id}.npy"}
    for key, dtype in (("samples", np.float32), ("voxels", bool)):
        arrays = [np.load(out / m["folder"] / f"{key}.npy", allow_pickle=False) for m in metas]
        with atomic_file(out / names[key]) as tmp:
            if arrays:
                stacked = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype,
                                                    shape=(len(arrays),) + arrays[0].shape)
                # reserve the blocks now: a full disk is then an OSError here, not a SIGBUS
                # when a page of the (sparse) mapping is first written
                with open(tmp, "r+b") as f:
                    os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
                for i, a in enumerate(arrays):
                    stacked[i] = a
                stacked.flush()
                del stacked
            else:
                np.save(tmp, np.zeros((0, 0, 0) if key == "samples" else (0, 0, 0, 0), dtype=dtype))
    with atomic_file(out / "index.sqlite") as tmp:
        rows = [tuple(row if k == "row" else meta[k] for k in RECORD_FIELDS) for row, meta in enumerate(metas)]
        write_asset_table(tmp, rows, names)
    # older stacked arrays: readers that mapped them keep their mapping (POSIX unlink)
    for old in list(out.glob("samples*.npy")) + list(out.glob("voxels*.npy")):
        if old.name not in names.values():
            old.unlink(missing_ok=True)


def write_asset_table(path: Path, rows: list[tuple], names: dict) -> None:
    """The library's ``index.sqlite`` at ``path``: one ``assets`` row per asset (``RECORD_FIELDS``
    order) and the ``meta`` table naming the stacked ``samples``/``voxels`` arrays in ``names``."""
    con = sqlite3.connect(path)
    try:
        cols = ", ".join(f"{k} {_SQL_TYPES.get(k, 'TEXT')}" + (" PRIMARY KEY" if k == "asset_id" else "")
                         for k in RECORD_FIELDS)
        con.execute(f"CREATE TABLE assets ({cols})")
        con.execute("CREATE INDEX assets_category ON assets(category)")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.executemany("INSERT INTO meta VALUES (?, ?)",
                        [("format", FORMAT), ("samples", names["samples"]), ("voxels", names["voxels"])])
        con.executemany(f"INSERT INTO assets VALUES ({', '.join('?' * len(RECORD_FIELDS))})", rows)
        con.commit()
    finally:
        con.close()
