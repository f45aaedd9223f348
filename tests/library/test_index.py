"""The retrieval index LIB/index: built with the library, added by --reuse, read by retrieval.

Real files throughout: the session's small real library (tests/library/conftest.py), its
views decoded and described by the real extractor, retrieval run on real assets.
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from scenewright.cli import main as cli_main
from scenewright.library.index import INDEX_DIR, ArrayIndex, IndexSettings, open_index, subsample_rows
from scenewright.library.store import Library
from scenewright.methods.layout.features import ClassicalFeatures, crop_to_mask


def _index_files(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / INDEX_DIR).iterdir()) if p.suffix == ".npy"}


def test_build_writes_an_index_matching_the_library(small_library):
    idx = open_index(small_library)
    assert idx is not None and len(idx) == len(small_library)
    # opened, not read: every array is a mapping of its file
    assert all(isinstance(a, np.memmap) for a in (idx.points, idx.sizes, idx.features["classical"]))
    extractor = ClassicalFeatures()
    for row, rec in enumerate(small_library.records):
        assert idx.row_of(rec.asset_id) == row
        assert idx.categories()[row] == rec.category
        np.testing.assert_array_equal(idx.sizes[row], [rec.width, rec.height, rec.depth])
        block = np.asarray(small_library.all_samples[row])
        pick = subsample_rows(len(block), IndexSettings().n_points, 0, row)
        np.testing.assert_array_equal(idx.asset_points(row), block[pick])
        views = small_library.views(rec.asset_id)
        crops = [crop_to_mask(views.rgb[i], views.mask[i]) for i in range(len(views.mask))]
        feats, yaw, pitch = idx.view_features(row)
        np.testing.assert_array_equal(feats, extractor([c[0] for c in crops], [c[1] for c in crops]))
        np.testing.assert_array_equal(yaw, views.yaw_deg)
        np.testing.assert_array_equal(pitch, views.pitch_deg)
    assert idx.row_of("no/such-asset") is None and idx.row_of("") is None


def test_reuse_adds_the_index_without_rebuilding(small_library, tmp_path, capsys):
    lib = tmp_path / "lib"
    shutil.copytree(small_library.folder, lib)
    expected = _index_files(lib)
    shutil.rmtree(lib / INDEX_DIR)
    before = {p: p.stat().st_mtime_ns for p in lib.rglob("*") if p.is_file()}
    assert open_index(Library.open(lib)) is None
    assert cli_main(["library", "build", "-o", str(lib), "--reuse", "--quiet"]) == 0
    assert "retrieval index of 8 assets" in capsys.readouterr().out
    assert _index_files(lib) == expected            # the same bytes as the build wrote
    # nothing else was touched: no asset rebuilt, no view rendered
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert open_index(Library.open(lib)) is not None


def test_reuse_refuses_sources(small_library, tmp_path, capsys):
    assert cli_main(["library", "build", "-o", str(small_library.folder), "--reuse", "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {small_library.folder}: --reuse") and "Traceback" not in err


def test_stale_or_damaged_index_is_ignored(small_library, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(small_library.folder, lib)
    meta = lib / INDEX_DIR / "index.json"
    info = json.loads(meta.read_text())
    meta.write_text(json.dumps({**info, "source": "samples-0.npy"}))     # made for another build
    assert ArrayIndex.open(Library.open(lib)) is None
    meta.write_text(json.dumps(info))
    assert ArrayIndex.open(Library.open(lib)) is not None
    (lib / INDEX_DIR / "points.npy").write_bytes(b"\x93NUMPY truncated")
    assert ArrayIndex.open(Library.open(lib)) is None


def test_retrieval_same_with_and_without_index(small_library, tmp_path):
    """Every score and pose of every candidate is identical whether read from the index or computed."""
    from scenewright.methods.layout.retrieval import LibraryIndex, Query, RetrievalSettings, retrieve

    lib = tmp_path / "lib"
    shutil.copytree(small_library.folder, lib)
    with_index = LibraryIndex(Library.open(lib))
    shutil.rmtree(lib / INDEX_DIR)
    without = LibraryIndex(Library.open(lib))
    assert with_index.arrays is not None and without.arrays is None
    extractor = ClassicalFeatures()
    rng = np.random.default_rng(0)
    for rec in small_library.records:
        # an observation made of the asset's own samples, shifted, seen from a camera in front
        pts = np.asarray(small_library.samples(rec.asset_id)[0], float)[rng.choice(8192, 600, replace=False)]
        pts = pts + [0.4, 0.0, 2.0]
        views = small_library.views(rec.asset_id)
        crop = crop_to_mask(views.rgb[0], views.mask[0])
        q = Query(box_size=np.array([rec.width, rec.height, rec.depth]), yaw=0.1, t0=np.array([0.4, 0.0, 2.0]),
                  points=pts, partial=False, fix_y=True, cam_pos=np.array([0.4, 1.5, 5.0]), view=None,
                  feature=extractor([crop[0]], [crop[1]])[0])
        a = retrieve(q, rec.category, with_index, extractor, RetrievalSettings())
        b = retrieve(q, rec.category, without, extractor, RetrievalSettings())
        assert [h.asset_id for h in a] == [h.asset_id for h in b] and a
        for ha, hb in zip(a, b):
            assert (ha.score, ha.geometry, ha.appearance, ha.yaw) == (hb.score, hb.geometry, hb.appearance, hb.yaw)
            np.testing.assert_array_equal(ha.translation, hb.translation)
