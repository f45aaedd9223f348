"""The asset library built from real Sweet Home 3D catalogs: frame, data, index, resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import trimesh
from scipy import ndimage

from scenewright.library import Library, build_library
from scenewright.library.categories import CATEGORIES
from scenewright.library.sources import read_sources


@pytest.fixture(scope="module")
def catalog_items():
    return {it.asset_id: it for col in read_sources(None) for it in col.items}


def test_small_library_content(small_library):
    assert len(small_library) == 8
    cats = small_library.categories()
    assert set(cats) == {"chair", "armchair", "bed", "wardrobe", "dining_table", "sofa", "lamp", "plant"}
    assert all(c in CATEGORIES for c in cats)
    assert small_library.ids == [r.asset_id for r in small_library.records]


def test_object_frame_matches_catalog(small_library, catalog_items):
    for rec in small_library.records:
        item = catalog_items[rec.asset_id]
        mesh = small_library.mesh(rec.asset_id)
        lo, hi = mesh.bounds
        # extents equal the catalog's width (x), height (y), depth (z) within 1 mm
        np.testing.assert_allclose(hi - lo, [item.width, item.height, item.depth], atol=1e-3)
        np.testing.assert_allclose(rec.size, [item.width, item.height, item.depth], atol=1e-3)
        assert abs(lo[1]) < 1e-6                       # lowest point at y = 0
        assert abs(lo[0] + hi[0]) < 1e-6 and abs(lo[2] + hi[2]) < 1e-6   # centred in x and z


def test_chair_front_faces_plus_z(small_library):
    """A chair's backrest is at its back: its upper part lies at -z."""
    chairs = [r for r in small_library.records if r.category in ("chair", "armchair")]
    assert chairs
    for rec in chairs:
        points, _ = small_library.samples(rec.asset_id)
        upper = points[points[:, 1] > 0.75 * rec.height]
        assert len(upper) > 50
        assert upper[:, 2].mean() < -0.15 * rec.depth, rec.asset_id


def test_textures_kept(small_library):
    textured = 0
    for rec in small_library.records:
        mesh = small_library.mesh(rec.asset_id)
        assert mesh.visual.kind == "texture"
        image = mesh.visual.material.baseColorTexture
        assert image is not None and mesh.visual.uv.shape == (len(mesh.vertices), 2)
        # a real texture has many colours (a packed set of flat colours has few)
        rgb = np.asarray(image.convert("RGB"))[::4, ::4].reshape(-1, 3).astype(np.uint32)
        if len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])) > 256:
            textured += 1
        # not darkened by a grey factor
        assert np.all(np.asarray(mesh.visual.material.baseColorFactor)[:3] >= 250)
    assert textured >= 3


def test_samples_on_surface(small_library):
    for rec in small_library.records[:4]:
        points, normals = small_library.samples(rec.asset_id)
        assert points.shape == (8192, 3) and normals.shape == (8192, 3)
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-3)
        mesh = small_library.mesh(rec.asset_id)
        sub = np.asarray(points[::40], dtype=np.float64)
        _, dist, _ = trimesh.proximity.closest_point(mesh, sub)
        assert dist.max() < 1e-4


def test_voxels_plausible(small_library):
    for rec in small_library.records:
        occ, origin, pitch = small_library.voxels(rec.asset_id)
        assert occ.shape == (32, 32, 32) and occ.dtype == bool
        assert 0.001 < occ.mean() < 0.9
        points, _ = small_library.samples(rec.asset_id)
        idx = np.clip(np.floor((points - origin) / pitch).astype(int), 0, 31)
        assert occ[idx[:, 0], idx[:, 1], idx[:, 2]].mean() > 0.99
        # the occupied cells span the object's height
        ys = np.nonzero(occ.any(axis=(0, 2)))[0]
        assert abs((ys.max() + 1 - ys.min()) * pitch - rec.height) < 2 * pitch


