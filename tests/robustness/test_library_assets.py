"""Asset libraries with damaged files: a broken asset is named; where the others can do the job
(retrieval over other candidates) it is skipped with a warning, elsewhere the command stops
with one ``error:`` line naming it. The library itself is never modified.

One real library (8 Sweet Home 3D assets with rendered views) is built per session and
copied per test before it is broken.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pytest

from tests.robustness.cli_checks import (LIVING_ROOM, assert_refused, catalogs_installed, scenewright,
                                         small_library, tree_digest)

COUCH = "BlendSwap-CC-0/couch2"           # the only sofa: a "futon couch" must fall back to others
CHAIR = "KatorLegaz/dining-chair"         # one of two chairs


@pytest.fixture(scope="module")
def built_library(tmp_path_factory) -> pathlib.Path:
    if not catalogs_installed():
        pytest.skip("Sweet Home 3D catalogs not installed")
    return small_library(str(tmp_path_factory.getbasetemp() / "robustness_library"))


@pytest.fixture()
def library(built_library, tmp_path) -> pathlib.Path:
    lib = tmp_path / "library"
    shutil.copytree(built_library, lib)
    return lib


def asset_folder(lib: pathlib.Path, asset_id: str) -> pathlib.Path:
    return lib / "assets" / asset_id


def truncate(path: pathlib.Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_broken_assets_are_skipped_with_a_warning_naming_them(library, tmp_path):
    truncate(asset_folder(library, COUCH) / "mesh.glb")
    (asset_folder(library, CHAIR) / "views.npz").unlink()
    before = tree_digest(library, LIVING_ROOM)
    out = tmp_path / "out"
    run = scenewright("reconstruct", LIVING_ROOM, "-o", out, "--library", library, "--no-preview")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    couch = [w for w in warnings if COUCH in w]
    chair = [w for w in warnings if CHAIR in w]
    assert len(couch) == 1 and "mesh.glb" in couch[0] and "truncated" in couch[0] and "skipped" in couch[0]
    assert len(chair) == 1 and "views.npz missing" in chair[0] and "skipped" in chair[0]
    scene = json.loads((out / "scene.json").read_text())
    used = {i["asset_id"] for i in scene["instances"]}
    assert len(scene["instances"]) == 6, "every object is still placed (with the other assets)"
    assert COUCH not in used and CHAIR not in used
    assert tree_digest(library, LIVING_ROOM) == before


def test_a_command_that_needs_the_broken_asset_names_it(library, tmp_path):
    """bench make draws assets from the whole library: with every mesh truncated it cannot go
    on, and stops at the first one it needs, naming it."""
    for mesh in library.glob("assets/*/*/mesh.glb"):
        truncate(mesh)
    before = tree_digest(library)
    out = tmp_path / "bench"
    run = scenewright("bench", "make", "-o", out, "--library", library, "--scenes", 1, "--seed", 0,
                      "--size", 64)
    line = assert_refused(run, "mesh.glb", says=["library asset", "truncated"], outputs=[out],
                          inputs_before=before, inputs=[library])
    assert any(f"/{a}/mesh.glb" in line for a in (p.parent.relative_to(library / "assets").as_posix()
                                                 for p in library.glob("assets/*/*/mesh.glb")))


def test_damaged_views_inside_the_archive(library):
    """views.npz readable as a zip but with a damaged member: the loader names the asset."""
    from scenewright.errors import InputError
    from scenewright.library import Library
    views = asset_folder(library, CHAIR) / "views.npz"
    with np.load(views, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["rgb"] = arrays["rgb"][:, :3]                 # wrong shape: masks no longer match
    np.savez(views, **arrays)
    with pytest.raises(InputError, match=rf"views.npz: library asset {CHAIR}: views have inconsistent shapes"):
        Library.open(library).views(CHAIR)


class Unpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_stacked_arrays_are_refused_and_never_unpickled(library, tmp_path):
    marker = tmp_path / "unpickled"
    for stacked in library.glob("samples-*.npy"):
        np.save(stacked, np.array([Unpickled(marker)], object), allow_pickle=True)
    before = tree_digest(library)
    out = tmp_path / "out"
    run = scenewright("reconstruct", LIVING_ROOM, "-o", out, "--library", library, "--no-preview")
    assert_refused(run, str(library), says="stacked arrays unreadable", outputs=[out],
                   inputs_before=before, inputs=[library])
    assert not marker.exists(), "a library array was unpickled"
