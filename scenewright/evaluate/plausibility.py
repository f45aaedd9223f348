"""Physical plausibility of a scene: interpenetration, floating objects, objects below the floor.

All meshes are in world coordinates (metres, Y up); the floor is the plane y = ``floor_y``.

- **Interpenetration**: a pair counts when the volume of the intersection of the two
  solids exceeds ``min_volume_m3`` (1 cm³). The exact volume comes from manifold3d's
  boolean intersection when both meshes are closed, consistently oriented volumes;
  otherwise from the overlap of their solid voxelisations at ``voxel_pitch`` (1 cm), a
  voxel counting as solid when surface encloses it along at least two axes (so a mesh
  with a hole or a missing side is still filled); cells crossed by both surfaces count
  as contact, not overlap, so objects resting on each other are not flagged. Two-axis
  enclosure also fills cavities open on one side (a desk's cubby between its top and a
  hutch shelf), which are air: a thing standing in them crosses no surface. So a cell of
  the overlap counts only where it is solid by each mesh's generalised winding number too
  (:mod:`scenewright.geometry.winding`: w ≥ ½, which a missing face keeps but a cavity bounded
  by the outsides of panels does not), for every mesh whose faces' orientation says which
  side is material (double-sided or inconsistently oriented meshes keep the two-axis fill).
  Each pair records which method was used ("voxel+winding" when the winding number decided).
- **Floating**: the object's lowest point is more than ``float_tol`` above the floor and
  no other object's surface lies within ``float_tol`` below its lowest points (rays cast
  straight down from ``ray_lift`` above each of its lowest surface points).
- **Below the floor**: the lowest point is more than ``float_tol`` under the floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh

from scenewright.geometry.winding import material_sign, winding_numbers


@dataclass
class PlausibilitySettings:
    min_volume_m3: float = 1e-6        # 1 cm³
    voxel_pitch: float = 0.01          # m, fallback for non-manifold meshes
    winding_cells: int = 1024          # overlap cells whose winding numbers are evaluated (evenly spread)
    orientation_samples: int = 256     # surface points that test whether a mesh's faces tell its inside
    float_tol: float = 0.02            # m, floating / below-floor tolerance
    ray_lift: float = 0.05             # m, rays start this far above the lowest points
    support_band: float = 0.01         # m, points this close to the lowest point are "lowest points"
    max_support_rays: int = 256
    exempt_categories: tuple[str, ...] = field(default_factory=tuple)


def as_solid(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy with duplicate vertices merged (GLB meshes are often split per face for normals/UVs)."""
    return trimesh.Trimesh(np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64), process=True)


def _manifold(mesh: trimesh.Trimesh):
    """manifold3d.Manifold of a closed mesh, or None when manifold3d refuses it."""
    import manifold3d
    m = manifold3d.Manifold(manifold3d.Mesh(
        vert_properties=np.ascontiguousarray(mesh.vertices, np.float32),
        tri_verts=np.ascontiguousarray(mesh.faces, np.uint32)))
    if m.status() != manifold3d.Error.NoError or m.is_empty():
        return None
    return m


def filled_voxels(surface: np.ndarray, min_axes: int = 2) -> np.ndarray:
    """Solid occupancy (bool, same shape) from a surface voxel grid, tolerant of open meshes.

    A voxel is inside when surface voxels enclose it on both sides along at least
    ``min_axes`` of the three axes. A closed mesh is enclosed along all three; an open
    one (a missing side, a hole) still along two, where a flood fill would leak.
    """
    enclosed = np.zeros(surface.shape, np.int8)
    for axis in range(3):
        before = np.maximum.accumulate(surface, axis=axis)
        after = np.flip(np.maximum.accumulate(np.flip(surface, axis), axis=axis), axis)
        enclosed += before & after
    return surface | (enclosed >= min_axes)


