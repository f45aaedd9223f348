"""Fixtures: a small real library, a tiny benchmark made from it, and one real local Ray
cluster (2 CPUs) for the whole session — every batch test joins it instead of starting its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scenewright.bench.generate import BenchSettings, make_bench



@pytest.fixture(scope="session")
def library_dir(furniture, tmp_path_factory) -> Path:
    from scenewright.testing.library import build_small_library
    out = tmp_path_factory.mktemp("batch_lib") / "library"
    build_small_library(out, n_per_category=1)
    return out


@pytest.fixture(scope="session")
def bench(library_dir, tmp_path_factory) -> Path:
    """Four 128 px scenes of 3-5 objects."""
    out = tmp_path_factory.mktemp("batch_bench") / "bench"
    make_bench(out, library_dir, BenchSettings(scenes=4, seed=0, size=128, objects=(3, 5)), progress=False)
    return out


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster with 2 CPUs, started once; batches with --address local reuse it."""
    from scenewright.batch.cluster import connect
    ray, started = connect("local", num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def corrupt_capture(bench, tmp_path_factory) -> Path:
    """A copy of scene_0000's capture whose rgb.png is cut off half-way."""
    folder = tmp_path_factory.mktemp("batch_corrupt") / "broken_capture"
    shutil.copytree(bench / "scene_0000" / "capture", folder)
    data = (folder / "rgb.png").read_bytes()
    (folder / "rgb.png").write_bytes(data[: len(data) // 2])
    return folder


@pytest.fixture(scope="session")
def mixed_list(bench, corrupt_capture, tmp_path_factory) -> Path:
    """A list file: the four bench captures (relative and absolute paths) and the corrupt one."""
    folder = tmp_path_factory.mktemp("batch_list")
    lines = ["# four good captures and a broken one", str(bench / "scene_0000" / "capture"),
             str(bench / "scene_0001" / "capture"), "",
             str(corrupt_capture) + "   # truncated rgb.png",
             str(bench / "scene_0002" / "capture"), str(bench / "scene_0003" / "capture")]
    path = folder / "captures.txt"
    path.write_text("\n".join(lines) + "\n")
    return path
