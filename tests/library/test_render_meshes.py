"""The index's render meshes: what the pose renders draw, precomputed at build time.

Real files throughout: the session's small real library (its GLBs, textures and index),
the real renderer. The index must give exactly the arrays preparing the GLB gives (so a
library with or without them reconstructs the same scene), render the same pixels, and
scaled libraries' replicas must draw their source's mesh stretched.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import trimesh

from scenewright.library.index import INDEX_DIR, RENDER_TEXTURE_SIDE, open_index
from scenewright.library.replicas import ReplicaSettings, make_scaled_library
from scenewright.library.store import Library
from scenewright.methods.layout.retrieval import LibraryIndex
from scenewright.render import Renderer, RenderItem, RenderSettings
from scenewright.render.gl import get_state
from scenewright.render.meshprep import prepare_mesh, stretched


def _same_prepared(a, b) -> None:
    assert a.vertices.dtype == b.vertices.dtype
    assert a.vertices.tobytes() == b.vertices.tobytes()
    assert (a.indices is None) == (b.indices is None)
    if a.indices is not None:
        np.testing.assert_array_equal(a.indices, b.indices)
    assert (a.texture is None) == (b.texture is None)
    if a.texture is not None:
        np.testing.assert_array_equal(a.texture, b.texture)
    np.testing.assert_array_equal(a.base_color, b.base_color)
    assert (a.smooth, a.colored, a.has_material) == (b.smooth, b.colored, b.has_material)
    assert np.float32(a.alpha_cutoff) == np.float32(b.alpha_cutoff)


def _camera(size) -> tuple[np.ndarray, np.ndarray]:
    """A 96² camera in front of an object of ``size`` (3,) metres, filling most of the view."""
    K = np.array([[110.0, 0, 48], [0, 110.0, 48], [0, 0, 1]])
    distance = 1.6 * float(max(size)) + 0.05
    # OpenCV camera (x right, y down, z forward) looking at the object's middle from +z
    wfc = np.array([[1.0, 0, 0, 0], [0, -1, 0, size[1] / 2], [0, 0, -1, distance], [0, 0, 0, 1]])
    return K, wfc


def test_index_render_meshes_are_the_prepared_glbs(small_library):
    idx = open_index(small_library)
    assert idx.render is not None and idx.render_texture_side == RENDER_TEXTURE_SIDE
    textured = 0
    for row, rec in enumerate(small_library.records):
        mesh = small_library.mesh(rec.asset_id)
        stored = idx.render_mesh(row)
        _same_prepared(stored, prepare_mesh(mesh, max_texture_side=RENDER_TEXTURE_SIDE))
        if stored.texture is not None:
            textured += 1
            assert max(stored.texture.shape[:2]) <= RENDER_TEXTURE_SIDE
    assert textured >= 1          # the small library has textured assets: the texels are exercised


def test_render_mesh_renders_the_pixels_of_the_capped_glb(small_library):
    """The pose renderer drawing the index's mesh sees exactly what it saw drawing the GLB with
    its texture capped to the same side."""
    index = LibraryIndex(small_library)
    capped = Renderer(96, 96, RenderSettings(max_texture_side=RENDER_TEXTURE_SIDE))
    full = Renderer(96, 96)
    for rec in small_library.records:
        mesh = small_library.mesh(rec.asset_id)
        K, wfc = _camera((rec.width, rec.height, rec.depth))
        a = capped.render([RenderItem(index.render_mesh(rec.asset_id), np.eye(4), 3)], K, wfc)
        b = capped.render([RenderItem(mesh, np.eye(4), 3)], K, wfc)
        c = full.render([RenderItem(mesh, np.eye(4), 3)], K, wfc)
        assert (a.instance_ids == 3).sum() > 500, rec.asset_id
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.instance_ids, b.instance_ids)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(c.instance_ids, b.instance_ids)   # the cap changes colour only
    # the same trimesh object at two caps: two uploads, both kept, both dropped with the mesh
    state = get_state()
    mesh = small_library.mesh(small_library.records[0].asset_id)
    assert len(state.meshes[id(mesh)]) == 2
    state.forget(mesh)
    assert id(mesh) not in state.meshes
    capped.release(), full.release()


def test_an_index_without_render_meshes_gives_the_same_meshes(small_library, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(small_library.folder, lib)
    meta = lib / INDEX_DIR / "index.json"
    info = json.loads(meta.read_text())
    info.pop("render")
    meta.write_text(json.dumps(info))
    for p in (lib / INDEX_DIR).glob("render-*.npy"):
        p.unlink()
    old = Library.open(lib)
    assert open_index(old) is not None and open_index(old).render is None      # the rest of the index serves
    with_meshes, without = LibraryIndex(small_library), LibraryIndex(old)
    for rec in small_library.records:
        a, b = with_meshes.render_mesh(rec.asset_id), without.render_mesh(rec.asset_id)
        _same_prepared(a, b)
        assert with_meshes.render_mesh(rec.asset_id) is a      # cached: the GPU copy is reused


def test_stretched_prepared_mesh_matches_the_stretched_trimesh(small_library):
    scale = np.array([1.15, 0.9, 1.05])
    compared_normals = False
    for rec in small_library.records:
        mesh = small_library.mesh(rec.asset_id)
        moved = mesh.copy()
        moved.apply_transform(np.diag([*scale, 1.0]))
        a = stretched(prepare_mesh(mesh, max_texture_side=64), scale)
        b = prepare_mesh(moved, max_texture_side=64)
        assert a.smooth == b.smooth
        np.testing.assert_allclose(a.vertices["position"], b.vertices["position"], rtol=1e-6, atol=1e-6)
        if a.smooth:
            compared_normals = True
            np.testing.assert_allclose(a.vertices["normal"], b.vertices["normal"], atol=1e-5)
        np.testing.assert_array_equal(a.vertices["uv"], b.vertices["uv"])
    # a mesh with its own normals, stretched: the normals follow the adjugate, not the scaling
    if not compared_normals:
        box = trimesh.creation.box((1, 1, 1))

        def own_normals():
            return trimesh.Trimesh(box.vertices, box.faces, vertex_normals=box.vertex_normals, process=False)
        moved = own_normals()
        moved.apply_transform(np.diag([*scale, 1.0]))
        a, b = stretched(prepare_mesh(own_normals()), scale), prepare_mesh(moved)
        assert a.smooth and b.smooth
        np.testing.assert_allclose(a.vertices["normal"], b.vertices["normal"], atol=1e-5)


def test_replicas_draw_their_source_render_mesh_stretched(small_library, tmp_path):
    scaled = Library.open(make_scaled_library(small_library, tmp_path / "x2", ReplicaSettings(factor=2)))
    idx = open_index(scaled)
    assert idx is not None and idx.render is not None and len(idx) == 2 * len(small_library)
    index, source_index = LibraryIndex(scaled), LibraryIndex(small_library)
    scales = scaled.info["replicas"]["scales"]
    for rec in small_library.records:
        source = index.render_mesh(rec.asset_id)
        _same_prepared(source, source_index.render_mesh(rec.asset_id))
        rid = next(r for r in scales if r.startswith(rec.asset_id + "~"))
        replica = index.render_mesh(rid)
        np.testing.assert_allclose(replica.vertices["position"],
                                   source.vertices["position"] * np.asarray(scales[rid], np.float32), rtol=1e-6)
        # the replica's mesh (the library stretches it on load), prepared, has the same geometry
        np.testing.assert_allclose(replica.vertices["position"],
                                   prepare_mesh(scaled.mesh(rid), max_texture_side=RENDER_TEXTURE_SIDE)
                                   .vertices["position"], rtol=1e-6, atol=1e-6)


def test_render_meshes_are_kept_in_a_bounded_cache(small_library, monkeypatch):
    """A warm worker over a large library must not keep every render mesh (and its GPU copy)."""
    monkeypatch.setattr(LibraryIndex, "cache_render_meshes", 3)
    index = LibraryIndex(small_library)
    ids = [r.asset_id for r in small_library.records]
    first = index.render_mesh(ids[0])
    for a in ids[1:]:
        index.render_mesh(a)
    assert len(index._render_meshes) == 3
    again = index.render_mesh(ids[0])
    assert again is not first                       # dropped and read again: the same arrays
    _same_prepared(again, first)
