"""What a GLB holds per mesh (normals, texture hash, colour parts, primitive arrays) is kept on
the mesh, so a warm process writing the same library meshes again does not recompute it: the
kept path writes the same bytes as a fresh one, and a mesh changed in any way it is written
from is prepared again."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.export.glb import _PREPARED_ATTRIBUTE, prepared_mesh, scene_glb
from scenewright.library import Library
from scenewright.scene import read_scene, scene_glb_bytes


def _fresh_bytes(scene, **kw) -> bytes:
    """The GLB of ``scene`` with nothing kept on its meshes (the uncached path)."""
    for mesh in [i.mesh for i in scene.instances] + list(scene.room.values()):
        if mesh is not None:
            mesh.__dict__.pop(_PREPARED_ATTRIBUTE, None)
    return scene_glb(scene, **kw)


@pytest.fixture()
def library_scene(gt_dir, bench):
    """The benchmark's ground-truth scene with the library's own (shared, cached) meshes."""
    library = Library.open(bench.parent / "library")
    scene = read_scene(gt_dir)
    for inst in scene.instances:
        inst.mesh = library.mesh(inst.asset_id)
    assert any(isinstance(i.mesh.visual, trimesh.visual.TextureVisuals) for i in scene.instances)
    return scene


def test_kept_parts_write_the_same_bytes(library_scene):
    fresh = _fresh_bytes(library_scene)
    mesh = library_scene.instances[0].mesh
    assert prepared_mesh(mesh) is prepared_mesh(mesh)          # kept, not made again
    assert scene_glb(library_scene) == fresh
    assert scene_glb_bytes(library_scene) == scene_glb_bytes(library_scene)
    # the other textures choice is kept apart and writes what a fresh write does
    from scenewright.export.common import ExportSettings
    flat = ExportSettings(textures=False)
    assert scene_glb(library_scene, flat) == _fresh_bytes(library_scene, settings=flat)
    assert scene_glb(library_scene) == fresh


def _textured_copy(library_scene) -> trimesh.Trimesh:
    for inst in library_scene.instances:
        visual = inst.mesh.visual
        if isinstance(visual, trimesh.visual.TextureVisuals) and visual.uv is not None:
            return inst.mesh.copy(include_cache=True)
    pytest.skip("no textured asset")


def _edits():
    def move_vertices(m):
        m.vertices[:, 1] += 0.25                      # in place: trimesh's tracked hash changes

    def new_uv(m):
        m.visual.uv = np.asarray(m.visual.uv)[::-1].copy()

    def new_colour_factor(m):
        m.visual.material.baseColorFactor = [30, 200, 90, 255]

    def new_texture(m):
        image = Image.new("RGB", (8, 8), (200, 10, 10))
        image.putpixel((3, 3), (0, 0, 255))
        m.visual.material.baseColorTexture = image

    def to_vertex_colours(m):
        m.visual = trimesh.visual.ColorVisuals(m, vertex_colors=np.tile([10, 20, 250, 255], (len(m.vertices), 1)))

    def own_normals(m):
        m.vertex_normals = np.tile([0.0, 0.0, 1.0], (len(m.vertices), 1))

    return [move_vertices, new_uv, new_colour_factor, new_texture, to_vertex_colours, own_normals]


@pytest.mark.parametrize("edit", _edits(), ids=lambda f: f.__name__)
def test_changed_mesh_is_prepared_again(library_scene, edit):
    mesh = _textured_copy(library_scene)
    library_scene.instances[0].mesh = mesh
    before = scene_glb(library_scene)                  # fills what is kept on the mesh
    kept = prepared_mesh(mesh)
    edit(mesh)
    after = scene_glb(library_scene)
    assert prepared_mesh(mesh) is not kept
    assert after != before                             # the edit shows in the file
    assert after == _fresh_bytes(library_scene)
