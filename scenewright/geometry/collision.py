"""Mesh collision helpers over python-fcl (BVH mesh–mesh tests) and manifold3d (overlap volume).

Objects only translate during layout optimisation, so each mesh is posed once (its world
rotation and scale baked into the vertices) and moved by an fcl translation afterwards.
The fcl BVH is built on the first narrow-phase test that needs it: in a crowded scene most
objects never come within box range of another, and building a BVH (~10 µs per face) is
then the largest per-object cost.
"""

from __future__ import annotations

import numpy as np
import trimesh

from scenewright.geometry import winding


class PosedMesh:
    """A mesh with its world orientation/scale baked in, moved by a translation ``pos`` (3,).

    ``vertices`` (V, 3) are relative to ``pos``: world vertices are ``vertices + pos``.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, pos: np.ndarray, model=None,
                 rotation: np.ndarray | None = None):
        import fcl  # noqa: F401 -- fails here, not at the first test, when the optional extra is missing

        self.vertices = np.asarray(vertices, float)
        self.faces = np.asarray(faces, np.int32)
        self.pos = np.asarray(pos, float).copy()
        # ``model``: a shared fcl BVH of the unrotated (scaled) mesh, turned by ``rotation``
        # (or a SharedBVH that builds it once when first asked); building a BVH is the
        # expensive part (~10 µs per face), so equal assets share one. None: a BVH of the
        # posed vertices themselves, built when first needed.
        self._rot = np.eye(3) if rotation is None or model is None else np.asarray(rotation, float)
        self._model = model
        self._fcl_obj = None
        self._mesh: trimesh.Trimesh | None = None
        self._watertight: bool | None = None
        self._material_sign: float | None = None
        self.lo = self.vertices.min(axis=0)
        self.hi = self.vertices.max(axis=0)

    @classmethod
    def from_transform(cls, mesh: trimesh.Trimesh, world_from_object: np.ndarray,
                       cache: dict | None = None) -> "PosedMesh":
        """Pose ``mesh`` by ``world_from_object`` (rotation × scale + translation). With a
        ``cache`` dict, equal meshes at the same scale share one BVH (keyed by a content fingerprint)."""
        from scenewright.geometry.transforms import decompose_scale

        t = np.asarray(world_from_object, float)
        baked = np.asarray(mesh.vertices, float) @ t[:3, :3].T
        if cache is None:
            return cls(baked, mesh.faces, t[:3, 3])
        rot, scale = decompose_scale(t[:3, :3])
        if not np.allclose(rot * scale, t[:3, :3], atol=1e-9):     # shear: cannot share
            return cls(baked, mesh.faces, t[:3, 3])
        v = np.asarray(mesh.vertices, float)
        # Content fingerprint, not identity: a scene read from disk holds one copy per instance.
        key = (len(v), len(mesh.faces), round(float(v.sum()), 9), round(float((v * v).sum()), 9),
               int(np.asarray(mesh.faces)[:64].sum()), tuple(np.round(scale, 9)))
        if key not in cache:
            cache[key] = (mesh, SharedBVH(np.asarray(mesh.vertices, float) * scale, mesh.faces))
        return cls(baked, mesh.faces, t[:3, 3], model=cache[key][1], rotation=rot)

    @property
    def _obj(self):
        """The fcl collision object (BVH built on first use), at ``pos``."""
        if self._fcl_obj is None:
            import fcl

            model = self._model
            if model is None:
                model = self._model = bvh_model(self.vertices, self.faces)
            elif isinstance(model, SharedBVH):
                model = model.get()
            self._fcl_obj = fcl.CollisionObject(model, fcl.Transform(self._rot, self.pos))
        return self._fcl_obj

    @property
    def watertight(self) -> bool:
        """Whether the mesh is closed (asked once: trimesh re-hashes the arrays on every query)."""
        if self._watertight is None:
            self._watertight = bool(self.local_mesh.is_watertight)
        return self._watertight

    @property
    def local_mesh(self) -> trimesh.Trimesh:
        """The posed mesh relative to ``pos`` (cached; for ray casts and containment)."""
        if self._mesh is None:
            self._mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        return self._mesh

    def world_vertices(self, pos: np.ndarray | None = None) -> np.ndarray:
        return self.vertices + (self.pos if pos is None else pos)

    def aabb(self, pos: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        p = self.pos if pos is None else pos
        return self.lo + p, self.hi + p

    def collides(self, other: "PosedMesh", pos: np.ndarray | None = None,
                 other_pos: np.ndarray | None = None) -> bool:
        """True when the two surfaces intersect (at the given or current positions), or one
        mesh's vertex lies inside the other's material (containment without crossing): inside a
        watertight mesh, or where an open mesh's generalised winding number says material (the
        evaluator's rule, :mod:`scenewright.geometry.winding`: a cavity open to the room is air)."""
        import fcl

        pa = self.pos if pos is None else np.asarray(pos, float)
        pb = other.pos if other_pos is None else np.asarray(other_pos, float)
        lo_a, hi_a = self.lo + pa, self.hi + pa
        lo_b, hi_b = other.lo + pb, other.hi + pb
        if np.any(hi_a < lo_b) or np.any(hi_b < lo_a):
            return False
        self._obj.setTranslation(pa)
        other._obj.setTranslation(pb)
        hit = fcl.collide(self._obj, other._obj, fcl.CollisionRequest(), fcl.CollisionResult()) > 0
        self._obj.setTranslation(self.pos)
        other._obj.setTranslation(other.pos)
        if hit:
            return True
        # No surface crossing: one may still sit wholly inside the other.
        for a, b, pa_, pb_ in ((self, other, pa, pb), (other, self, pb, pa)):
            if np.all(a.hi + pa_ <= b.hi + pb_) and np.all(a.lo + pa_ >= b.lo + pb_):
                if b.watertight:
                    if bool(b.local_mesh.contains((a.vertices[:1] + pa_ - pb_))[0]):
                        return True
                elif bool(winding.contains_signed_later(b.local_mesh, a.vertices[:1] + pa_ - pb_,
                                                        lambda b=b: b.material_sign)[0]):
                    return True
        return False

    @property
    def material_sign(self) -> float:
        """Which side of the faces is material (+1 outward, −1 inward, 0: they do not tell);
        asked once."""
        if self._material_sign is None:
            self._material_sign = winding.material_sign(self.local_mesh)
        return self._material_sign

    def move_to(self, pos: np.ndarray) -> None:
        self.pos = np.asarray(pos, float).copy()
        if self._fcl_obj is not None:
            self._fcl_obj.setTranslation(self.pos)


