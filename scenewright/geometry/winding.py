"""Which side of an open mesh is solid: the generalised winding number.

Library meshes are rarely closed: a cabinet without its back, a table top as a single
sheet, parts that float apart. "Inside" for such a mesh needs a rule that tolerates holes
and still tells a cavity open to the room (a desk's cubby, the space under a hutch shelf)
from material. The generalised winding number (Jacobson, Kavan and Sorkine-Hornung,
*Robust Inside-Outside Segmentation using Generalized Winding Numbers*, SIGGRAPH 2013)
does: the signed solid angle the surface subtends at a point, over 4π. It is 1 inside and
0 outside a closed, outward-oriented mesh; a missing face lowers it inside by the solid
angle of the hole (the inside of a cabinet without its back still reads ≈ 0.8), while in a
cavity bounded by the outsides of panels the panels' faces point into the cavity and
cancel (≈ 0). A point counts as inside at w ≥ ½.

Orientation is what carries the information, so a mesh whose faces do not say which side
is material (double-sided sheets, faces flipped at random) gives w ≈ 0 everywhere:
:func:`material_sign` tells such meshes apart, and their callers keep a rule
that does not need orientation.
"""

from __future__ import annotations

import numpy as np

# Entries (points × triangles) evaluated at once: bounds the temporary arrays to ~100 MB.
_CHUNK = 1_000_000


def winding_numbers(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalised winding number (P,) of the triangle mesh (``vertices`` (V, 3), ``faces`` (F, 3))
    at ``points`` (P, 3): the sum of the triangles' signed solid angles (Van Oosterom and
    Strackee's formula) over 4π."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]      # (F, 3, 3)
    points = np.asarray(points, np.float64).reshape(-1, 3)
    out = np.zeros(len(points))
    if len(tri) == 0 or len(points) == 0:
        return out
    step = max(1, _CHUNK // len(tri))
    for s in range(0, len(points), step):
        rel = tri[None] - points[s:s + step, None, None, :]                 # (p, F, 3, 3)
        a, b, c = rel[:, :, 0], rel[:, :, 1], rel[:, :, 2]
        la, lb, lc = (np.linalg.norm(v, axis=-1) for v in (a, b, c))
        det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc
               + np.einsum("pfi,pfi->pf", b, c) * la + np.einsum("pfi,pfi->pf", c, a) * lb)
        out[s:s + step] = np.arctan2(det, den).sum(axis=1) / (2 * np.pi)
    return out


def material_sign(mesh, samples: int = 256, seed: int = 0, offset: float = 1e-3) -> float:
    """+1 (−1) when the faces of ``mesh`` (a ``trimesh.Trimesh``) point out of (into) its
    material, 0 when they do not tell.

    Points just behind and just in front of the surface (``offset`` along each sampled face's
    normal) sum to w ≈ 1 for outward faces (inside 1, outside 0), −1 for inward ones, and
    ≈ 0 for double-sided faces or a lone sheet (½ − ½), where the winding number cannot say
    which side is material. The median over the samples ignores a few stray faces."""
    import trimesh

    if len(mesh.faces) == 0 or mesh.area <= 0:
        return 0.0
    points, face = trimesh.sample.sample_surface(mesh, samples, seed=seed)
    normals = mesh.face_normals[face]
    w = winding_numbers(mesh.vertices, mesh.faces, np.concatenate([points - offset * normals,
                                                                   points + offset * normals]))
    total = float(np.median(w[:len(points)] + w[len(points):]))
    return 0.0 if abs(total) < 0.5 else float(np.sign(total))


def contains(mesh, points: np.ndarray, sign: float) -> np.ndarray:
    """(N,) bool: ``points`` inside the material of ``mesh`` (w · ``sign`` ≥ ½; all False when
    ``sign`` is 0, i.e. the mesh's faces do not tell)."""
    points = np.asarray(points, float).reshape(-1, 3)
    if not sign:
        return np.zeros(len(points), bool)
    return sign * winding_numbers(mesh.vertices, mesh.faces, points) >= 0.5


def contains_signed_later(mesh, points: np.ndarray, sign_of) -> np.ndarray:
    """:func:`contains` with the sign asked only when needed: ``sign_of()`` -> float is called only
    when some point has |w| ≥ ½ (below that no sign makes it inside). The winding numbers of a few
    points cost F operations each, :func:`material_sign` 512 · F: most points tested lie outside
    every material, and their answer needs no sign."""
    points = np.asarray(points, float).reshape(-1, 3)
    w = winding_numbers(mesh.vertices, mesh.faces, points)
    if not np.any(np.abs(w) >= 0.5):
        return np.zeros(len(points), bool)
    sign = sign_of()
    if not sign:
        return np.zeros(len(points), bool)
    return sign * w >= 0.5
