"""Seeded surface sampling of meshes (used by shape symmetry, evaluation and retrieval)."""

from __future__ import annotations

import numpy as np
import trimesh


def sample_surface(mesh: trimesh.Trimesh, count: int, seed: int) -> np.ndarray:
    """(count, 3) points drawn uniformly by area on ``mesh`` with a fixed seed.

    A mesh with no area (degenerate faces only) yields its vertices repeated, so
    the metrics stay defined (and bad); an empty mesh raises ValueError.
    """
    if mesh is None or len(mesh.vertices) == 0:
        raise ValueError("mesh has no vertices")
    if len(mesh.faces) == 0 or not mesh.area > 0:
        rng = np.random.default_rng(seed)
        return np.asarray(mesh.vertices, float)[rng.integers(0, len(mesh.vertices), count)]
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, float)