class SharedBVH:
    """One fcl BVH of vertices (V, 3) / faces (F, 3), built the first time :meth:`get` is called."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices, self.faces = vertices, faces
        self._model = None

    def get(self):
        if self._model is None:
            self._model = bvh_model(self.vertices, self.faces)
        return self._model


def boxes_overlap(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray) -> np.ndarray:
    """Whether boxes [lo_a, hi_a] and [lo_b, hi_b] (broadcasting (..., 3)) overlap, touching
    included: the negation of :meth:`PosedMesh.collides`'s early reject, so a pair this rules
    out is one ``collides`` answers False for without asking fcl."""
    return np.all(hi_a >= lo_b, axis=-1) & np.all(hi_b >= lo_a, axis=-1)


def overlapping_pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Broad phase: (K, 2) int pairs (i < j, sorted) of boxes that overlap (touching included).

    ``lo``, ``hi`` (N, 3) box corners. Sweep and prune along x: sorted by ``lo[:, 0]``, box i
    can only meet the boxes after it whose ``lo[:, 0]`` is at most its ``hi[:, 0]`` (found by
    a binary search), and those are checked on all three axes at once. Cost
    O(N log N + candidates) instead of the N(N−1)/2 pairwise checks.
    """
    lo, hi = np.asarray(lo, float).reshape(-1, 3), np.asarray(hi, float).reshape(-1, 3)
    n = len(lo)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    order = np.argsort(lo[:, 0], kind="stable")
    lo_s, hi_s = lo[order], hi[order]
    end = np.searchsorted(lo_s[:, 0], hi_s[:, 0], side="right")         # first box starting beyond i
    start = np.arange(1, n + 1)
    count = np.maximum(end - start, 0)
    ii = np.repeat(np.arange(n), count)
    # jj runs from i + 1 to end - 1 for each i: offsets within each run
    run_start = np.repeat(np.cumsum(count) - count, count)
    jj = ii + 1 + (np.arange(len(ii)) - run_start)
    keep = boxes_overlap(lo_s[ii], hi_s[ii], lo_s[jj], hi_s[jj])
    a, b = order[ii[keep]], order[jj[keep]]
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def brute_force_overlapping_pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The same pairs as :func:`overlapping_pairs` by checking all N(N−1)/2 of them (the
    reference for tests and benchmarks)."""
    lo, hi = np.asarray(lo, float).reshape(-1, 3), np.asarray(hi, float).reshape(-1, 3)
    i, j = np.triu_indices(len(lo), k=1)
    keep = boxes_overlap(lo[i], hi[i], lo[j], hi[j])
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


def bvh_model(vertices: np.ndarray, faces: np.ndarray):
    """An fcl BVH (OBBRSS) mesh model of vertices (V, 3) and faces (F, 3)."""
    import fcl

    model = fcl.BVHModel()
    model.beginModel(len(vertices), len(faces))
    model.addSubModel(np.asarray(vertices, float), np.asarray(faces, np.int32))
    model.endModel()
    return model


def separation_along(a: PosedMesh, b: PosedMesh, direction: np.ndarray, t_max: float,
                     tol: float = 1e-3) -> float | None:
    """Smallest t in [0, t_max] (to ``tol``) such that moving ``b`` by ``t * direction`` from its
    current position leaves it clear of ``a`` (bisection on fcl tests). None if t_max is not enough."""
    u = np.asarray(direction, float)
    if not b.collides(a, b.pos + t_max * u, a.pos):
        lo, hi = 0.0, t_max
        while hi - lo > tol:
            mid = (lo + hi) / 2
            if b.collides(a, b.pos + mid * u, a.pos):
                lo = mid
            else:
                hi = mid
        return hi
    return None


def to_manifold(mesh: trimesh.Trimesh):
    import manifold3d

    return manifold3d.Manifold(manifold3d.Mesh(vert_properties=np.asarray(mesh.vertices, np.float32),
                                               tri_verts=np.asarray(mesh.faces, np.uint32)))


def intersection_volume(mesh_a: trimesh.Trimesh, mesh_b: trimesh.Trimesh) -> tuple[float, str]:
    """Overlap volume (m³) of two world meshes with manifold3d, and how it was computed:
    ``"mesh"`` when both are manifold, else ``"convex_hull"`` (an upper bound)."""
    import manifold3d

    ma, mb = to_manifold(mesh_a), to_manifold(mesh_b)
    how = "mesh"
    if ma.status() != manifold3d.Error.NoError or mb.status() != manifold3d.Error.NoError:
        ma, mb = to_manifold(mesh_a.convex_hull), to_manifold(mesh_b.convex_hull)
        how = "convex_hull"
    return float((ma ^ mb).volume()), how
