"""The library's retrieval index: what retrieval and pose read per asset, precomputed.

``LIB/index/`` (``INDEX_FORMAT = "library-index/1"``), written by ``library build`` (and
added to an existing library, without rendering anything, by ``library build --reuse``)::

    index.json          format, the stacked-array build it was made from, settings, category
                        names, view count, per-file shapes
    ids.npy             (A,) unicode asset ids, library row order
    ids_sorted.npy      (A,) the same ids sorted, and
    sorted_rows.npy     (A,) int64 their rows: ``row_of`` is a binary search (no dict of A keys)
    category_codes.npy  (A,) int32 index into index.json "categories"
    sizes.npy           (A, 3) float64 width, height, depth (metres)
    has_views.npy       (A,) bool
    points.npy          (A, P, 6) float32 the P = ``n_points`` surface samples retrieval scores
                        with (xyz, normal xyz; object frame), the same seeded subsample
                        :class:`scenewright.methods.layout.retrieval.LibraryIndex` draws
    features-classical.npy  (A, V, D) float32 classical appearance descriptors of every view
                        (:class:`scenewright.methods.layout.features.ClassicalFeatures`)
    view_angles.npy     (A, V, 2) float64 yaw and pitch (degrees) of those views

Every file is opened with ``np.load(mmap_mode="r")``: opening costs a few file headers
whatever the library size, and a candidate's rows are paged in when retrieval reads
them, so memory in use grows with the candidates looked at, not with the library.
Before this index, retrieval decoded each candidate's ``views.npz`` (24 PNG-sized
images) and computed its descriptors on every cold start: ~2 s of a 5-7 s run.

The index is tied to the stacked arrays it was built from (``source`` = their file
name, which changes with every build); a stale or missing index is ignored (retrieval
then computes what it needs as before, with the same results).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, read_json, write_json

INDEX_FORMAT = "library-index/1"
INDEX_DIR = "index"
log = logging.getLogger("scenewright.library")


@dataclass(frozen=True)
class IndexSettings:
    """What the index precomputes; must match the layout method's settings to be used."""
    n_points: int = 384          # RetrievalSettings.n_points
    seed: int = 0                # LayoutSettings.seed (the subsample of asset row r uses seed + r)
    features: str = "classical"  # appearance descriptors stored (DINOv2 needs weights: not stored)


def subsample_rows(n_samples: int, n_points: int, seed: int, row: int) -> np.ndarray | None:
    """Indices of the ``n_points`` samples retrieval uses for library row ``row`` (None: all of them).

    The one definition of the seeded subsample, shared by the index build and by
    retrieval's fallback when no index is there.
    """
    if n_samples <= n_points:
        return None
    return np.random.default_rng(seed + row).choice(n_samples, n_points, replace=False)


def source_name(library) -> str:
    """File name of the library's stacked samples (unique per build: see build._write_index)."""
    return Path(getattr(library.all_samples, "filename", "") or "").name


def asset_rows(library, row: int, record, settings: IndexSettings, extractor, n_views: int):
    """Index rows of one asset: points (P, 6) float32, count, features (V, D), angles (V, 2), has_views."""
    from scenewright.methods.layout.features import crop_to_mask

    block = np.asarray(library.all_samples[row], np.float32)
    idx = subsample_rows(len(block), settings.n_points, settings.seed, row)
    pts = block if idx is None else block[idx]
    points = np.zeros((settings.n_points, 6), np.float32)
    points[: len(pts)] = pts
    dim = 152 + 2 * extractor.shape_size ** 2
    feats, angles = np.zeros((n_views, dim), np.float32), np.zeros((n_views, 2))
    has_views = bool(record.has_views) and library.asset_problem(record.asset_id) is None
    if has_views:
        views = library.views(record.asset_id)
        crops = [crop_to_mask(views.rgb[i], views.mask[i]) for i in range(len(views.mask))]
        f = extractor([c[0] for c in crops], [c[1] for c in crops])
        if len(f) != n_views:
            raise InputError(f"{library.folder / record.folder}: {len(f)} views, the library's others have "
                             f"{n_views}; rebuild the library")
        feats[:] = f
        angles[:, 0], angles[:, 1] = views.yaw_deg, views.pitch_deg
    return points, len(pts), feats, angles, has_views


