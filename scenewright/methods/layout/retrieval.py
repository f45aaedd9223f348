"""Retrieval: which library asset is this object, and roughly how does it stand?

For one observed object (world points, gravity-aligned box, mask crop) the steps are:

1. **Pre-filter** (cheap, whole library at once): candidates of the label's category
   and its neighbours (:func:`.labels.candidate_categories`), ranked by how well
   the catalog size fits the observed box; only the best ``max_candidates`` go on.
   That keeps the expensive steps independent of the library size.
2. **Geometry**: the asset's surface samples, scaled to the observed box, under
   ``n_yaw`` yaw hypotheses; the translation is refined by a few ICP steps
   (translation only) and each hypothesis scored by a truncated chamfer distance
   (observed → asset, and camera-facing asset samples → observed). All hypotheses of
   an asset go through one nearest-neighbour query (:class:`~scenewright.geometry.nearest.NearestTree`).
3. **Appearance**: the masked crop against the asset's rendered views (classical
   colour + silhouette descriptors or DINOv2), best view wins.

The score of an (asset, yaw) pair mixes the category prior, size, geometry and
appearance; :mod:`.pose` then renders the best few and picks by render-and-compare.
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from scenewright.geometry.nearest import NearestTree, SampleGrid
from scenewright.geometry.symmetry import shape_symmetry
from scenewright.geometry.transforms import project, rot_y
from scenewright.library.categories import category_info
from scenewright.library.index import ArrayIndex, subsample_rows
from scenewright.lru import LRUCache
from scenewright.methods.layout.features import crop_to_mask
from scenewright.methods.layout.labels import candidate_categories

log = logging.getLogger("scenewright.layout")


@dataclass
class RetrievalSettings:
    max_candidates: int = 12        # assets kept after the size pre-filter
    n_points: int = 384             # surface samples per asset used for scoring
    n_obs_points: int = 512         # observed points per object used for scoring
    n_yaw: int = 8                  # yaw hypotheses (box yaw + k·360°/n_yaw)
    n_yaw_small: int = 12           # … for small things (supported by furniture)
    partial_starts: bool = True     # extra ICP starts for partial views (a border-cut bed: 0.81 -> 0.03 m)
    height_seen: bool = True        # a side-cut thing with its top in view may be fitted lower (extent fit only; docs/layout.md)
    # a small thing's thin upper parts (a utensils pot's spoons, a vase's stems) are in its mask but
    # not in its points (eroded, outlier-filtered): its height reaches the mask's top row when that
    # lies this many pixels (and this share of the mask's height) above where its points project (0: off)
    small_mask_top_px: float = 3.0
    small_mask_top_share: float = 0.1
    icp_iters: int = 3              # translation-only ICP steps per hypothesis
    trunc_m: float = 0.08           # chamfer distances are truncated here (outliers)
    sigma_m: float = 0.025          # geometry similarity = exp(-chamfer / sigma)
    appearance_top: int = 10        # candidates whose rendered views are compared (by geometry rank)
    w_geometry: float = 1.0          # weight of the shape match (chamfer) in the score
    w_appearance: float = 1.0        # weight of the rendered-view appearance match
    w_size: float = 0.5              # weight of the size prior
    w_category: float = 0.6          # weight of the category prior
    size_prior_sigma: float = 0.35  # log-ratio tolerance of the size pre-filter
    appearance_trust: float = 0.6    # best appearance below this: no asset looks like it, rank by shape only
    # Without a category (no label, or one that names nothing) the size pre-filter alone keeps the
    # 12 best-sized assets of the whole library, which often holds no asset of the object's kind:
    # also keep this many assets whose views look most like the object, among sizes within
    # ``unlabelled_size_floor`` of the size prior (a chair-coloured wardrobe is no candidate).
    unlabelled_appearance_candidates: int = 6
    unlabelled_size_floor: float = 0.1
    # ... and its categories weighed by where it stands: on the floor, the things that stand on
    # furniture (the taxonomy's role "small": vases, electronics, decor...) get this × the
    # unknown-category prior; above the floor, the furniture does.
    unlabelled_role_prior: float = 0.33


@dataclass
class AssetGeometry:
    """Cached per-asset arrays: subsampled surface points/normals (object frame), their tree and
    the grid that answers ICP's nearest-sample searches (None: the tree answers)."""

    points: np.ndarray     # (N, 3)
    normals: np.ndarray    # (N, 3)
    tree: NearestTree
    extent: np.ndarray     # (3,) width, height, depth of the samples' box
    grid: SampleGrid | None = None


@dataclass
class Hypothesis:
    """One placement of one asset: world_from_object = T(translation) · R_y(yaw) · diag(scale)."""

    asset_id: str
    category: str
    yaw: float                       # radians about world +Y
    scale: np.ndarray                # (3,)
    translation: np.ndarray          # (3,) world; y = bottom of the object
    geometry: float = 0.0            # similarity in [0, 1]
    appearance: float = 0.0          # cosine in [-1, 1]
    size: float = 0.0                # size prior in [0, 1]
    prior: float = 0.0               # category prior weight
    score: float = 0.0
    chamfer_m: float = 0.0
    extra: dict = field(default_factory=dict)

    def world_from_object(self) -> np.ndarray:
        return placement_matrix(self.yaw, self.scale, self.translation)


def placement_matrix(yaw: float, scale, translation) -> np.ndarray:
    """(4, 4) world_from_object = T · R_y(yaw) · diag(scale)."""
    m = np.eye(4)
    m[:3, :3] = rot_y(float(yaw)) @ np.diag(np.asarray(scale, float))
    m[:3, 3] = translation
    return m


