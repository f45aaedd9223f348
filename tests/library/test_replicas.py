"""Scaled libraries of replicas (library/replicas.py), made from a real small library's index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenewright.library.index import ArrayIndex
from scenewright.library.replicas import ReplicaSettings, make_scaled_library, replica_of, rotate_hue
from scenewright.library.store import Library
from scenewright.methods.layout.features import ClassicalFeatures


@pytest.fixture(scope="module")
def scaled(small_library, tmp_path_factory):
    out = tmp_path_factory.mktemp("scaled") / "lib-x3"
    make_scaled_library(small_library.folder, out, ReplicaSettings(factor=3, seed=1))
    return Library.open(out)


def test_replica_ids_and_sizes(small_library, scaled):
    A = len(small_library)
    assert len(scaled) == 3 * A
    assert scaled.ids[:A] == small_library.ids
    scales = json.loads((scaled.folder / "library.json").read_text())["replicas"]["scales"]
    for rec in scaled.records[A:]:
        src = small_library.record(replica_of(rec.asset_id))
        assert rec.asset_id.startswith(src.asset_id + "~r") and rec.category == src.category
        s = np.array(scales[rec.asset_id])
        assert np.all((s >= 0.85) & (s <= 1.15))
        np.testing.assert_allclose(rec.size, src.size * s, rtol=1e-12)
    assert replica_of("a/b~r7") == "a/b" and replica_of("a/b") == "a/b" and replica_of(None) is None


def test_replica_mesh_is_the_source_stretched(small_library, scaled):
    rec = scaled.records[len(small_library) + 2]
    src = small_library.mesh(replica_of(rec.asset_id))
    mesh = scaled.mesh(rec.asset_id)
    # float32 vertices: relative error of one rounding per coordinate
    stretch = rec.size / small_library.record(replica_of(rec.asset_id)).size
    np.testing.assert_allclose(mesh.extents, src.extents * stretch, rtol=1e-5)
    assert len(mesh.faces) == len(src.faces)


def test_index_rows(small_library, scaled):
    A = len(small_library)
    # a fresh open: other tests of the session rebuild the small library (new arrays, new index)
    src_idx, idx = ArrayIndex.open(Library.open(small_library.folder)), ArrayIndex.open(scaled)
    assert idx is not None and len(idx) == 3 * A
    for row in range(3 * A):
        assert idx.row_of(scaled.ids[row]) == row
    np.testing.assert_array_equal(idx.points[:A], src_idx.points)
    np.testing.assert_array_equal(idx.features["classical"][:A], src_idx.features["classical"])
    hue_changed = 0
    for row in range(A, 3 * A):
        feats, yaw, _ = idx.view_features(row)
        source = src_idx.view_features(row % A)[0]
        matches = [b for b in (-1, 0, 1) if np.array_equal(feats, rotate_hue(source, b))]
        assert matches, "a replica's descriptors are its source's with the hue rotated by a whole bin"
        hue_changed += matches[0] != 0
        np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
        # samples: the source's, stretched, with noise far below the asset's size
        rec = scaled.records[row]
        src_pts = src_idx.asset_points(row % A)[:, :3]
        stretch = rec.size / small_library.records[row % A].size
        err = np.abs(idx.asset_points(row)[:, :3] - src_pts * stretch).max()
        assert 0 < err < 0.05 * rec.size.max()
    assert hue_changed > 0


def test_rotate_hue_is_the_histogram_of_a_hue_rotated_image():
    """Pixels at bin centres: rotating their hue by 30° moves them exactly one histogram bin."""
    import colorsys
    rng = np.random.default_rng(0)
    # hue, saturation and value at bin centres: uint8 rounding cannot move a pixel across a bin edge
    hsv = np.stack([(rng.integers(0, 12, 400) + 0.5) / 12, rng.choice([0.575, 0.86], 400),
                    rng.choice([0.375, 0.625, 0.875], 400)], 1)
    to_rgb = lambda h: np.array([colorsys.hsv_to_rgb(*p) for p in h]) * 255   # noqa: E731
    rgb = np.round(to_rgb(hsv)).astype(np.uint8).reshape(20, 20, 3)
    shifted = hsv.copy()
    shifted[:, 0] = (shifted[:, 0] + 1 / 12) % 1
    rgb2 = np.round(to_rgb(shifted)).astype(np.uint8).reshape(20, 20, 3)
    f = ClassicalFeatures()
    owner = np.zeros(400, int)
    before = f.colour(rgb.reshape(-1, 3), owner, 1)
    after = f.colour(rgb2.reshape(-1, 3), owner, 1)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(rotate_hue(before, 1), after)
