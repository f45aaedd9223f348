"""Whether a mesh's vertex normals are its file's own or ones trimesh computed.

Renderers and exporters shade a mesh smooth only with its file's normals: trimesh's
area-weighted averages make a box look blobby. trimesh caches loaded normals and the ones
it computes on the first ``vertex_normals`` call in the same place, so the answer is taken
when a mesh is read (:func:`mark_file_normals`) and kept in its metadata.
"""

from __future__ import annotations

import trimesh

# ``mesh.metadata`` key: whether the mesh held its file's vertex normals when it was read.
FILE_NORMALS_KEY = "vertex_normals_from_file"


def mark_file_normals(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Record in ``mesh.metadata`` whether ``mesh``, just read from a file, holds the file's
    vertex normals; returns ``mesh``.

    trimesh caches loaded normals and the ones it computes on the first ``vertex_normals``
    call in the same place, so without this record a mesh's shading would depend on what
    touched it before (a shared library mesh, once any caller asked for its normals, would
    turn smooth). The record travels with copies (trimesh deep-copies metadata).
    """
    mesh.metadata[FILE_NORMALS_KEY] = "vertex_normals" in mesh._cache
    return mesh


def has_own_vertex_normals(mesh: trimesh.Trimesh) -> bool:
    """True if the mesh carries vertex normals of its own (from its file), not computed ones.

    trimesh keeps loaded normals in its cache under ``vertex_normals``; when absent it would
    compute area-weighted averages, which make boxes look blobby, so we shade flat instead.
    A mesh read through :func:`mark_file_normals` answers from that record (normals computed
    later are not its own); any other mesh from its cache.
    """
    return "vertex_normals" in mesh._cache and bool(mesh.metadata.get(FILE_NORMALS_KEY, True))
