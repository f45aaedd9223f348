"""What a process keeps of a library does not grow with it: records read on demand, bounded caches.

Real files: the session's small real library (tests/library/conftest.py) and a scaled
copy of it made by ``replicas.make_scaled_library``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from scenewright.library.replicas import ReplicaSettings, make_scaled_library
from scenewright.library.store import Library
from scenewright.methods.layout.features import ClassicalFeatures
from scenewright.methods.layout.retrieval import LibraryIndex, RetrievalSettings, geometric_fit


@pytest.fixture(scope="module")
def scaled(small_library, tmp_path_factory):
    return make_scaled_library(small_library.folder, tmp_path_factory.mktemp("scaled") / "lib",
                               ReplicaSettings(factor=3, seed=0))


def test_open_reads_records_on_demand_with_the_same_values(small_library, scaled):
    for folder in (small_library.folder, scaled):
        lazy = Library.open(folder)
        assert lazy._records is None                       # opening read no record
        assert len(lazy) == len(Library.open(folder).records)
        ids = [r.asset_id for r in Library.open(folder).records]
        one_by_one = [lazy.record(a) for a in reversed(ids)]
        assert lazy._records is None                       # looked up one at a time
        assert one_by_one[::-1] == Library.open(folder).records
        assert lazy.records == one_by_one[::-1]
        with pytest.raises(KeyError):
            Library.open(folder).record("no/such-asset")


def test_records_come_from_the_index_that_was_opened(small_library, tmp_path):
    """A rebuild replacing index.sqlite after open does not mix builds: the open file is read."""
    lib_dir = tmp_path / "lib"
    shutil.copytree(small_library.folder, lib_dir)
    lib = Library.open(lib_dir)
    first = Library.open(lib_dir).records[0]
    (lib_dir / "index.sqlite").unlink()              # as an atomic replace does: the old inode stays open
    (lib_dir / "index.sqlite").write_bytes(b"not a database")
    assert lib.record(first.asset_id) == first
    assert len(lib.records) == len(small_library.records)


def test_index_caches_are_bounded_and_give_the_same_results(scaled):
    lib = Library.open(scaled)
    bounded = LibraryIndex(lib)
    bounded.cache_assets = 3
    bounded._geometry.size = bounded._views.size = 3
    bounded._grids.size = 2                            # fewer grids than samples: an asset may lose its grid alone
    full = LibraryIndex(Library.open(scaled))
    settings = RetrievalSettings()
    rng = np.random.default_rng(0)
    obs = rng.uniform(-0.4, 0.4, (200, 3)) + [0.0, 0.4, 2.0]
    yaws = np.arange(8) * np.pi / 4
    for _ in range(2):                                 # the second pass recomputes what was evicted
        for asset_id in map(str, full.ids):
            a, b = bounded.geometry(asset_id), full.geometry(asset_id)
            assert len(bounded._geometry) <= 3 and len(bounded._grids) <= 2 and a.grid is not None
            np.testing.assert_array_equal(a.points, b.points)
            fa = geometric_fit(a, obs, np.array([0.0, 1.5, 5.0]), yaws, np.ones((8, 3)), np.array([0.0, 0.0, 2.0]),
                               settings)
            fb = geometric_fit(b, obs, np.array([0.0, 1.5, 5.0]), yaws, np.ones((8, 3)), np.array([0.0, 0.0, 2.0]),
                               settings)
            np.testing.assert_array_equal(fa[1], fb[1])
            va = bounded.view_features(asset_id, ClassicalFeatures())
            vb = full.view_features(asset_id, ClassicalFeatures())
            assert len(bounded._views) <= 3
            for x, y in zip(va, vb):
                np.testing.assert_array_equal(x, y)
    assert len(full._geometry) == len(full.ids)        # the default bound holds a small library whole
    assert bounded.mesh(str(full.ids[0])) is lib.mesh(str(full.ids[0]))   # meshes: the library's LRU


def test_meshes_dropped_from_the_cache_are_freed(small_library):
    """The mesh cache keeps the most recently used meshes, and a mesh it drops is freed (with
    the renderer's GPU copy) within ``collect_every`` further drops, although trimesh meshes sit
    in reference cycles that only a full garbage collection frees."""
    import gc
    import weakref

    lib = Library.open(small_library.folder)
    ids = [str(a) for a in lib.ids]
    assert len(ids) >= 6
    lib.mesh.size, lib.mesh.collect_every = 2, 2
    first = lib.mesh(ids[0])
    assert lib.mesh(ids[0]) is first                   # a hit is the same object
    alive = [weakref.ref(first)]
    del first
    gc.disable()                                       # only the cache's own collections may free them
    try:
        for asset_id in ids[1:6]:
            alive.append(weakref.ref(lib.mesh(asset_id)))
        held = [r for r in alive if r() is not None]
        # the two in the cache, and at most ``collect_every`` - 1 dropped since the last collection
        assert len(held) <= 2 + 1
        assert alive[-1]() is lib.mesh(ids[5]) and alive[-2]() is lib.mesh(ids[4])
        assert ids[0] not in lib.mesh and len(lib.mesh) == 2
        again = lib.mesh(ids[0])                       # reloaded: the same mesh data
        assert np.array_equal(again.vertices, lib._load_mesh(ids[0]).vertices)
    finally:
        gc.enable()