def _voxel_keys(mesh: trimesh.Trimesh, pitch: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sorted int64 keys of the world-grid cells (origin 0, size ``pitch``): (solid, surface).

    Surface cells come from dense seeded surface samples (about 9 per pitch², far faster
    than subdividing large triangles); ``filled_voxels`` then fills the inside.
    """
    count = int(np.clip(mesh.area / (pitch / 3) ** 2, 1000, 4_000_000))
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    points = np.concatenate([points, mesh.vertices])
    ijk = np.floor(points / pitch).astype(np.int64)
    lo = ijk.min(0)
    ijk -= lo
    surface = np.zeros(ijk.max(0) + 1, bool)
    surface[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True

    def keys(mask):
        c = np.argwhere(mask) + lo + (1 << 20)
        return np.unique((c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2])
    return keys(filled_voxels(surface)), keys(surface)


def keys_to_centres(keys: np.ndarray, pitch: float) -> np.ndarray:
    """World centres (N, 3) of the cells with ``_voxel_keys`` keys."""
    mask = (1 << 21) - 1
    ijk = np.stack([(keys >> 42) & mask, (keys >> 21) & mask, keys & mask], axis=1) - (1 << 20)
    return (ijk + 0.5) * pitch


class _SolidCache:
    """Per-object merged mesh, Manifold (or None), voxel keys and material sign, computed once."""

    def __init__(self, meshes: dict[int, trimesh.Trimesh], pitch: float, settings: "PlausibilitySettings | None" = None):
        self.meshes, self.pitch = meshes, pitch
        self.settings = settings or PlausibilitySettings()
        self._solid, self._manifold, self._voxels, self._sign = {}, {}, {}, {}

    def sign(self, i):
        if i not in self._sign:
            self._sign[i] = material_sign(self.solid(i), self.settings.orientation_samples)
        return self._sign[i]

    def solid(self, i):
        if i not in self._solid:
            self._solid[i] = as_solid(self.meshes[i])
        return self._solid[i]

    def manifold(self, i):
        if i not in self._manifold:
            s = self.solid(i)
            self._manifold[i] = _manifold(s) if s.is_volume else None
        return self._manifold[i]

    def voxels(self, i):
        if i not in self._voxels:
            self._voxels[i] = _voxel_keys(self.solid(i), self.pitch)
        return self._voxels[i]


def intersection_volume(cache: _SolidCache, a: int, b: int) -> tuple[float, str]:
    """(volume m³, method) of the intersection of objects ``a`` and ``b``: "manifold" or "voxel"."""
    ma, mb = cache.manifold(a), cache.manifold(b)
    if ma is not None and mb is not None:
        return float((ma ^ mb).volume()), "manifold"
    (solid_a, surf_a), (solid_b, surf_b) = cache.voxels(a), cache.voxels(b)
    common = np.intersect1d(solid_a, solid_b, assume_unique=True)
    # Cells both surfaces pass through are contact (an object resting on another shares
    # a layer of cells with it), not penetration.
    contact = np.intersect1d(surf_a, surf_b, assume_unique=True)
    overlap = np.setdiff1d(common, contact, assume_unique=True)
    signs = [(cache.solid(i), cache.sign(i)) for i in (a, b)]
    if len(overlap) == 0 or not any(sign for _, sign in signs):
        return float(len(overlap) * cache.pitch ** 3), "voxel"
    # Two-axis enclosure fills cavities open on one side; keep the cells the winding number
    # of each oriented mesh calls material (an even spread of them when there are many).
    pick = np.unique(np.linspace(0, len(overlap) - 1, min(len(overlap), cache.settings.winding_cells)).astype(int))
    centres = keys_to_centres(overlap[pick], cache.pitch)
    inside = np.ones(len(pick), bool)
    for mesh, sign in signs:
        if sign:
            inside &= sign * winding_numbers(mesh.vertices, mesh.faces, centres) >= 0.5
    return float(inside.mean() * len(overlap) * cache.pitch ** 3), "voxel+winding"


def _lowest_points(mesh: trimesh.Trimesh, points: np.ndarray | None, band: float, limit: int) -> np.ndarray:
    pts = np.asarray(points if points is not None else mesh.vertices, float)
    low = pts[pts[:, 1] <= pts[:, 1].min() + band]
    if len(low) > limit:     # even subsample: deterministic and spread over the footprint
        low = low[np.linspace(0, len(low) - 1, limit).astype(int)]
    return low


def support_below(mesh_points: np.ndarray, others: dict[int, trimesh.Trimesh],
                  settings: PlausibilitySettings) -> tuple[int | None, float]:
    """The id of another object whose surface lies within ``float_tol`` below ``mesh_points``.

    Returns (id or None, smallest downward gap in metres, +inf if nothing is hit). A
    surface above the lowest points (up to ``ray_lift``) gives a negative gap: the object
    sinks into its support, which interpenetration reports separately.
    """
    origins = mesh_points + np.array([0.0, settings.ray_lift, 0.0])
    dirs = np.tile([0.0, -1.0, 0.0], (len(origins), 1))
    lo_xz, hi_xz = mesh_points[:, [0, 2]].min(0), mesh_points[:, [0, 2]].max(0)
    best_id, best_gap = None, np.inf
    for oid, other in others.items():
        b = other.bounds
        if np.any(b[1, [0, 2]] < lo_xz) or np.any(b[0, [0, 2]] > hi_xz):
            continue       # no footprint overlap: no ray can hit it
        locations, index_ray, _ = other.ray.intersects_location(origins, dirs, multiple_hits=False)
        if len(locations) == 0:
            continue
        gaps = mesh_points[index_ray, 1] - locations[:, 1]
        gaps = gaps[gaps >= -settings.ray_lift]
        if len(gaps) and np.min(np.abs(gaps)) < abs(best_gap):
            best_id, best_gap = oid, float(gaps[np.argmin(np.abs(gaps))])
    if best_gap > settings.float_tol:
        return None, best_gap
    return best_id, best_gap


def check_plausibility(meshes: dict[int, trimesh.Trimesh], floor_y: float | None,
                       settings: PlausibilitySettings | None = None,
                       categories: dict[int, str | None] | None = None,
                       points: dict[int, np.ndarray] | None = None) -> dict:
    """Plausibility report of world-space meshes ``{id: mesh}``.

    ``floor_y`` None: floating and below-floor are not computed (said in the report).
    ``points``: optional surface samples per object (N, 3) used to find lowest points.
    Objects whose category is in ``settings.exempt_categories`` are skipped and listed.
    """
    settings = settings or PlausibilitySettings()
    categories = categories or {}
    exempt = sorted(i for i in meshes if categories.get(i) in settings.exempt_categories)
    ids = sorted(i for i in meshes if i not in exempt)
    cache = _SolidCache(meshes, settings.voxel_pitch, settings)
    bounds = {i: meshes[i].bounds for i in ids}

    pairs = []
    for n, a in enumerate(ids):
        for b in ids[n + 1:]:
            lo = np.maximum(bounds[a][0], bounds[b][0])
            hi = np.minimum(bounds[a][1], bounds[b][1])
            # The boxes' overlap bounds the solids' overlap: skip pairs that cannot exceed the limit.
            if np.prod(np.clip(hi - lo, 0, None)) <= settings.min_volume_m3:
                continue
            vol, method = intersection_volume(cache, a, b)
            pairs.append({"a": a, "b": b, "volume_cm3": vol * 1e6, "method": method,
                          "interpenetrating": vol > settings.min_volume_m3})

    per_object, floating, below = {}, [], []
    if floor_y is not None:
        for i in ids:
            lowest = float(bounds[i][0, 1])
            gap = lowest - floor_y
            entry = {"lowest_y": lowest, "floor_gap_m": gap, "supported_by": None}
            if gap < -settings.float_tol:
                below.append(i)
                entry["supported_by"] = "below floor"
            elif gap <= settings.float_tol:
                entry["supported_by"] = "floor"
            else:
                low = _lowest_points(meshes[i], None if points is None else points.get(i),
                                     settings.support_band, settings.max_support_rays)
                sup, sgap = support_below(low, {j: meshes[j] for j in ids if j != i}, settings)
                entry["support_gap_m"] = sgap if np.isfinite(sgap) else None
                if sup is None:
                    floating.append(i)
                else:
                    entry["supported_by"] = int(sup)
            per_object[i] = entry

    inter = [p for p in pairs if p["interpenetrating"]]
    return {
        "floor_y": floor_y,
        "n_interpenetrating_pairs": len(inter),
        "interpenetration_volume_cm3": float(sum(p["volume_cm3"] for p in inter)),
        "n_floating": None if floor_y is None else len(floating),
        "n_below_floor": None if floor_y is None else len(below),
        "interpenetrating_pairs": [[p["a"], p["b"]] for p in inter],
        "floating": floating, "below_floor": below,
        "pairs_checked": pairs, "per_object": per_object,
        "exempt": [{"id": i, "category": categories.get(i), "reason": "exempt category"} for i in exempt],
        "not_computed": [] if floor_y is not None else ["floating", "below_floor (no floor known)"],
    }
