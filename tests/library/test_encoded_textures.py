"""Library textures keep the file bytes they were decoded from; exports write those bytes.

Real files throughout: the session's small real library (its GLBs and PNG atlases), the
real GLB and USD writers, trimesh and PIL reading the results back.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.encoded_images import glb_images, original_encoding
from scenewright.export.common import ExportSettings, surface_of
from scenewright.export.glb import flat_colour_parts, scene_glb
from scenewright.library import Library
from scenewright.scene import Instance, Scene


def _textured(library):
    out = []
    for rec in library.records:
        mesh = library.mesh(rec.asset_id)
        image = getattr(getattr(mesh.visual, "material", None), "baseColorTexture", None)
        if image is not None:
            out.append((rec, mesh, image))
    if not out:
        pytest.skip("the small library has no textured asset")
    return out


def _embedded_images(glb: bytes) -> list[bytes]:
    return [data for _, data in glb_images(glb)]


def test_library_textures_are_the_decoding_of_their_recorded_bytes(small_library):
    for rec, mesh, image in _textured(small_library):
        mime, data = original_encoding(image)
        stored = glb_images((small_library.folder / rec.folder / "mesh.glb").read_bytes())
        assert [data] == [d for _, d in stored], rec.asset_id
        decoded = Image.open(io.BytesIO(data))
        assert decoded.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[mime]
        np.testing.assert_array_equal(np.asarray(decoded.convert(image.mode)), np.asarray(image))


def test_scene_glb_carries_the_library_bytes_and_the_same_pixels(small_library):
    textured = _textured(small_library)
    scene = Scene(instances=[Instance(id=i + 1, mesh=mesh, asset_id=rec.asset_id,
                                      world_from_object=np.diag([1.0, 1.0, 1.0, 1.0]))
                             for i, (rec, mesh, _) in enumerate(textured)])
    glb = scene_glb(scene, ExportSettings())
    embedded = _embedded_images(glb)
    images_written = 0
    for rec, mesh, image in textured:
        if flat_colour_parts(mesh, surface_of(mesh)) is not None:
            continue             # a palette of plain colours is written as flat materials, no image
        assert original_encoding(image)[1] in embedded, rec.asset_id
        images_written += 1
    assert images_written >= 1
    # the same scene with the record dropped (pixels encoded again) reads back to the same pixels
    plain = Scene(instances=[Instance(id=i + 1, mesh=mesh.copy(), asset_id=rec.asset_id)
                             for i, (rec, mesh, _) in enumerate(textured)])
    for inst in plain.instances:
        inst.mesh.visual.material.baseColorTexture = inst.mesh.visual.material.baseColorTexture.convert("RGBA")
    reencoded = scene_glb(plain, ExportSettings())
    assert not set(_embedded_images(reencoded)) & set(embedded)
    a = trimesh.load(io.BytesIO(glb), file_type="glb")
    b = trimesh.load(io.BytesIO(reencoded), file_type="glb")
    assert sorted(a.geometry) == sorted(b.geometry)
    compared = 0
    for name in a.geometry:
        ia, ib = (getattr(getattr(g.geometry[name].visual, "material", None), "baseColorTexture", None)
                  for g in (a, b))
        assert (ia is None) == (ib is None), name
        if ia is not None:
            np.testing.assert_array_equal(np.asarray(ia.convert("RGBA")), np.asarray(ib.convert("RGBA")))
            compared += 1
    assert compared == images_written
    # the JSON names a mime type matching each image's bytes
    doc = json.loads(glb[20:20 + struct.unpack_from("<I", glb, 12)[0]])
    for (mime, data), entry in zip(glb_images(glb), doc["images"]):
        assert entry["mimeType"] == mime
        assert data[:8] == b"\x89PNG\r\n\x1a\n" if mime == "image/png" else data[:2] == b"\xff\xd8"


def test_a_derived_image_is_not_taken_for_its_source(small_library):
    _, _, image = _textured(small_library)[0]
    assert original_encoding(image) is not None
    assert original_encoding(image.copy()) is not None                 # same pixels: same bytes
    assert original_encoding(image.resize((image.width // 2 + 1, image.height // 2 + 1))) is None
    other_mode = "RGBA" if image.mode != "RGBA" else "RGB"
    assert original_encoding(image.convert(other_mode)) is None
    assert original_encoding(Image.new("RGB", (4, 4))) is None


def test_glb_images_refuses_what_is_not_a_glb(tmp_path):
    assert glb_images(b"") == [] and glb_images(b"not a glb at all, just bytes") == []
    box = trimesh.creation.box()
    assert glb_images(box.export(file_type="glb")) == []             # a GLB without images


def test_usd_texture_files_are_the_library_bytes(small_library, tmp_path):
    from scenewright.export.usd import write_usd

    textured = [(rec, mesh, image) for rec, mesh, image in _textured(small_library)]
    scene = Scene(instances=[Instance(id=i + 1, mesh=mesh, asset_id=rec.asset_id)
                             for i, (rec, mesh, _) in enumerate(textured)])
    write_usd(scene, tmp_path / "scene.usda", ExportSettings(), tmp_path / "textures")
    written = {p.read_bytes() for p in (tmp_path / "textures").iterdir()}
    assert written, "no texture written"
    assert written <= {original_encoding(image)[1] for _, _, image in textured}


def test_library_mesh_is_trimesh_to_mesh_of_its_glb(small_library):
    """The library joins a GLB's scene into one mesh as ``trimesh.load(force="mesh")`` does, without
    copying the texture: the same geometry, normals, metadata, uvs, material and pixels.
    Read through a library of its own: comparing normals computes them into the mesh's cache,
    and the session's shared library meshes must stay as other tests load them."""
    own = Library.open(small_library.folder)
    for rec in own.records:
        mesh = own.mesh(rec.asset_id)
        data = (small_library.folder / rec.folder / "mesh.glb").read_bytes()
        ref = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh", process=False)
        for attr in ("vertices", "faces", "vertex_normals", "face_normals"):
            np.testing.assert_array_equal(getattr(mesh, attr), getattr(ref, attr), err_msg=f"{rec.asset_id} {attr}")
        assert mesh.metadata == ref.metadata
        assert type(mesh.visual) is type(ref.visual)
        assert set(mesh.vertex_attributes) == set(ref.vertex_attributes)
        if ref.visual.kind != "texture":
            np.testing.assert_array_equal(mesh.visual.face_colors, ref.visual.face_colors)
            continue
        np.testing.assert_array_equal(mesh.visual.uv, ref.visual.uv)
        ours, theirs = mesh.visual.material, ref.visual.material
        assert type(ours) is type(theirs)
        assert set(vars(ours)) == set(vars(theirs))
        for key, value in getattr(theirs, "_data", {}).items():
            mine = ours._data[key]
            if isinstance(value, Image.Image):
                assert (mine.mode, mine.size) == (value.mode, value.size), key
                np.testing.assert_array_equal(np.asarray(mine), np.asarray(value), err_msg=key)
            else:
                np.testing.assert_array_equal(np.asarray(mine), np.asarray(value), err_msg=key)