def test_views(small_library):
    rec = small_library.record("BlendSwap-CC-0/oakChair")
    v = small_library.views(rec.asset_id)
    assert v.rgb.shape == (24, 128, 128, 3) and v.rgb.dtype == np.uint8
    assert v.mask.shape == (24, 128, 128) and v.depth.shape == (24, 128, 128)
    assert v.camera_from_object.shape == (24, 4, 4) and v.K.shape == (3, 3)
    assert np.all(v.mask.reshape(24, -1).mean(axis=1) > 0.02)
    assert np.all(np.isfinite(v.depth[v.mask])) and np.all(np.isnan(v.depth[~v.mask]))
    np.testing.assert_allclose(v.yaw_deg[:12], np.arange(12) * 30.0)
    # surface samples projected with K and camera_from_object fall on the mask
    points, _ = small_library.samples(rec.asset_id)
    for k in (0, 5, 17):
        cam = points @ v.camera_from_object[k][:3, :3].T + v.camera_from_object[k][:3, 3]
        uv = cam @ v.K.T
        px = np.floor(uv[:, :2] / uv[:, 2:]).astype(int)
        inside = (px >= 0).all(1) & (px < 128).all(1)
        assert inside.mean() > 0.99
        # thin spindles may miss a pixel's centre at 128²: allow one pixel of slack
        near_mask = ndimage.binary_dilation(v.mask[k])
        assert near_mask[px[inside, 1], px[inside, 0]].mean() > 0.99
        assert v.mask[k][px[inside, 1], px[inside, 0]].mean() > 0.85
    # yaw 0 looks at the front (+Z): the camera is on the +z side
    assert np.linalg.inv(v.camera_from_object[0])[2, 3] > 0
    for rec in small_library.records:
        assert rec.has_views
        assert small_library.views(rec.asset_id).mask.any(axis=(1, 2)).all()


def test_index_reopens_and_attribution(small_library):
    again = Library.open(small_library.folder)
    assert again.records == small_library.records
    info = json.loads((small_library.folder / "library.json").read_text())
    assert info["format"] == "library/1" and info["settings"]["n_samples"] == 8192
    assert info["timings_s"]["total"] > 0
    att = again.attribution("BlendSwap-CC-0/oakChair")
    assert att == {"asset_id": "BlendSwap-CC-0/oakChair", "name": "Oak chair", "creator": att["creator"],
                   "license": "Public domain", "catalog": "BlendSwap-CC-0"}
    assert att["creator"]
    assert "Creative Commons Zero" in again.license_text("BlendSwap-CC-0")
    for rec in again.records:
        meta = json.loads((again.folder / rec.folder / "meta.json").read_text())
        assert len(meta["content_hash"]) == 64 and meta["content_hash"] == rec.content_hash


@pytest.fixture
def library_copy(small_library, tmp_path):
    """A copy of the session's small library that a test may rebuild (the original stays as built)."""
    shutil.copytree(small_library.folder, tmp_path / "library")
    return Library.open(tmp_path / "library")


def test_resume_skips_finished_assets(library_copy):
    ids = library_copy.ids
    # a changed marker (not a missing folder) makes exactly that asset rebuild
    victim = library_copy.record(ids[0])
    done = library_copy.folder / victim.folder / "done.json"
    marker = json.loads(done.read_text())
    done.write_text(json.dumps({**marker, "content_hash": "0" * 64}))
    report = build_library(library_copy.folder, None, workers=1, only=ids, progress=False)
    assert (report.built, report.reused, report.skipped) == (1, len(ids) - 1, [])
    report = build_library(library_copy.folder, None, workers=1, only=ids, progress=False)
    assert (report.built, report.reused) == (0, len(ids))
    assert Library.open(library_copy.folder).records == library_copy.records


def test_rebuild_while_open(library_copy):
    """A library opened before a rebuild keeps reading its own arrays; a new open sees the new build."""
    folder, ids = library_copy.folder, library_copy.ids
    before = Library.open(folder)
    expected = np.array(before.samples(ids[-1])[0])
    try:
        build_library(folder, None, workers=1, only=ids[:2], progress=False)
        after = Library.open(folder)
        assert after.ids == ids[:2] and after.all_samples.shape[0] == 2
        assert len(list(folder.glob("samples-*.npy"))) == 1
        np.testing.assert_array_equal(before.samples(ids[-1])[0], expected)
    finally:
        build_library(folder, None, workers=1, only=ids, progress=False)
    assert Library.open(folder).ids == ids
