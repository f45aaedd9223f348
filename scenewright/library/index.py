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
    render-*.npy        what the pose renders draw (:class:`scenewright.render.meshprep.PreparedMesh`
                        of each asset's mesh, its texture at most ``render_texture_side`` pixels):
                        ``render-vertices`` (N,) interleaved vertices, ``render-indices`` (F, 3)
                        uint32, ``render-texels`` (T,) uint8 RGBA rows bottom-up, all assets
                        concatenated; ``render-spans`` (A, 6) int64 each asset's [start, end) in
                        those three; ``render-textures`` (A, 2) int32 texture height, width (0: none);
                        ``render-materials`` (A, 5) float32 base colour RGBA, alpha cutoff;
                        ``render-flags`` (A, 4) bool smooth, colored, has material, indexed

Every file is opened with ``np.load(mmap_mode="r")``: opening costs a few file headers
whatever the library size, and a candidate's rows are paged in when retrieval reads
them, so memory in use grows with the candidates looked at, not with the library.
Before this index, retrieval decoded each candidate's ``views.npz`` (24 PNG-sized
images) and computed its descriptors on every cold start: ~2 s of a 5-7 s run. Before the
render meshes, every pose candidate's ``mesh.glb`` was parsed, its texture atlas (up to
2048² PNG) decoded and hashed, and the GPU built its full mip chain: ~40-90 ms per
candidate, for a 96-pixel render that never samples the finest levels.

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
# The pose renders' windows are 96 pixels: a texture side of 256 leaves the mip level they
# sample unchanged for all but the closest, most stretched atlases (bench: no pose changed
# for the worse, see docs/library.md).
RENDER_TEXTURE_SIDE = 256
log = logging.getLogger("scenewright.library")


@dataclass(frozen=True)
class IndexSettings:
    """What the index precomputes; must match the layout method's settings to be used."""
    n_points: int = 384          # RetrievalSettings.n_points
    seed: int = 0                # LayoutSettings.seed (the subsample of asset row r uses seed + r)
    features: str = "classical"  # appearance descriptors stored (DINOv2 needs weights: not stored)
    render_texture_side: int = RENDER_TEXTURE_SIDE   # render meshes' largest texture side (pixels)


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
        rendered = write_render_meshes(library, records, tmp, settings.render_texture_side, progress)
        write_json(tmp / "index.json", {
            "format": INDEX_FORMAT, "source": source_name(library), "assets": A,
            "settings": dataclasses.asdict(settings), "categories": categories,
            "views": n_views, "feature_dim": dim, "render": rendered,
            "build_s": round(time.perf_counter() - t0, 3)})
    return target


class _Concatenated:
    """An .npy file of rows appended one block at a time (total length unknown up front):
    blocks go to a raw file, which :meth:`finish` wraps with the .npy header."""

    def __init__(self, path: Path, dtype, row_shape: tuple = ()):
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), tuple(row_shape)
        self.raw = path.with_suffix(".raw")
        self.file = open(self.raw, "wb")
        self.rows = 0

    def append(self, block: np.ndarray) -> tuple[int, int]:
        """Append ``block`` (n, *row_shape); returns its [start, end) rows."""
        block = np.ascontiguousarray(block, self.dtype).reshape((-1, *self.row_shape))
        self.file.write(block.tobytes())
        start, self.rows = self.rows, self.rows + len(block)
        return start, self.rows

    def finish(self) -> None:
        self.file.close()
        out = np.lib.format.open_memmap(self.path, "w+", self.dtype, (self.rows, *self.row_shape))
        if self.rows:
            out[:] = np.memmap(self.raw, self.dtype, "r", shape=(self.rows, *self.row_shape))
        out.flush()
        del out
        self.raw.unlink()


