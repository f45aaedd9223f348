"""The library folder and its reader, :class:`Library`.

Layout (``FORMAT = "library/1"``)::

    LIB/
      library.json        format, build settings, timings, per-catalog counts, skipped assets
      index.sqlite        table ``assets``: one row per asset (the AssetRecord fields);
                          table ``meta``: format and the stacked arrays' file names
      samples-<build>.npy (A, N, 6) float32: surface points xyz, normals xyz (object frame)
      voxels-<build>.npy  (A, G, G, G) bool occupancy, indexed (x, y, z)
                          (named per build in the index's meta table: see build._write_index)
      licenses/<catalog>.txt           each catalog's LICENSE.TXT (CC-BY attribution)
      assets/<catalog>/<id>/
        mesh.glb          normalised mesh, textures embedded
        samples.npy, voxels.npy        the asset's own copies (the stacked files are
                                       rebuilt from them after every build)
        views.npz         rgb, mask, depth, K, camera_from_object, yaw_deg, pitch_deg
        meta.json         the asset's record, content hash, timings
        done.json         written last: content hash + settings digest (resume marker)

Why SQLite: it is in Python's standard library (the installed pyarrow is built
for NumPy 2 and does not import beside the pinned NumPy 1.26), it is one file
any tool can query (``sqlite3 LIB/index.sqlite "select category, count(*) from
assets group by 1"``), keeps column types, and reading ~500 rows takes about a
millisecond. It is rewritten whole (atomically) at the end of each build;
resumability comes from the per-asset ``done.json`` markers.
The per-asset arrays are stacked into two ``.npy`` files opened with ``mmap``:
the layout method scores hundreds of assets per scene, and a memory-mapped
slice costs no copy and no parse.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import io
import logging
import sqlite3
import struct
import threading
import zipfile
from copy import deepcopy
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import trimesh

from scenewright.encoded_images import glb_images, remember_encoding
from scenewright.errors import InputError
from scenewright.fileio import read_json
from scenewright.lru import LRUCache

FORMAT = "library/1"
VIEW_KEYS = ("rgb", "mask", "depth", "K", "camera_from_object", "yaw_deg", "pitch_deg")
log = logging.getLogger("scenewright.library")


@dataclass(frozen=True)
class AssetRecord:
    """One asset of a library. Sizes are metres: x, y, z extents of the object frame."""
    asset_id: str
    name: str
    category: str
    source_category: str
    catalog: str
    width: float
    height: float
    depth: float
    creator: str
    license: str
    content_hash: str
    folder: str                 # relative to the library folder
    row: int                    # index into the stacked samples / voxels arrays
    n_faces: int
    has_views: bool

    @property
    def size(self) -> np.ndarray:
        """(3,) width, height, depth in metres."""
        return np.array([self.width, self.height, self.depth])


@dataclass(frozen=True)
class AssetViews:
    """Rendered views of one asset (see ``derive.ViewSpec`` for the viewpoints)."""
    rgb: np.ndarray                 # (V, S, S, 3) uint8
    mask: np.ndarray                # (V, S, S) bool
    depth: np.ndarray               # (V, S, S) float32 metres, NaN off the object
    K: np.ndarray                   # (3, 3)
    camera_from_object: np.ndarray  # (V, 4, 4) OpenCV
    yaw_deg: np.ndarray             # (V,)
    pitch_deg: np.ndarray           # (V,)


RECORD_FIELDS = [f.name for f in fields(AssetRecord)]


class Library:
    """Read access to a built library. Arrays are memory-mapped; meshes and views cached."""

    def __init__(self, folder: Path, info: dict, records: list[AssetRecord] | None = None,
                 database: "_AssetTable | None" = None):
        self.folder = folder
        self.info = info
        self._records = records
        self._by_id = None if records is None else {r.asset_id: r for r in records}
        self._table = database
        self._samples = None
        self._voxels = None
        self.mesh = _MeshCache(self._load_mesh, 64)                     # textures: ~MBs each
        self.views = functools.lru_cache(maxsize=64)(self._load_views)
        self._problems: dict[str, str | None] = {}

    @classmethod
    def open(cls, folder: str | Path, _retry: bool = True) -> "Library":
        """Open a library folder; InputError if it is missing, unfinished or not a library.

        Reads no asset record: ``record(id)`` looks one up in ``index.sqlite`` (kept open, so
        a rebuild replacing the file meanwhile does not mix builds), ``records`` reads them
        all on first use. Opening costs the same for 500 assets as for 25,000.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: library folder not found")
        if not (folder / "library.json").is_file():
            raise InputError(f"{folder}: not a scenewright library (no library.json)")
        info = read_json(folder / "library.json")
        if info.get("format") != FORMAT:
            raise InputError(f"{folder}: library format {info.get('format')!r}, expected {FORMAT!r}")
        index = folder / "index.sqlite"
        if not index.is_file():
            raise InputError(f"{folder}: library has no index.sqlite (the build did not finish; run it again)")
        try:
            table = _AssetTable(index)
            files, count = table.files, table.count
        except sqlite3.Error as exc:
            raise InputError(f"{index}: unreadable index ({exc})") from None
        lib = cls(folder, info, database=table)
        # map the arrays now: the index names the files of its own build (see build._write_index)
        try:
            lib._samples = np.load(folder / files.get("samples", "samples.npy"), mmap_mode="r", allow_pickle=False)
            lib._voxels = np.load(folder / files.get("voxels", "voxels.npy"), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            table.close()
            if _retry:   # a rebuild replaced the index in between: read the new one
                return cls.open(folder, _retry=False)
            raise InputError(f"{folder}: stacked arrays unreadable ({exc})") from None
        if len(lib._samples) != count or len(lib._voxels) != count:
            raise InputError(f"{folder}: index and stacked arrays disagree (rebuild the library)")
        return lib

    @property
    def records(self) -> list[AssetRecord]:
        """Every asset's record, in row order (read from ``index.sqlite`` on first use)."""
        if self._records is None:
            try:
                records = self._table.all()
            except sqlite3.Error as exc:
                raise InputError(f"{self.folder / 'index.sqlite'}: unreadable index ({exc})") from None
            self._by_id = {r.asset_id: r for r in records}
            self._records = records
        return self._records

    # ---- records -----------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return [r.asset_id for r in self.records]

    def record(self, asset_id: str) -> AssetRecord:
        if self._by_id is None:
            self._by_id = {}
        rec = self._by_id.get(asset_id)
        if rec is None and self._records is None and self._table is not None:
            try:
                rec = self._table.one(asset_id)
            except sqlite3.Error as exc:
                raise InputError(f"{self.folder / 'index.sqlite'}: unreadable index ({exc})") from None
            if rec is not None:
                self._by_id[asset_id] = rec
        if rec is None:
            raise KeyError(f"{asset_id!r} is not in the library {self.folder}")
        return rec

    def categories(self) -> dict[str, int]:
        """{category: number of assets}, largest first."""
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.category] = counts.get(r.category, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def by_category(self, category: str) -> list[AssetRecord]:
        return [r for r in self.records if r.category == category]

    def attribution(self, asset_id: str) -> dict:
        """{asset_id, name, creator, license, catalog} for a scene's attribution list."""
        r = self.record(asset_id)
        return {"asset_id": r.asset_id, "name": r.name, "creator": r.creator,
                "license": r.license, "catalog": r.catalog}

    def license_text(self, catalog: str) -> str:
        path = self.folder / "licenses" / f"{catalog}.txt"
        return path.read_text() if path.is_file() else ""

    # ---- arrays ------------------------------------------------------------------
    @property
    def all_samples(self) -> np.ndarray:
        """(A, N, 6) float32 memory-mapped: points xyz and normals xyz of every asset."""
        return self._samples

    @property
    def all_voxels(self) -> np.ndarray:
        """(A, G, G, G) bool memory-mapped occupancy of every asset."""
        return self._voxels

    def samples(self, asset_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Surface samples of an asset: points (N, 3), normals (N, 3), object frame, metres."""
        block = self.all_samples[self.record(asset_id).row]
        return block[:, :3], block[:, 3:]

    def voxels(self, asset_id: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Occupancy (G, G, G) bool indexed (x, y, z), grid origin (3,) and pitch (m).

        The grid is a cube of side max(width, height, depth), centred in x and z,
        starting at y = 0; voxel (i, j, k) covers origin + pitch * [i, i+1) × ...
        """
        r = self.record(asset_id)
        grid = self.all_voxels.shape[1]
        side = float(max(r.width, r.height, r.depth))
        return self.all_voxels[r.row], np.array([-side / 2, 0.0, -side / 2]), side / grid

    def asset_problem(self, asset_id: str) -> str | None:
        """What is wrong with an asset's files, or None (cheap, cached: headers only).

        A missing or truncated ``mesh.glb`` (its GLB header states the file's length) and a
        missing or unreadable ``views.npz`` (when the asset has views) are found without
        decoding them, so retrieval can skip a broken asset and go on with the others.
        """
        if asset_id not in self._problems:
            self._problems[asset_id] = self._find_problem(self.record(asset_id))
        return self._problems[asset_id]

    def _find_problem(self, r: AssetRecord) -> str | None:
        mesh = self.folder / r.folder / "mesh.glb"
        try:
            size = mesh.stat().st_size
            with open(mesh, "rb") as f:
                head = f.read(12)
        except FileNotFoundError:
            return f"{mesh}: library asset {r.asset_id}: mesh.glb missing"
        except OSError as exc:
            return f"{mesh}: library asset {r.asset_id}: mesh.glb unreadable ({exc.strerror or exc})"
        if len(head) < 12 or head[:4] != b"glTF":
            return f"{mesh}: library asset {r.asset_id}: not a GLB file"
        stated = struct.unpack("<I", head[8:12])[0]
        if stated != size:
            return (f"{mesh}: library asset {r.asset_id}: mesh.glb is {size} bytes but its header says "
                    f"{stated} (truncated or damaged)")
        if r.has_views:
            views = self.folder / r.folder / "views.npz"
            try:
                with zipfile.ZipFile(views) as z:
                    names = {n.removesuffix(".npy") for n in z.namelist()}
            except FileNotFoundError:
                return f"{views}: library asset {r.asset_id}: views.npz missing"
            except (OSError, zipfile.BadZipFile) as exc:
                return f"{views}: library asset {r.asset_id}: views.npz unreadable ({exc})"
            missing = [k for k in VIEW_KEYS if k not in names]
            if missing:
                return f"{views}: library asset {r.asset_id}: views.npz lacks {', '.join(missing)}"
        return None

    def _load_mesh(self, asset_id: str):
        path = self.folder / self.record(asset_id).folder / "mesh.glb"
        problem = self.asset_problem(asset_id)
        if problem is not None:
            raise InputError(f"{problem} (rebuild the library: scenewright library build)")
        try:
            # read once: the same bytes give trimesh the mesh and the texture its original encoding
            data = path.read_bytes()
            mesh = _one_mesh(trimesh.load_scene(io.BytesIO(data), file_type="glb", process=False))
        except Exception as exc:   # trimesh raises many kinds on damaged files
            raise InputError(f"{path}: library asset {asset_id}: cannot read mesh "
                             f"({type(exc).__name__}: {exc}); rebuild the library") from None
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 \
                or not np.all(np.isfinite(mesh.vertices)):
            raise InputError(f"{path}: library asset {asset_id}: no usable triangles (empty or non-finite); "
                             "rebuild the library")
        _remember_texture_bytes(mesh, data)
        stretch = replica_stretch(self.info, asset_id)
        if stretch is not None:   # a replica of a scaled library: its source mesh stretched (library/replicas.py)
            mesh.apply_transform(np.diag([*stretch, 1.0]))
        return mesh

    def _load_views(self, asset_id: str) -> AssetViews:
        r = self.record(asset_id)
        if not r.has_views:
            raise InputError(f"{self.folder}: {asset_id} has no rendered views (the renderer was "
                             "not available at build time; run `scenewright library build` again)")
        path = self.folder / r.folder / "views.npz"
        problem = self.asset_problem(asset_id)
        if problem is not None:
            raise InputError(f"{problem} (rebuild the library: scenewright library build)")
        try:
            with np.load(path, allow_pickle=False) as z:
                views = AssetViews(**{k: z[k] for k in VIEW_KEYS})
        except Exception as exc:   # a damaged member: zlib, zipfile, format or pickle errors
            raise InputError(f"{path}: library asset {asset_id}: cannot read views "
                             f"({type(exc).__name__}: {exc}); rebuild the library") from None
        n = len(views.rgb)
        if (views.rgb.ndim != 4 or views.mask.shape != views.rgb.shape[:3] or views.depth.shape != views.mask.shape
                or views.K.shape != (3, 3) or views.camera_from_object.shape != (n, 4, 4)
                or views.yaw_deg.shape != (n,) or views.pitch_deg.shape != (n,)):
            raise InputError(f"{path}: library asset {asset_id}: views have inconsistent shapes; rebuild the library")
        return views

    def __len__(self) -> int:
        return len(self._records) if self._records is not None else self._table.count

    def __repr__(self) -> str:
        return f"Library({str(self.folder)!r}, {len(self)} assets)"


def replica_stretch(info: dict, asset_id: str) -> list[float] | None:
    """The per-axis stretch (3,) of a scaled library's replica ``asset_id`` (its source's mesh
    stretched so; library/replicas.py), from the library's ``info``; None for any other asset."""
    return info.get("replicas", {}).get("scales", {}).get(asset_id)


def _copy_sharing_visual(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh.copy()`` (new geometry arrays and attributes, empty cache) whose visual is ``mesh``'s own
    rather than a copy of it."""
    copied = mesh.copy(include_visual=False)
    copied.visual = mesh.visual
    copied.vertex_attributes.update({k: deepcopy(v) for k, v in mesh.vertex_attributes.items()})
    copied.face_attributes.update({k: deepcopy(v) for k, v in mesh.face_attributes.items()})
    return copied


def _one_mesh(scene: trimesh.Scene) -> trimesh.Trimesh:
    """``scene.to_mesh()``: the scene's meshes placed and joined into one.

    A library GLB holds one mesh. ``to_mesh`` copies it twice (placed, then joined), and each
    copy of a textured mesh decodes and copies its texture atlas (up to 2048², ~0.1 CPU-s on a
    cold reconstruction's mesh loads); the scene is dropped after loading, so here the same two
    copies share its visual instead (decoded here, once: meshes are shared between threads, and
    PIL's lazy decoding is not thread-safe)."""
    nodes = scene.graph.nodes_geometry
    if len(nodes) != 1:
        return scene.to_mesh()
    transform, name = scene.graph[nodes[0]]
    source = scene.geometry[name]
    if not isinstance(source, trimesh.Trimesh):
        return scene.to_mesh()
    placed = _copy_sharing_visual(source)          # as Scene.dump places a copy of each geometry
    placed.apply_transform(transform)
    placed.metadata["name"] = name
    placed.metadata["node"] = nodes[0]
    material = getattr(source.visual, "material", None)
    for attr in _MATERIAL_TEXTURES:
        image = getattr(material, attr, None)
        if image is not None and hasattr(image, "load"):
            image.load()
    return _copy_sharing_visual(placed)            # as trimesh.util.concatenate copies a single mesh


_MATERIAL_TEXTURES = ("image", "baseColorTexture", "metallicRoughnessTexture", "normalTexture", "occlusionTexture",
                      "emissiveTexture")


def _remember_texture_bytes(mesh, glb: bytes) -> None:
    """Record on the mesh's texture the PNG/JPEG bytes it was decoded from (see
    :mod:`scenewright.encoded_images`), when the GLB (its file's bytes ``glb``) holds one image
    and the mesh one texture."""
    image = getattr(getattr(mesh.visual, "material", None), "baseColorTexture", None)
    if image is None:
        return
    try:
        images = glb_images(glb)
    except (ValueError, KeyError, IndexError):
        return
    if len(images) == 1:
        remember_encoding(image, images[0][1], images[0][0])


class _MeshCache(LRUCache):
    """``load(asset_id)`` for the ``size`` most recently used assets (thread-safe), with dropped
    meshes freed soon.

    A trimesh mesh sits in reference cycles (its ray, proximity and visual helpers point
    back at it), so a mesh dropped from the cache lives on, with its texture and the
    renderer's GPU copy (freed by a finaliser on the mesh), until Python's next full
    garbage collection, which a process reconstructing scene after scene may not run for
    many scenes: a batch worker over a large library, which keeps meeting new assets, held
    every mesh it had ever loaded. Every ``collect_every`` evictions the cycles are collected
    (one full collection, ~10-50 ms, per that many mesh loads of ~20-40 ms each).
    """

    collect_every = 16

    def __init__(self, load, size: int):
        super().__init__(size, on_evict=self._dropped)
        self._load = load
        self._since_collect = 0

    def __call__(self, asset_id: str):
        return self.get_or_load(asset_id, lambda: self._load(asset_id))

    def cache_clear(self) -> None:
        self.clear()

    def _dropped(self, asset_id) -> None:
        self._since_collect += 1       # a race may miss a count: the next eviction collects
        if self._since_collect >= self.collect_every:
            self._since_collect = 0
            gc.collect()
            _return_free_memory()


def _return_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing):
    freed textures otherwise stay in the process' arenas, counted in its memory."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _AssetTable:
    """``index.sqlite`` held open read-only: the asset records one at a time or all at once.

    One connection for the Library's life (threads share it under a lock), so every record
    comes from the file that was there at ``Library.open``.
    """

    def __init__(self, path: Path):
        self._con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        try:
            self.files = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
            self.count = int(self._con.execute("SELECT count(*) FROM assets").fetchone()[0])
        except sqlite3.Error:
            self._con.close()
            raise

    @staticmethod
    def _record(row) -> AssetRecord:
        rec = dict(zip(RECORD_FIELDS, row))
        rec["has_views"] = bool(rec["has_views"])
        return AssetRecord(**rec)

    def one(self, asset_id: str) -> AssetRecord | None:
        with self._lock:
            row = self._con.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM assets WHERE asset_id = ?",
                                    (asset_id,)).fetchone()
        return None if row is None else self._record(row)

    def all(self) -> list[AssetRecord]:
        with self._lock:
            rows = self._con.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM assets ORDER BY row").fetchall()
        return [self._record(r) for r in rows]

    def close(self) -> None:
        self._con.close()