def build_index(library, settings: IndexSettings | None = None, progress: bool = False) -> Path:
    """Write ``LIB/index/`` for an open :class:`~scenewright.library.store.Library`; returns its path.

    Reads only the library's own files (stacked samples, views.npz): nothing is rendered.
    About 30 ms per asset on one core (decoding the views and their descriptors).
    """
    from scenewright.methods.layout.features import ClassicalFeatures

    settings = settings or IndexSettings()
    if settings.features != "classical":
        raise InputError(f"{library.folder}: index features {settings.features!r}: only 'classical' is stored")
    t0 = time.perf_counter()
    extractor = ClassicalFeatures()
    records = list(library.records)
    A = len(records)
    n_views = int(len(library.info.get("view_spec", {}).get("pitches_deg", (15.0, 40.0)))
                  * library.info.get("view_spec", {}).get("yaws", 12))
    for r in records:     # the views actually stored win over the documented spec
        if r.has_views and library.asset_problem(r.asset_id) is None:
            n_views = len(library.views(r.asset_id).yaw_deg)
            break
    dim = 152 + 2 * extractor.shape_size ** 2
    categories = sorted({r.category for r in records})
    code = {c: i for i, c in enumerate(categories)}
    ids = np.array([r.asset_id for r in records], dtype=f"<U{max([len(r.asset_id) for r in records] + [1])}")
    order = np.argsort(ids, kind="stable")
    target = Path(library.folder) / INDEX_DIR
    with atomic_dir(target, overwrite=True) as tmp:
        np.save(tmp / "ids.npy", ids)
        np.save(tmp / "ids_sorted.npy", ids[order])
        np.save(tmp / "sorted_rows.npy", order.astype(np.int64))
        np.save(tmp / "category_codes.npy", np.array([code[r.category] for r in records], np.int32))
        np.save(tmp / "sizes.npy", np.array([[r.width, r.height, r.depth] for r in records], float).reshape(-1, 3))
        points = np.lib.format.open_memmap(tmp / "points.npy", "w+", np.float32, (A, settings.n_points, 6))
        feats = np.lib.format.open_memmap(tmp / f"features-{settings.features}.npy", "w+", np.float32,
                                          (A, n_views, dim))
        angles = np.lib.format.open_memmap(tmp / "view_angles.npy", "w+", np.float64, (A, n_views, 2))
        counts = np.zeros(A, np.int64)
        has_views = np.zeros(A, bool)
        bar = _progress(progress, A)
        for row, rec in enumerate(records):
            points[row], counts[row], feats[row], angles[row], has_views[row] = asset_rows(
                library, row, rec, settings, extractor, n_views)
            library.views.cache_clear()      # one asset's views at a time: memory stays flat
            bar(row + 1)
        for a in (points, feats, angles):
            a.flush()
        del points, feats, angles
        np.save(tmp / "point_counts.npy", counts)
        np.save(tmp / "has_views.npy", has_views)
        write_json(tmp / "index.json", {
            "format": INDEX_FORMAT, "source": source_name(library), "assets": A,
            "settings": dataclasses.asdict(settings), "categories": categories,
            "views": n_views, "feature_dim": dim,
            "build_s": round(time.perf_counter() - t0, 3)})
    return target


def _progress(enabled: bool, total: int):
    if not enabled:
        return lambda done: None
    step = max(total // 20, 1)

    def show(done: int) -> None:
        if done % step == 0 or done == total:
            print(f"index {done}/{total}", flush=True)
    return show


class ArrayIndex:
    """Read access to ``LIB/index/``: every array memory-mapped, opened in constant time."""

    def __init__(self, folder: Path, info: dict):
        self.folder = folder
        self.info = info
        self.settings = IndexSettings(**info["settings"])
        load = lambda name: np.load(folder / name, mmap_mode="r", allow_pickle=False)   # noqa: E731
        self.ids = load("ids.npy")
        self._ids_sorted = load("ids_sorted.npy")
        self._sorted_rows = load("sorted_rows.npy")
        self.category_codes = load("category_codes.npy")
        self.category_names = np.array(info["categories"] or [""])
        self.sizes = load("sizes.npy")
        self.has_views = load("has_views.npy")
        self.points = load("points.npy")
        self.point_counts = load("point_counts.npy")
        self.features = {self.settings.features: load(f"features-{self.settings.features}.npy")}
        self.view_angles = load("view_angles.npy")
        A = len(self.ids)
        if any(len(a) != A for a in (self._ids_sorted, self._sorted_rows, self.category_codes, self.sizes,
                                     self.has_views, self.points, self.point_counts, self.view_angles,
                                     *self.features.values())):
            raise InputError(f"{folder}: index arrays disagree in length (rebuild it: library build --reuse)")

    @classmethod
    def open(cls, library) -> "ArrayIndex | None":
        """The index of ``library`` if present and made from its current arrays, else None."""
        folder = Path(library.folder) / INDEX_DIR
        meta = folder / "index.json"
        if not meta.is_file():
            return None
        try:
            info = read_json(meta)
        except InputError as exc:
            log.warning("%s; the index is ignored (rebuild it: library build --reuse)", exc)
            return None
        if info.get("format") != INDEX_FORMAT or info.get("source") != source_name(library):
            log.info("%s: index made for another build of the library; ignored", folder)
            return None
        try:
            return cls(folder, info)
        except (OSError, ValueError, KeyError, InputError) as exc:
            log.warning("%s: index unreadable (%s); ignored (rebuild it: library build --reuse)", folder, exc)
            return None

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, asset_id: str) -> int | None:
        """Library row of ``asset_id`` (binary search in the sorted ids), None if absent."""
        i = int(np.searchsorted(self._ids_sorted, asset_id))
        if i < len(self._ids_sorted) and self._ids_sorted[i] == asset_id:
            return int(self._sorted_rows[i])
        return None

    def categories(self) -> np.ndarray:
        """(A,) unicode category per row."""
        return self.category_names[np.asarray(self.category_codes)]

    def asset_points(self, row: int) -> np.ndarray:
        """(n, 6) float32 retrieval samples of library row ``row`` (a copy off the mapping)."""
        return np.array(self.points[row, : int(self.point_counts[row])])

    def view_features(self, row: int, kind: str = "classical"):
        """(V, D) float32 descriptors, yaw (V,), pitch (V,) of row ``row``; None if not stored."""
        feats = self.features.get(kind)
        if feats is None:
            return None
        if not self.has_views[row]:
            return np.zeros((0, 1), np.float32), np.zeros(0), np.zeros(0)
        angles = np.array(self.view_angles[row])
        return np.array(feats[row]), angles[:, 0], angles[:, 1]


def open_index(library) -> ArrayIndex | None:
    """:meth:`ArrayIndex.open` for a Library, or for the full library behind a subset view
    (``.library``; its rows are the full library's, so callers look assets up by id)."""
    from scenewright.library.store import Library
    base = library if isinstance(library, Library) else getattr(library, "library", None)
    if not isinstance(base, Library):
        return None
    return ArrayIndex.open(base)