def write_render_meshes(library, records, folder: Path, texture_side: int, progress: bool = False) -> dict:
    """Write the ``render-*.npy`` files of ``records`` into ``folder``; returns what index.json
    records about them. An asset whose files are damaged gets an empty render mesh (retrieval
    skips it anyway)."""
    from scenewright.render.meshprep import VERTEX_DTYPE, prepare_mesh

    A = len(records)
    vertices = _Concatenated(folder / "render-vertices.npy", VERTEX_DTYPE)
    indices = _Concatenated(folder / "render-indices.npy", np.uint32, (3,))
    texels = _Concatenated(folder / "render-texels.npy", np.uint8)
    spans = np.zeros((A, 6), np.int64)
    textures = np.zeros((A, 2), np.int32)
    materials = np.zeros((A, 5), np.float32)
    flags = np.zeros((A, 4), bool)
    bar = _progress(progress, A, "render meshes")
    for row, rec in enumerate(records):
        if library.asset_problem(rec.asset_id) is None:
            prepared = prepare_mesh(library.mesh(rec.asset_id), max_texture_side=texture_side)
            library.mesh.cache_clear()       # one mesh at a time: memory stays flat
            spans[row, 0:2] = vertices.append(prepared.vertices)
            spans[row, 2:4] = indices.append(prepared.indices if prepared.indices is not None
                                             else np.zeros((0, 3), np.uint32))
            if prepared.texture is not None:
                spans[row, 4:6] = texels.append(prepared.texture.reshape(-1))
                textures[row] = prepared.texture.shape[:2]
            else:
                spans[row, 4:6] = texels.rows
            materials[row, :4], materials[row, 4] = prepared.base_color, prepared.alpha_cutoff
            flags[row] = (prepared.smooth, prepared.colored, prepared.has_material, prepared.indices is not None)
        else:
            spans[row] = (vertices.rows, vertices.rows, indices.rows, indices.rows, texels.rows, texels.rows)
        bar(row + 1)
    for part in (vertices, indices, texels):
        part.finish()
    np.save(folder / "render-spans.npy", spans)
    np.save(folder / "render-textures.npy", textures)
    np.save(folder / "render-materials.npy", materials)
    np.save(folder / "render-flags.npy", flags)
    return {"texture_side": int(texture_side), "vertices": vertices.rows, "triangles": indices.rows,
            "texel_bytes": texels.rows}


def _progress(enabled: bool, total: int, what: str = "index"):
    if not enabled:
        return lambda done: None
    step = max(total // 20, 1)

    def show(done: int) -> None:
        if done % step == 0 or done == total:
            print(f"{what} {done}/{total}", flush=True)
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
        self.render = None          # the render meshes' arrays (an index written before them has none)
        if info.get("render"):
            self.render = {k: load(f"render-{k}.npy") for k in
                           ("vertices", "indices", "texels", "spans", "textures", "materials", "flags")}
        per_asset = [self.render[k] for k in ("spans", "textures", "materials", "flags")] if self.render else []
        if any(len(a) != A for a in (self._ids_sorted, self._sorted_rows, self.category_codes, self.sizes,
                                     self.has_views, self.points, self.point_counts, self.view_angles,
                                     *self.features.values(), *per_asset)):
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

    @property
    def render_texture_side(self) -> int | None:
        """Largest texture side of the stored render meshes (None: the index has none)."""
        return int(self.info["render"]["texture_side"]) if self.render else None

    def render_mesh(self, row: int):
        """The :class:`~scenewright.render.meshprep.PreparedMesh` of library row ``row`` as the
        index stores it (arrays copied off the mapping), or None (no render meshes stored, or
        none for this asset)."""
        from scenewright.render.meshprep import PreparedMesh

        if self.render is None:
            return None
        r = self.render
        v0, v1, i0, i1, t0, t1 = (int(x) for x in r["spans"][row])
        if v1 == v0:
            return None
        smooth, colored, has_material, indexed = (bool(x) for x in r["flags"][row])
        h, w = (int(x) for x in r["textures"][row])
        material = np.array(r["materials"][row])
        return PreparedMesh(
            vertices=np.array(r["vertices"][v0:v1]),
            indices=np.array(r["indices"][i0:i1]) if indexed else None,
            texture=np.array(r["texels"][t0:t1]).reshape(h, w, 4) if h else None,
            base_color=material[:4], smooth=smooth, alpha_cutoff=float(material[4]),
            colored=colored, has_material=has_material)

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
