"""`library build --address`: the assets built as tasks of a real local Ray cluster.

Same files as a local build (apart from timings), resumable, and the CLI path works.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenewright.cli import main as cli_main
from scenewright.library.build import BuildSettings, build_library
from scenewright.library.index import INDEX_DIR
from scenewright.library.store import Library
from scenewright.testing.library import small_selection

ASSET_FILES = ("mesh.glb", "samples.npy", "voxels.npy", "views.npz", "done.json")


def _files(lib: Path) -> dict[str, bytes]:
    """Every file of the library that must match, by relative path (meta.json without its timings)."""
    out = {}
    for rec in Library.open(lib).records:
        for name in ASSET_FILES:
            out[f"{rec.folder}/{name}"] = (lib / rec.folder / name).read_bytes()
        meta = json.loads((lib / rec.folder / "meta.json").read_text())
        meta.pop("timings_s", None)
        out[f"{rec.folder}/meta.json"] = json.dumps(meta, sort_keys=True).encode()
    lib_ = Library.open(lib)
    out["samples"] = lib_.all_samples.tobytes()
    out["voxels"] = lib_.all_voxels.tobytes()
    out["records"] = repr(lib_.records).encode()
    for p in sorted((lib / INDEX_DIR).glob("*.npy")):
        out[f"index/{p.name}"] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def selection():
    ids = small_selection(1, ("chair", "lamp", "plant"))
    if len(ids) < 3:
        pytest.skip("Sweet Home 3D catalogs not installed")
    return ids


def test_ray_build_equals_local_build_and_resumes(selection, tmp_path):
    settings = BuildSettings(n_samples=1024, voxel_grid=8, view_size=48)
    local = build_library(tmp_path / "local", None, workers=1, only=selection, progress=False, settings=settings)
    on_ray = build_library(tmp_path / "ray", None, workers=2, only=selection, progress=False, settings=settings,
                           address="local")
    assert (local.built, on_ray.built, on_ray.skipped) == (3, 3, [])
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    info = json.loads((tmp_path / "ray" / "library.json").read_text())
    assert info["address"] == "local" and info["status"] == "complete"
    # a stopped build resumes: a lost asset folder is rebuilt, the others are reused
    victim = Library.open(tmp_path / "ray").records[0]
    (tmp_path / "ray" / victim.folder / "done.json").unlink()
    again = build_library(tmp_path / "ray", None, workers=2, only=selection, progress=False, settings=settings,
                          address="local")
    assert (again.built, again.reused) == (1, 2)
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


def test_cli_address(selection, tmp_path, capsys):
    out = tmp_path / "lib"
    assert cli_main(["library", "build", "-o", str(out), "--only", *selection[:2], "--address", "local",
                     "--workers", "2", "--samples", "512", "--voxels", "8", "--view-size", "32", "--quiet"]) == 0
    assert "2 assets (2 built" in capsys.readouterr().out
    assert len(Library.open(out)) == 2 and (out / INDEX_DIR / "index.json").is_file()
