"""Layout without metric depth on rooms the benchmark generator rendered at 384² (the real
library builder, renderer and evaluator; the fixtures are test_pipeline's small library)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenewright.bench.camera import camera_angles
from scenewright.scene import read_scene
from tests.layout.test_pipeline import library, library_dir, renderer  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def bench384(library_dir, tmp_path_factory) -> Path:   # noqa: F811
    from scenewright.bench.generate import BenchSettings, make_bench
    out = tmp_path_factory.mktemp("nodepth_bench") / "bench"
    make_bench(out, library_dir, BenchSettings(scenes=3, seed=0, size=384, objects=(4, 6)), progress=False)
    return out


def _run(capture_dir, library, out, **depth):   # noqa: F811
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.run import run_to_folder
    settings = LayoutSettings()
    for k, v in depth.items():
        setattr(settings.depth, k, v)
    return run_to_folder(capture_dir, out, "layout", settings, Resources(library=library), preview=False)


def _truth(bench, name):
    gt = json.loads((bench / name / "gt" / "scene.json").read_text())
    return camera_angles(np.asarray(gt["camera"]["world_from_camera"], float))


def test_pitch_and_height_without_depth_come_from_lines_and_sizes(bench384, library, tmp_path):  # noqa: F811
    from scenewright.bench.degrade import degrade_bench
    manifest = degrade_bench(bench384, tmp_path / "b", "none", seed=0)
    pitch_err, height_err = [], []
    for name in manifest["scenes"]:
        _run(tmp_path / "b" / name / "capture", library, tmp_path / name)
        written = json.loads((tmp_path / name / "scene.json").read_text())
        cam = written["depth"]["metrology"]
        h, p = _truth(bench384, name)
        pitch_err.append(abs(cam["camera_pitch_deg"] - p))
        height_err.append(abs(cam["camera_height_m"] / h - 1))
        # scene.json records the settings asked for, not the silhouette-only ones the run used
        assert written["method"]["settings"]["pose"]["w_depth"] > 0
    # Pitch: the Manhattan vanishing points pin it (≤ 0.5° on 512² bench rooms; 384² has fewer
    # and shorter segments). Height: the objects' catalog sizes against their masks (the
    # generator scales assets by up to ±10 %, masks of chairs are legs and backs).
    assert float(np.median(pitch_err)) < 1.5
    assert float(np.median(height_err)) < 0.15


def test_silhouette_pose_is_for_no_depth_only_and_both_switches_run(bench384, library, tmp_path):  # noqa: F811
    # The same capture with the image's lines ignored and depth-style pose scoring: both
    # settings are real switches (recorded), and the given path ignores them.
    from scenewright.bench.degrade import degrade_bench
    from scenewright.methods.layout.depth_fit import settings_for_run
    from scenewright.methods.layout.pipeline import LayoutSettings
    s = LayoutSettings()
    assert settings_for_run(s, {"used_as": "none"}) is s              # off by default (measured worse)
    s.depth.silhouette_pose = True
    assert settings_for_run(s, {"used_as": "given"}) is s
    assert settings_for_run(s, {"used_as": "estimated"}) is s
    run = settings_for_run(s, {"used_as": "none"})
    assert run.pose.w_depth == 0 and run.pose.shift_all and not run.pose.depth_nudge
    assert s.pose.w_depth > 0 and not s.pose.shift_all              # the asked settings are untouched
    manifest = degrade_bench(bench384, tmp_path / "b", "none", seed=0)
    name = manifest["scenes"][0]
    scene = _run(tmp_path / "b" / name / "capture", library, tmp_path / "on", vertical_lines_weight=0.0,
                 silhouette_pose=True)
    assert scene.extra["depth"]["used_as"] == "none" and len(scene.instances) > 0


def test_relative_depth_shift_uses_the_lines_pitch(bench384, library, tmp_path):  # noqa: F811
    from scenewright.bench.degrade import degrade_bench
    manifest = degrade_bench(bench384, tmp_path / "b", "relative", seed=0)
    name = manifest["scenes"][0]
    scene = _run(tmp_path / "b" / name / "capture", library, tmp_path / "rel")
    rec = scene.extra["depth"]
    h, p = _truth(bench384, name)
    assert abs(rec["lines_pitch_deg"] - p) < 1.5
    # the final world frame (perception's floor on the shifted map) agrees with the lines
    assert abs(rec["camera_pitch_deg"] - p) < 3.0
    gt = read_scene(bench384 / name / "gt", load_meshes=False)
    assert len(scene.instances) >= len(gt.instances) - 1
