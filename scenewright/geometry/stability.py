"""Whether a thing stands: how far it can be tipped before it falls over.

A rigid body resting on a flat surface falls over once its centre of mass passes the edge
of its contact footprint. Tipped by an angle θ about the nearest footprint edge, the centre
(height ``h`` above the surface, distance ``d`` inside that edge) passes it at
θ = atan(d / h). A coat hanger stood on its bar (d = 6 mm, h = 6 cm) falls at 6°; a vase
(d = 5 cm, h = 12 cm) at 23°; a thing whose centre lies outside its footprint (a towel
meant to hang) does not stand at all (0).
"""
from __future__ import annotations

import numpy as np
import trimesh


def centre_of_mass(mesh: trimesh.Trimesh) -> np.ndarray:
    """(3,) the mesh's centre of mass assuming uniform density: the enclosed volume's for a
    watertight mesh with positive volume, else the surface's area-weighted centroid (a
    library model is rarely closed; a thin-walled thing's mass lies on its surface)."""
    if mesh.is_watertight and mesh.volume > 1e-12:
        return np.asarray(mesh.center_mass, float)
    return np.asarray(mesh.centroid, float)


def contact_footprint(mesh: trimesh.Trimesh, band: float = 0.005, up: int = 1) -> np.ndarray:
    """(N, 2) horizontal coordinates of the mesh's points within ``band`` metres of its
    lowest point along axis ``up``: vertices and face centres (a large flat bottom may have
    vertices only at its rim)."""
    v = np.asarray(mesh.vertices, float)
    low = v[:, up].min() + band
    flat = [a for a in range(3) if a != up]
    faces = np.all(v[mesh.faces][:, :, up] < low, axis=1)
    pts = np.vstack([v[v[:, up] < low], np.asarray(mesh.triangles_center)[faces]])
    return pts[:, flat]


def tipping_angle(mesh: trimesh.Trimesh, band: float = 0.005, up: int = 1) -> float:
    """Radians the mesh, standing on its lowest points (along axis ``up``) on a flat surface,
    can be tipped before its centre of mass passes the edge of its contact footprint (the
    convex hull of :func:`contact_footprint`); 0 when the centre lies outside that footprint
    or the footprint has no area (a knife on its edge)."""
    from scipy.spatial import ConvexHull, QhullError
    foot = contact_footprint(mesh, band, up)
    com = centre_of_mass(mesh)
    flat = [a for a in range(3) if a != up]
    height = float(com[up] - np.asarray(mesh.vertices)[:, up].min())
    if len(foot) < 3 or height <= 0:
        return 0.0
    try:
        hull = ConvexHull(foot)
    except QhullError:                      # collinear contacts: a line, no area
        return 0.0
    # equations: n·x + c <= 0 inside, n unit: the centre's distance inside each edge
    inside = -(hull.equations[:, :2] @ com[flat] + hull.equations[:, 2])
    d = float(inside.min())
    return float(np.arctan2(d, height)) if d > 0 else 0.0