class LibraryIndex:
    """Library arrays the method needs, computed once per library and asset (lazily).

    Holds the records as arrays (sizes, categories) for the vectorised pre-filter,
    and per asset the subsampled surface points with their KD-tree and the appearance
    descriptors of its rendered views (per extractor).
    """

    cache_assets = 2048     # assets whose samples, tree and view descriptors are kept (~60 kB each)
    # assets whose nearest-sample grids are kept: a grid holds the candidate lists its queries made
    # (~0.1-0.2 MB after a scene's fits), and the next scenes' fits of the same asset reuse them
    cache_grids = 256
    cache_render_meshes = 64   # render meshes kept (~0.1-1 MB each, and their GPU copies), as the library's meshes

    def __init__(self, library, n_points: int = 384, seed: int = 0):
        from scenewright.library.index import open_index
        from scenewright.library.store import Library
        self.library = library
        arrays = open_index(library)
        whole = arrays is not None and isinstance(library, Library)   # not a subset view
        if whole and (arrays.settings.n_points, arrays.settings.seed) == (n_points, seed):
            # the library's precomputed index: memory-mapped, nothing per asset read until asked
            self.arrays = arrays
            self.ids = arrays.ids
            self.row = _RowLookup(arrays)
            self.categories = arrays.categories()
            self.sizes = arrays.sizes
        else:
            self.arrays = arrays
            records = list(library.records)
            self.ids = [r.asset_id for r in records]
            self.row = {a: i for i, a in enumerate(self.ids)}
            self.categories = np.array([r.category for r in records], dtype=object)
            self.sizes = np.array([[r.width, r.height, r.depth] for r in records], float).reshape(-1, 3)
            if self.arrays is not None:   # a subset or other sampling settings: only the view features serve
                self.arrays = _FeaturesOnly(self.arrays)
        self.n_points = n_points
        self.seed = seed
        # Bounded: a batch worker or the web page over a large library looks at ever new
        # candidates; what it keeps must not grow with the library (meshes: the library's own LRU).
        self._geometry: LRUCache = LRUCache(self.cache_assets)
        self._grids: LRUCache = LRUCache(self.cache_grids, on_evict=self._drop_grid)
        self._views: LRUCache = LRUCache(self.cache_assets)
        self._symmetry: dict[str, str] = {}
        self._skipped: set[str] = set()
        self._derived: dict[str, LRUCache] = {}
        self._render_meshes: LRUCache = LRUCache(self.cache_render_meshes)

    def __len__(self) -> int:
        return len(self.ids)

    def derived(self, kind: str, asset_id: str, make):
        """``make()`` of one asset, kept in a bounded cache of its ``kind``: what other stages
        derive per asset stays within the same bound as the index's own caches."""
        return self._derived.setdefault(kind, LRUCache(self.cache_assets)).get_or_load(asset_id, make)

    def category_counts(self) -> dict[str, int]:
        cats, counts = np.unique(self.categories.astype(str), return_counts=True) if len(self) else ([], [])
        return {str(c): int(n) for c, n in zip(cats, counts)}

    def geometry(self, asset_id: str) -> AssetGeometry:
        geom = self._geometry.get(asset_id) or self._load_geometry(asset_id)
        if geom.grid is None:
            geom.grid = self._grids.get_or_load(asset_id, lambda: SampleGrid(geom.points, geom.tree))
        return geom

    def _drop_grid(self, asset_id: str) -> None:
        """A grid left the cache: its geometry lets go of it (and gets a new one when next asked)."""
        geom = self._geometry.peek(asset_id)
        if geom is not None:
            geom.grid = None

    def _load_geometry(self, asset_id: str) -> AssetGeometry:
        if isinstance(self.arrays, ArrayIndex):
            block = np.asarray(self.arrays.asset_points(self.row[asset_id]), float)
            pts, nrm = block[:, :3], block[:, 3:]
        else:
            pts, nrm = self.library.samples(asset_id)
            pts, nrm = np.asarray(pts, float), np.asarray(nrm, float)
            # Fixed seed per asset: the same subsample every run (reproducible scores).
            idx = subsample_rows(len(pts), self.n_points, self.seed, self.row.get(asset_id, 0))
            if idx is not None:
                pts, nrm = pts[idx], nrm[idx]
        ext = pts.max(0) - pts.min(0) if len(pts) else np.ones(3)
        geom = AssetGeometry(pts, nrm, NearestTree(pts), np.maximum(ext, 1e-3))
        self._geometry[asset_id] = geom
        return geom

    def symmetry(self, asset_id: str) -> str:
        """Yaw symmetry group of the asset's shape: none | two | four | radial
        (:func:`scenewright.geometry.symmetry.shape_symmetry` on its library samples)."""
        if asset_id not in self._symmetry:
            pts = np.asarray(self.library.samples(asset_id)[0], float)[:4096]
            self._symmetry[asset_id] = shape_symmetry(pts) if len(pts) >= 16 else "none"
        return self._symmetry[asset_id]

    def usable(self, asset_id: str) -> bool:
        """False for an asset whose files are missing or damaged (warned about once, then skipped:
        one broken asset must not stop a reconstruction the other candidates can do)."""
        check = getattr(self.library, "asset_problem", None)
        problem = check(asset_id) if check is not None else None
        if problem is not None and asset_id not in self._skipped:
            self._skipped.add(asset_id)
            log.warning("%s; skipped (rebuild the library to restore it)", problem)
        return problem is None

    def mesh(self, asset_id: str):
        """The asset's mesh from the library's LRU cache (shared: copy before mutating)."""
        return self.library.mesh(asset_id)

    def render_mesh(self, asset_id: str):
        """What the pose renders draw: the asset's :class:`~scenewright.render.meshprep.PreparedMesh`
        with its texture at most the index's ``render_texture_side`` — read from the library's
        index when it stores render meshes, else prepared from ``mesh.glb`` at the same side
        (the same arrays either way; the index only saves parsing the GLB, decoding its full
        atlas and the GPU's finest mip levels). The 64 most recently used are kept, so the
        renderer's GPU copy (cached by the object's identity, freed with it) is reused across
        renders and what a warm worker holds does not grow with the library."""
        return self._render_meshes.get_or_load(asset_id, lambda: self._load_render_mesh(asset_id))

    def _load_render_mesh(self, asset_id: str):
        from scenewright.library.index import RENDER_TEXTURE_SIDE
        from scenewright.library.store import replica_stretch
        from scenewright.render.meshprep import prepare_mesh, stretched

        arrays = getattr(self.arrays, "_arrays", self.arrays)      # a subset's index is the full library's
        side = getattr(arrays, "render_texture_side", None) or RENDER_TEXTURE_SIDE
        row = arrays.row_of(asset_id) if arrays is not None and arrays.render is not None else None
        prepared = arrays.render_mesh(row) if row is not None else None
        if prepared is None:
            return prepare_mesh(self.library.mesh(asset_id), max_texture_side=side)
        scale = replica_stretch(getattr(self.library, "info", {}), asset_id)
        return prepared if scale is None else stretched(prepared, scale)

    def best_view_similarity(self, feature: np.ndarray, extractor, asset_rows: np.ndarray) -> np.ndarray:
        """(n,) cosine of each asset's most similar rendered view to ``feature`` (D,), for the
        assets at ``asset_rows`` (rows of this index); −1 for an asset without views. One product
        over the index's memory-mapped descriptors when they are the extractor's, else asset by
        asset through :meth:`view_features`."""
        asset_rows = np.asarray(asset_rows, int)
        arrays = getattr(self.arrays, "_arrays", self.arrays)
        feats = arrays.features.get("classical") if isinstance(arrays, ArrayIndex) else None
        if feats is not None and _is_default_classical(extractor):
            full = asset_rows if self.arrays is arrays else \
                np.array([arrays.row_of(str(self.ids[r])) for r in asset_rows], int)
            best = np.asarray(feats[np.sort(full)] @ np.asarray(feature, np.float32), np.float64).max(1)
            best = best[np.argsort(np.argsort(full))]         # back to the order asked for
            return np.where(np.asarray(arrays.has_views)[full], best, -1.0)
        out = np.full(len(asset_rows), -1.0)
        for k, r in enumerate(asset_rows):
            views, _, _ = self.view_features(str(self.ids[r]), extractor)
            if len(views):
                out[k] = float(np.max(views @ feature))
        return out

    def view_features(self, asset_id: str, extractor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(V, D) descriptors of the asset's views, with their yaw and pitch in degrees."""
        key = (asset_id, getattr(extractor, "name", "x") + str(getattr(extractor, "weights_dir", "")))
        found = self._views.get(key)
        if found is None and self.arrays is not None and _is_default_classical(extractor):
            row = self.arrays.row_of(asset_id)
            found = self.arrays.view_features(row) if row is not None else None
        if found is None:
            rec = self.library.record(asset_id)
            if not getattr(rec, "has_views", True):   # built without a renderer: no appearance
                found = (np.zeros((0, 1), np.float32), np.zeros(0), np.zeros(0))
            else:
                views = self.library.views(asset_id)
                crops = [crop_to_mask(views.rgb[i], views.mask[i]) for i in range(len(views.mask))]
                feats = extractor([c[0] for c in crops], [c[1] for c in crops])
                found = (feats, np.asarray(views.yaw_deg, float), np.asarray(views.pitch_deg, float))
        self._views[key] = found
        return found


class _RowLookup:
    """``{asset_id: row}`` read from the index's sorted ids (no dict of every asset built)."""

    def __init__(self, arrays: ArrayIndex):
        self.arrays = arrays

    def __getitem__(self, asset_id: str) -> int:
        row = self.arrays.row_of(asset_id)
        if row is None:
            raise KeyError(asset_id)
        return row

    def get(self, asset_id: str, default=None):
        row = self.arrays.row_of(asset_id)
        return default if row is None else row

    def __contains__(self, asset_id: str) -> bool:
        return self.arrays.row_of(asset_id) is not None


class _FeaturesOnly:
    """An index whose samples were drawn for other settings: its view features still serve."""

    def __init__(self, arrays: ArrayIndex):
        self._arrays = arrays

    def row_of(self, asset_id: str):
        return self._arrays.row_of(asset_id)

    def view_features(self, row: int, kind: str = "classical"):
        return self._arrays.view_features(row, kind)


def _is_default_classical(extractor) -> bool:
    """True for the descriptors the index stores (classical features at their default settings)."""
    from scenewright.methods.layout.features import ClassicalFeatures
    return type(extractor) is ClassicalFeatures and extractor == ClassicalFeatures()


_INDEXES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def library_index(library, n_points: int = 384, seed: int = 0) -> LibraryIndex:
    """The cached :class:`LibraryIndex` of ``library`` (one per Library object)."""
    try:
        idx = _INDEXES.get(library)
    except TypeError:       # not weak-referenceable
        return LibraryIndex(library, n_points, seed)
    if idx is None or idx.n_points != n_points or idx.seed != seed:
        idx = LibraryIndex(library, n_points, seed)
        _INDEXES[library] = idx
    return idx


def size_prior(observed: np.ndarray, catalog: np.ndarray, truncated: bool, sigma: float) -> np.ndarray:
    """How plausible each catalog size is for the observed box, in [0, 1].

    ``observed`` (3,) box size (x, y = height, z); ``catalog`` (N, 3) width, height,
    depth. The footprint is compared orientation-free (sorted sides). A partial view
    only shrinks the box, so observed < catalog costs half as much as observed > catalog,
    and a truncated object's footprint hardly counts.
    """
    obs_fp = np.sort(observed[[0, 2]])
    cat_fp = np.sort(catalog[:, [0, 2]], axis=1)
    obs = np.concatenate([[observed[1]], obs_fp])
    cat = np.concatenate([catalog[:, 1:2], cat_fp], 1)
    lr = np.log(np.maximum(obs, 1e-3) / np.maximum(cat, 1e-3))
    lr = np.where(lr < 0, 0.5 * lr, lr)
    w = np.array([1.0, 0.6, 0.6]) * (np.array([1.0, 0.3, 0.3]) if truncated else 1.0)
    return np.exp(-0.5 * (lr ** 2 * w).sum(1) / w.sum() / sigma ** 2)


def meets_footprint(catalog: np.ndarray, min_footprint, slack: float = 0.85) -> np.ndarray:
    """(N,) bool: catalog sizes (N, 3: width, height, depth) whose footprint (sorted sides)
    is at least ``slack`` × the stated minimum (short, long side, metres)."""
    fp = np.sort(np.asarray(catalog, float).reshape(-1, 3)[:, [0, 2]], axis=1)
    return np.all(fp >= slack * np.asarray(min_footprint, float), axis=1)


def prefilter(index: LibraryIndex, category: str | None, box_size: np.ndarray, truncated: bool,
              settings: RetrievalSettings, min_footprint=None, on_floor: bool | None = None
              ) -> list[tuple[str, float, float]]:
    """[(asset_id, category prior, size prior)] — the ``max_candidates`` best, best first.

    ``min_footprint`` (short, long side, m; from the label): assets below it are left out
    when any asset meets it — the label outranks a box shrunk by occlusion. ``on_floor``: where
    an object without a category stands, when known (see :func:`candidate_categories`)."""
    if len(index) == 0:
        return []
    available = set(index.categories.tolist())
    out = _rank_candidates(index, candidate_categories(category, available, on_floor, settings.unlabelled_role_prior),
                           box_size, truncated, settings, min_footprint)
    if not out and category is not None:
        # every asset of the label's categories is broken (skipped): search the rest as for an unknown label
        out = _rank_candidates(index, candidate_categories(None, available, on_floor, settings.unlabelled_role_prior),
                               box_size, truncated, settings, min_footprint)
    return out


def _rank_candidates(index: LibraryIndex, cats: list[tuple[str, float]], box_size: np.ndarray, truncated: bool,
                     settings: RetrievalSettings, min_footprint) -> list[tuple[str, float, float]]:
    """The usable assets of ``cats`` [(category, prior)] ranked by prior and size (see :func:`prefilter`)."""
    prior = np.zeros(len(index))
    for c, w in cats:
        prior[index.categories == c] = w
    rows = np.nonzero(prior > 0)[0]
    if min_footprint is not None and len(rows):
        ok = meets_footprint(index.sizes[rows], min_footprint)
        if ok.any():
            rows = rows[ok]
    sp = size_prior(np.asarray(box_size, float), index.sizes[rows], truncated, settings.size_prior_sigma)
    rank = settings.w_category * prior[rows] + settings.w_size * sp
    out = []
    for i in np.argsort(-rank, kind="stable"):
        if len(out) == settings.max_candidates:
            break
        if index.usable(index.ids[rows[i]]):
            out.append((str(index.ids[rows[i]]), float(prior[rows[i]]), float(sp[i])))
    return out


def fit_scale(category: str, asset_extent: np.ndarray, yaw_rel: np.ndarray, box_size: np.ndarray,
              truncated: bool, trust: float, bounds: tuple[float, float],
              dead_zone: float = 0.22) -> np.ndarray:
    """(H, 3) scale per yaw hypothesis from the observed box, by the category's strategy.

    ``asset_extent`` (3,) w, h, d of the asset; ``yaw_rel`` (H,) asset yaw relative to
    the box axes. The asset's footprint seen along the box axes is |R|·extent. The
    observed/catalog log ratio is shrunk by ``trust`` (the catalog is the prior; a
    partial view underestimates, so it counts only where it says "bigger" or for height)
    and by a further half for truncated objects; then clamped to ``bounds``. (A truncated view
    whose height is whole is the extent fit's business: ``extent.extent_scales``.)
    """
    c, s = np.abs(np.cos(yaw_rel)), np.abs(np.sin(yaw_rel))
    w, h, d = asset_extent
    ex = c * w + s * d                         # footprint along box x (over-estimates at 45°)
    ez = s * w + c * d
    ratio = np.stack([box_size[0] / ex, np.full_like(ex, box_size[1] / h), box_size[2] / ez], 1)
    lr = np.log(np.clip(ratio, 1e-3, 1e3))
    # Dead zone: boxes of partial views are often 10-20 % off; only a clear
    # disagreement with the catalog moves the size.
    lr = np.sign(lr) * np.maximum(np.abs(lr) - dead_zone, 0.0)
    if truncated:
        # A partial view (cut by the border, hidden from below) only ever shrinks the
        # box: it may say "bigger than the catalog", never "smaller".
        lr = np.maximum(lr, 0.0)
    t = trust * (0.5 if truncated else 1.0) * np.ones(3)
    if category_info(category).scaling == "anisotropic":
        # Back to asset axes: box x is asset x when the yaw is near 0/180°, asset z near ±90°.
        swap = s > c
        lx = np.where(swap, lr[:, 2], lr[:, 0])
        lz = np.where(swap, lr[:, 0], lr[:, 2])
        out = np.stack([lx * t[0], lr[:, 1] * t[1], lz * t[2]], 1)
    else:
        iso = (lr * np.array([0.25, 0.5, 0.25]) * t).sum(1)
        out = np.repeat(iso[:, None], 3, 1)
    return np.exp(np.clip(out, math.log(bounds[0]), math.log(bounds[1])))


def geometric_fit(geom: AssetGeometry, obs_pts: np.ndarray, cam_pos: np.ndarray, yaws: np.ndarray,
                  scales: np.ndarray, t0: np.ndarray, settings: RetrievalSettings,
                  fix_y: bool = True, view: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Refine translations and score all yaw hypotheses of one asset.

    ``obs_pts`` (M, 3) world; ``yaws`` (H,); ``scales`` (H, 3); ``t0`` (3,) initial
    translation (box centre x/z, bottom y). Returns translations (H, 3) and chamfer
    distances (H,) in metres (observed→asset plus ½ camera-facing asset→observed).
    ``view`` = (K, camera_from_world, depth): asset samples hidden behind something
    observed in front of them (or outside the image) are not expected to be seen.

    Hypotheses given more than once (the same yaw, scale and start, byte for byte) are
    fitted once: a partial view's starts shifted by an unseen extent of zero are the box
    centre again (14 % of the hypotheses of bench scenes 0, 1, 3). Every hypothesis is
    fitted on its own (row by row), so the answers are those of fitting them all.
    """
    yaws, scales = np.asarray(yaws, float), np.asarray(scales, float)
    starts = np.broadcast_to(np.asarray(t0, float), (len(yaws), 3))
    rows = np.ascontiguousarray(np.concatenate([yaws[:, None], scales, starts], 1))
    _, first, inverse = np.unique(rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel(),
                                  return_index=True, return_inverse=True)
    if len(first) == len(yaws):
        return _fit_hypotheses(geom, obs_pts, cam_pos, yaws, scales, t0, settings, fix_y, view)
    kept = np.sort(first)                                   # each first occurrence, in the given order
    t, cham = _fit_hypotheses(geom, obs_pts, cam_pos, yaws[kept], scales[kept], starts[kept], settings,
                              fix_y, view)
    where = np.searchsorted(kept, first[inverse.ravel()])
    return t[where], cham[where]


def _fit_hypotheses(geom: AssetGeometry, obs_pts: np.ndarray, cam_pos: np.ndarray, yaws: np.ndarray,
                    scales: np.ndarray, t0: np.ndarray, settings: RetrievalSettings,
                    fix_y: bool, view: tuple | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`geometric_fit` of every hypothesis given.

    The per-point arrays are laid out point-major, (M, H): a sum over the points of an
    (M, H, 3) array is then a reduction over its first axis, which numpy adds in point order,
    row after row, vectorised across hypotheses — the order in which it sums the middle axis
    of an (H, M, 3) array, at ~10× the cost there. (Not an (M, H) array: with one hypothesis
    numpy sees a contiguous vector and sums it pairwise.) Sums over a 3-vector are written out as
    ``(x·x + y·y) + z·z``, the left-to-right order of numpy's reduction over a last axis of
    length 3 (``tests/layout/test_retrieval_speed.py`` holds both orders to numpy's).

    Every step asks the tree for every point's nearest sample afresh. (Keeping a point's sample
    while it stays nearer than the second nearest can have come skipped ~21 % of the searches,
    but needs two neighbours per search, which cost pykdtree ~1.5× one: 7 % more CPU in all.)
    """
    H, M = len(yaws), len(obs_pts)
    c, s = np.cos(yaws), np.sin(yaws)                      # R_y = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    t = np.broadcast_to(np.asarray(t0, float), (H, 3)).copy()     # (3,) or one start per hypothesis
    trunc = settings.trunc_m
    grid = geom.grid
    if grid is not None and grid.available:
        # the steps below, compiled (SampleGrid.icp): the same bits, without numpy's passes over (M, H, 3)
        dist = grid.icp(obs_pts, np.stack([c, s]), scales, t, 2 * trunc, settings.icp_iters + 1, fix_y)
        return t, _chamfer(geom, obs_pts, cam_pos, c, s, scales, t, np.minimum(dist, trunc).mean(1), trunc, view)
    ox, oy, oz = obs_pts[:, 0:1], obs_pts[:, 1:2], obs_pts[:, 2:3]     # (M, 1) each
    # Every step writes the object coordinates into this buffer, component by component.
    local = np.empty((M, H, 3))
    sx, sy, sz = scales[:, 0], scales[:, 1], scales[:, 2]
    for _ in range(settings.icp_iters + 1):
        # object coordinates of the observed points under each hypothesis: diag(1/s) Rᵀ (p - t),
        # written out for the rotation about y (the same sums, in the same order, as the matrix product)
        dx, dz = ox - t[:, 0], oz - t[:, 2]                                   # (M, H) each
        np.subtract(c * dx, s * dz, out=local[..., 0])
        np.subtract(oy, t[:, 1], out=local[..., 1])
        np.add(s * dx, c * dz, out=local[..., 2])
        np.divide(local, scales, out=local)
        # nearest asset sample minus the observed point, object frame: (M·H, 3), a new array
        query = local.reshape(-1, 3)
        diff = np.take(geom.points, geom.tree.query(query, k=1)[1], axis=0)      # take: ~3× faster than indexing rows
        diff -= query
        # residual back in world units: R · diag(s) · (nearest - local)
        res_obj = np.multiply(diff.reshape(M, H, 3), scales, out=diff.reshape(M, H, 3))
        rx, ry, rz = res_obj[..., 0], res_obj[..., 1], res_obj[..., 2]
        r0, r2 = c * rx + s * rz, c * rz - s * rx
        d = np.sqrt((r0 * r0 + ry * ry) + r2 * r2)                            # np.linalg.norm's sum
        w = (d < 2 * trunc).astype(float)
        w += 1e-6
        # the residual points from an observed point to the asset: moving the asset by -res
        # brings it onto the point (trimmed mean over points within 2·trunc)
        np.multiply(r0, w, out=res_obj[..., 0])
        np.multiply(ry, w, out=res_obj[..., 1])
        np.multiply(r2, w, out=res_obj[..., 2])
        total = np.add.reduce(res_obj, axis=0)                                 # (H, 3), in point order
        step = -total / np.ascontiguousarray(w.T).sum(1)[:, None]            # numpy's own sum over each row
        if fix_y:
            step[:, 1] = 0.0
        t = t + step
    fwd = np.ascontiguousarray(np.minimum(d, trunc).T).mean(1)
    return t, _chamfer(geom, obs_pts, cam_pos, c, s, scales, t, fwd, trunc, view)


def _chamfer(geom: AssetGeometry, obs_pts: np.ndarray, cam_pos: np.ndarray, c: np.ndarray, s: np.ndarray,
             scales: np.ndarray, t: np.ndarray, fwd: np.ndarray, trunc: float, view: tuple | None) -> np.ndarray:
    """(H,) chamfer of the fitted hypotheses: ``fwd`` (observed → asset) plus ½ the mean distance
    of the camera-facing, expected-visible asset samples to the observed points (both truncated)."""
    # Camera-facing asset samples should have observed points near them (penalises
    # assets bigger than what was seen, and wrong yaws of one-sided things).
    sx, sy, sz = scales[:, 0], scales[:, 1], scales[:, 2]
    c, s = c[:, None], s[:, None]
    px, py, pz = geom.points[:, 0] * sx[:, None], geom.points[:, 1] * sy[:, None], geom.points[:, 2] * sz[:, None]
    wx, wy, wz = (c * px + s * pz) + t[:, 0:1], py + t[:, 1:2], (c * pz - s * px) + t[:, 2:3]   # (H, N) each
    nx, ny, nz = geom.normals.T
    facing = ((c * nx + s * nz) * (cam_pos[0] - wx) + ny * (cam_pos[1] - wy)) \
        + (c * nz - s * nx) * (cam_pos[2] - wz) > 0
    world = np.stack([wx[facing], wy[facing], wz[facing]], 1)
    if view is not None:
        visible = expected_visible(world, *view)
        facing[facing] = visible
        world = world[visible]
    # Only facing samples count, and only up to ``trunc``: the search stops there (a sample
    # with nothing within ``trunc`` gets inf, clipped to ``trunc``).
    dr = np.zeros(facing.shape)
    dr[facing] = np.minimum(NearestTree(obs_pts).query(world, k=1, distance_upper_bound=trunc)[0], trunc)
    rev = (dr * facing).sum(1) / np.maximum(facing.sum(1), 1)
    return fwd + 0.5 * rev


def expected_visible(points: np.ndarray, K: np.ndarray, camera_from_world: np.ndarray,
                     depth: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """(N,) bool: world ``points`` (N, 3) inside the image with nothing observed in front of them.

    ``depth`` (H, W) metres along the camera z axis, NaN unknown (unknown counts as visible).
    """
    pc = points @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.floor(K[0, 0] * pc[:, 0] / z + K[0, 2]).astype(np.int64, copy=False)
        v = np.floor(K[1, 1] * pc[:, 1] / z + K[1, 2]).astype(np.int64, copy=False)
    h, w = depth.shape
    inside = (z > 1e-3) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = np.full(len(points), np.nan)
    d[inside] = depth[v[inside], u[inside]]
    return inside & ~(d < z - margin)


def subsample(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if len(points) <= n:
        return points
    return points[np.random.default_rng(seed).choice(len(points), n, replace=False)]


@dataclass
class Query:
    """One observed object as retrieval sees it (built once, used for every candidate)."""

    box_size: np.ndarray        # (3,) observed size; height measured from the support when resting on it
    yaw: float                  # box yaw (rad)
    t0: np.ndarray              # (3,) initial translation: box centre x/z, support (or box bottom) y
    points: np.ndarray          # (M, 3) subsampled world points
    partial: bool               # truncated by the border or occluded from below: trust the catalog size
    fix_y: bool                 # y is known (resting on the floor): ICP moves x/z only
    cam_pos: np.ndarray         # (3,)
    view: tuple | None          # (K, camera_from_world, depth) for the visibility test
    feature: np.ndarray | None  # appearance descriptor of the masked crop
    small: bool = False         # a small thing (lamp, vase...): more yaw hypotheses
    min_footprint: tuple[float, float] | None = None  # (short, long) m the label states ("double bed")
    height_seen: bool = False   # a partial view whose height is still whole (support to an uncut, unhidden top)
    on_floor: bool | None = None  # for an object without a category: stands on the floor (None: unknown)
    top_seen: bool = False      # the mask's top edge is the object's own (not the image's, nothing nearer above)


def make_query(obj, capture, world_from_camera: np.ndarray, extractor, settings: RetrievalSettings,
               support_y: float | None = None, seed: int = 0, depth: np.ndarray | None = None,
               small: bool = False) -> Query:
    """``support_y``: height of what the object stands on when known (the floor for floor
    furniture). Its observed height is then top − support: the bottom of a chair hidden
    behind an armchair does not make the chair shorter (it makes it ``partial``)."""
    box = obj.box
    size = np.asarray(box.size, float).copy()
    centre = np.asarray(box.centre, float)
    bottom = centre[1] - size[1] / 2
    partial = bool(obj.truncated)
    if support_y is not None:
        top = centre[1] + size[1] / 2
        if bottom - support_y > 0.08:     # the lower part is hidden
            partial = True
        size[1] = max(top - support_y, 1e-3)
        y0, fix_y = support_y, True
    else:
        y0, fix_y = bottom, False
    if not partial and occluded_fraction(obj, capture) > 0.2:
        partial = True
    # Cut by a side border or hidden at a side, a thing standing on a known support still shows
    # its whole height when its top is neither cut by the image's top border nor hidden behind
    # something nearer: then the box is a lower bound across, not up.
    top_whole = top_seen(obj, capture)
    height_seen = bool(settings.height_seen and partial and support_y is not None and top_whole)
    if small and top_whole and not obj.truncated and settings.small_mask_top_px > 0:
        reach = mask_top_height(obj, capture.K, world_from_camera, settings.small_mask_top_px,
                                settings.small_mask_top_share)
        base = support_y if support_y is not None else bottom
        if reach is not None and reach - base > size[1]:
            size[1] = reach - base
    pts = np.asarray(obj.points, float).reshape(-1, 3)
    pts = subsample(pts[np.all(np.isfinite(pts), 1)], settings.n_obs_points, seed)
    view = None
    if capture.depth is not None:
        view = (np.asarray(capture.K, float), np.linalg.inv(np.asarray(world_from_camera, float)),
                np.asarray(depth if depth is not None else capture.depth, np.float32))
    feature = None
    if extractor is not None and settings.w_appearance > 0 and obj.mask is not None and obj.mask.any():
        crop, cmask = crop_to_mask(capture.rgb, obj.mask)
        feature = extractor([crop], [cmask])[0]
    return Query(box_size=size, yaw=float(box.yaw), t0=np.array([centre[0], y0, centre[2]]), points=pts,
                 partial=partial, fix_y=fix_y, cam_pos=np.asarray(world_from_camera, float)[:3, 3],
                 view=view, feature=feature, small=small, height_seen=height_seen,
                 top_seen=top_whole)


def mask_top_height(obj, K: np.ndarray, world_from_camera: np.ndarray, min_px: float, min_share: float,
                    trim: float = 0.002) -> float | None:
    """Height (world y) the top row of ``obj``'s mask reaches, on the vertical plane through its
    points' middle square to the line of sight, when that row lies at least ``min_px`` pixels and
    ``min_share`` of the mask's height above the highest of its points in the image (their
    ``trim`` quantile); else None. Thin parts (a utensils pot's spoons, a vase's stems) survive in
    the mask but not in the points, which lose them to erosion and outlier filters. A thing whose
    points reach its mask's top (a bowl's far rim seen from above) is left to its points: the
    plane through its middle would put that rim too high."""
    mask = obj.mask
    pts = np.asarray(obj.points, float).reshape(-1, 3)
    if mask is None or not mask.any() or len(pts) < 10:
        return None
    wfc = np.asarray(world_from_camera, float)
    cfw = np.linalg.inv(wfc)
    pc = pts @ cfw[:3, :3].T + cfw[:3, 3]
    pc = pc[pc[:, 2] > 1e-3]
    if len(pc) < 10:
        return None
    K = np.asarray(K, float)
    rows_pts = project(pc, K)[:, 1]
    rows = np.flatnonzero(mask.any(axis=1))
    top_row, span = float(rows[0]), float(rows[-1] + 1 - rows[0])
    gap = float(np.quantile(rows_pts, trim)) - top_row
    if gap < min_px or gap < min_share * span:
        return None
    cols = np.flatnonzero(mask[rows[0]])
    u = float(cols.mean()) + 0.5
    ray = wfc[:3, :3] @ np.array([(u - K[0, 2]) / K[0, 0], (top_row - K[1, 2]) / K[1, 1], 1.0])
    centre = wfc[:3, 3]
    middle = np.median(pts, axis=0)
    n = np.array([middle[0] - centre[0], 0.0, middle[2] - centre[2]])
    along = float(n @ ray)
    if np.linalg.norm(n) < 1e-6 or along <= 1e-9:
        return None
    lam = float(n @ (middle - centre)) / along
    return float(centre[1] + lam * ray[1])


def top_seen(obj, capture, max_hidden: float = 0.1) -> bool:
    """Whether the mask's top edge is the object's own: not on the image's top row, and at most
    ``max_hidden`` of its columns have a nearer object right above their top pixel."""
    if obj.mask is None or not obj.mask.any():
        return False
    cols = np.flatnonzero(obj.mask.any(axis=0))
    tops = np.argmax(obj.mask[:, cols], axis=0)              # first mask row of each column
    if tops.min() == 0:
        return False
    if capture.seg is None or capture.depth is None:
        return True
    above = (tops - 1, cols)
    depth = np.nan_to_num(np.asarray(capture.depth, float), nan=np.inf)
    own = np.nanmedian(np.where(obj.mask, capture.depth, np.nan)) if np.isfinite(depth[obj.mask]).any() else np.inf
    seg = capture.seg[above]
    nearer = (seg != 0) & (seg != obj.id) & (depth[above] < own)
    return bool(nearer.mean() <= max_hidden)


def occluded_fraction(obj, capture, ring_px: int = 2) -> float:
    """Share of the mask's outline that touches another object seen in front of it (0..1)."""
    if capture.seg is None or capture.depth is None or obj.mask is None or not obj.mask.any():
        return 0.0
    ys, xs = np.nonzero(obj.mask)
    y0, y1 = max(ys.min() - ring_px, 0), ys.max() + ring_px + 1
    x0, x1 = max(xs.min() - ring_px, 0), xs.max() + ring_px + 1
    m = obj.mask[y0:y1, x0:x1]
    ring = ndimage.binary_dilation(m, iterations=ring_px) & ~m
    seg = capture.seg[y0:y1, x0:x1]
    depth = capture.depth[y0:y1, x0:x1]
    own = np.nanmedian(depth[m]) if np.isfinite(depth[m]).any() else np.inf
    front = ring & (seg != 0) & (seg != obj.id) & (np.nan_to_num(depth, nan=np.inf) < own)
    return float(front.sum() / max(ring.sum(), 1))


def partial_starts(query: Query, extent: np.ndarray, yaws: np.ndarray) -> np.ndarray:
    """(5, H, 3) ICP starts: the box centre, and shifted by ± half the unseen extent along box x and z."""
    c, s = np.abs(np.cos(yaws - query.yaw)), np.abs(np.sin(yaws - query.yaw))
    ex = c * extent[0] + s * extent[2]                      # asset footprint along box x, per yaw
    ez = s * extent[0] + c * extent[2]
    gx = np.maximum(ex - query.box_size[0], 0) / 2
    gz = np.maximum(ez - query.box_size[2], 0) / 2
    ax = np.array([np.cos(query.yaw), 0.0, -np.sin(query.yaw)])    # box x axis in the world (R_y · x)
    az = np.array([np.sin(query.yaw), 0.0, np.cos(query.yaw)])     # box z axis
    t0 = np.asarray(query.t0, float)
    starts = [np.repeat(t0[None], len(yaws), 0)]
    for g, axis in ((gx, ax), (gz, az)):
        for sign in (1.0, -1.0):
            starts.append(t0 + sign * g[:, None] * axis)
    return np.stack(starts)


def retrieve(query: Query, category: str | None, index: LibraryIndex, extractor, settings: RetrievalSettings,
             scale_trust: float = 0.5, scale_bounds: tuple[float, float] = (0.5, 2.0)) -> list[Hypothesis]:
    """Scored hypotheses for one observed object, best first (empty if the library is empty).

    One hypothesis per candidate asset (its best yaw), the asset's other yaws in
    ``extra["yaws"]`` for the pose stage.
    """
    on_floor = query.on_floor if category is None else None
    cands = prefilter(index, category, query.box_size, query.partial, settings, query.min_footprint, on_floor)
    if category is None and query.feature is not None and settings.unlabelled_appearance_candidates > 0:
        cands += appearance_candidates(query, index, extractor, settings, exclude={c[0] for c in cands})
    return score_assets(query, cands, index, extractor, settings, scale_trust, scale_bounds)


def appearance_candidates(query: Query, index: LibraryIndex, extractor, settings: RetrievalSettings,
                          exclude: set[str]) -> list[tuple[str, float, float]]:
    """[(asset_id, category prior, size prior)] — for an object without a category, the
    ``unlabelled_appearance_candidates`` assets whose rendered views look most like its crop,
    among those whose size prior is at least ``unlabelled_size_floor`` (and not in ``exclude``).
    The prior is that of an unknown category, so shape, size and appearance decide as for the
    size pre-filter's candidates."""
    if len(index) == 0:
        return []
    sp = size_prior(np.asarray(query.box_size, float), index.sizes, query.partial, settings.size_prior_sigma)
    rows = np.nonzero(sp >= settings.unlabelled_size_floor)[0]
    if len(rows) == 0:
        return []
    sim = index.best_view_similarity(query.feature, extractor, rows)
    prior = dict(candidate_categories(None, set(index.categories.tolist()), query.on_floor,
                                      settings.unlabelled_role_prior))
    out = []
    for k in np.argsort(-sim, kind="stable"):
        if len(out) == settings.unlabelled_appearance_candidates or sim[k] < 0:
            break
        asset_id = str(index.ids[rows[k]])
        if asset_id not in exclude and index.usable(asset_id):
            out.append((asset_id, float(prior.get(str(index.categories[rows[k]]), 0.0)), float(sp[rows[k]])))
    return out


def retrieve_assets(query: Query, asset_ids: list[str], index: LibraryIndex, extractor,
                    settings: RetrievalSettings, scale_trust: float = 0.5,
                    scale_bounds: tuple[float, float] = (0.5, 2.0)) -> list[Hypothesis]:
    """Like :func:`retrieve` for given assets (no pre-filter; category prior 1)."""
    rows = [index.row[a] for a in asset_ids]
    sp = size_prior(query.box_size, index.sizes[rows], query.partial, settings.size_prior_sigma)
    cands = [(a, 1.0, float(p)) for a, p in zip(asset_ids, sp)]
    return score_assets(query, cands, index, extractor, settings, scale_trust, scale_bounds)


_POOL: tuple[int, object] | None = None     # (pid, executor): a forked child makes its own


def _fit_pool():
    """Threads for scoring candidates: one per CPU this process may use (at most 4)."""
    global _POOL
    import os
    if _POOL is None or _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        _POOL = (os.getpid(), ThreadPoolExecutor(max(1, min(n, 4)), thread_name_prefix="retrieval"))
    return _POOL[1]


def score_assets(query: Query, cands: list[tuple[str, float, float]], index: LibraryIndex, extractor,
                 settings: RetrievalSettings, scale_trust: float,
                 scale_bounds: tuple[float, float]) -> list[Hypothesis]:
    """Geometry for every candidate [(asset_id, category prior, size prior)], then
    appearance for the ``appearance_top`` best (views are the costly part)."""
    if not cands:
        return []
    n_yaw = settings.n_yaw_small if query.small else settings.n_yaw
    yaws = query.yaw + np.arange(n_yaw) * 2 * np.pi / n_yaw
    # The candidates are independent: score them on threads (the KD-tree queries and the large
    # array operations release the GIL), in candidate order, so results do not depend on it.
    geoms = [index.geometry(asset_id) for asset_id, _, _ in cands]    # cached per index: fill serially

    def one(cand, geom) -> Hypothesis:
        asset_id, prior, sp = cand
        cat = str(index.categories[index.row[asset_id]])
        # A seen height only shapes the extent fit (objects no asset matches): ranking the
        # assets with it traded whole bookcases for lower shelves on bench_main (docs/layout.md).
        scales = fit_scale(cat, geom.extent, yaws - query.yaw, query.box_size, query.partial,
                           scale_trust, scale_bounds)
        if len(query.points) >= 3 and query.partial and settings.partial_starts:
            # A partial view's box centre is off towards what was seen: also start from
            # the box shifted by the unseen extent along each of its axes, keep the best start per yaw.
            starts = partial_starts(query, geom.extent, yaws)                 # (S, H, 3)
            S = len(starts)
            ts, cham = geometric_fit(geom, query.points, query.cam_pos, np.tile(yaws, S), np.tile(scales, (S, 1)),
                                     starts.reshape(-1, 3), settings, fix_y=query.fix_y, view=query.view)
            ts, cham = ts.reshape(S, -1, 3), cham.reshape(S, -1)
            pick = np.argmin(cham, axis=0)
            # Every start of the best yaw, kept: the points cannot tell where the unseen part
            # lies; render-and-compare (inside the image) and the room (walls) can.
            b = int(np.argmin(cham.min(0)))
            unseen = [(float(yaws[b]), scales[b], ts[k, b], float(cham[k, b])) for k in range(S) if k != pick[b]]
            ts, cham = ts[pick, np.arange(len(yaws))], cham[pick, np.arange(len(yaws))]
        elif len(query.points) >= 3:
            ts, cham = geometric_fit(geom, query.points, query.cam_pos, yaws, scales, query.t0, settings,
                                     fix_y=query.fix_y, view=query.view)
        else:   # a handful of pixels: nothing to fit, the box centre it is
            ts, cham = np.repeat(query.t0[None], len(yaws), 0), np.full(len(yaws), settings.trunc_m)
        gsim = np.exp(-cham / settings.sigma_m)
        order = np.argsort(cham, kind="stable")
        best = order[0]
        h = Hypothesis(asset_id=asset_id, category=cat, yaw=float(yaws[best]), scale=scales[best],
                       translation=ts[best], geometry=float(gsim[best]), size=sp, prior=prior,
                       chamfer_m=float(cham[best]))
        h.score = settings.w_geometry * h.geometry + settings.w_size * sp + settings.w_category * prior
        h.extra["yaws"] = [(float(yaws[i]), scales[i], ts[i], float(cham[i])) for i in order]
        if query.partial and settings.partial_starts and len(query.points) >= 3:
            h.extra["unseen"] = unseen
        return h

    out: list[Hypothesis] = list(_fit_pool().map(one, cands, geoms)) if len(cands) > 1 \
        else [one(cands[0], geoms[0])]
    out.sort(key=lambda h: -h.score)
    if query.feature is not None:
        top = out[: settings.appearance_top]
        for h in top:
            feats, _, _ = index.view_features(h.asset_id, extractor)
            h.appearance = float(np.max(feats @ query.feature)) if len(feats) else 0.0
        floor = min(h.appearance for h in top)
        for h in out[settings.appearance_top:]:
            h.appearance = floor       # not looked at: no better than the worst that was
        if max(h.appearance for h in top) < settings.appearance_trust:
            # Nothing in the library looks like it (an object the library does not hold): its
            # nearest cousin by colour is no nearer by shape, so appearance does not rank.
            for h in out:
                h.extra["shape_only"] = True
            return out
        for h in out:
            h.score += settings.w_appearance * h.appearance
        out.sort(key=lambda h: -h.score)
    return out
