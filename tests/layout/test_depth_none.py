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


def test_estimated_depth_scale_comes_from_assets_identified_by_appearance(bench384, library, tmp_path):  # noqa: F811
    """A metric estimate off by a global factor: the assets that vote on the scale are the same
    whatever the factor (appearance does not change with it), and their known sizes undo it."""
    import dataclasses

    from scenewright.capture import load_capture
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.depth_fit import condition_depth, size_votes
    from scenewright.methods.layout.features import make_extractor
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.methods.layout.retrieval import library_index
    s = LayoutSettings()
    s.depth.backbone = "depth"          # the scale from the sizes seen in the estimate (not the metrology camera)
    index = library_index(Resources(library=library).library(), s.retrieval.n_points, s.seed)
    extractor = make_extractor(s.features, s.dinov2_weights)
    name = json.loads((bench384 / "manifest.json").read_text())["scenes"][0]
    capture = load_capture(bench384 / name / "capture")
    picks = []
    for factor in (0.8, 1.25):
        scaled = dataclasses.replace(capture, depth=capture.depth * factor)
        _, _, picked = size_votes(scaled, index, s.seed, extractor, s.retrieval, identify=True,
                                  identify_by="appearance")
        picks.append({i: tuple(np.round(v, 6)) for i, v in picked.items()})
    assert picks[0] and picks[0] == picks[1]
    estimate = dataclasses.replace(capture, depth=capture.depth * 1.25, depth_kind="estimated-metric")
    _, record = condition_depth(estimate, index, s, extractor)
    assert record["used_as"] == "estimated"
    # exact assets, no warp, no bleeding: the size votes alone leave a few % (seen heights of
    # thin chairs and partly hidden things)
    assert abs(record["scale"] * 1.25 - 1.0) < 0.08


def test_thing_placed_on_a_support_must_stand_within_its_footprint():
    from types import SimpleNamespace
    from scenewright.methods.layout.pipeline import _over_support
    from scenewright.methods.layout.retrieval import Hypothesis
    index = SimpleNamespace(sizes=np.array([[1.2, 0.75, 0.6], [0.3, 0.02, 0.2]]), row={"desk": 0, "laptop": 1})
    desk = Hypothesis(asset_id="desk", category="table", yaw=0.0, scale=np.ones(3), translation=np.array([0.0, 0.0, -4.5]))

    def laptop(x, z):
        return Hypothesis(asset_id="laptop", category=None, yaw=0.0, scale=np.ones(3),
                          translation=np.array([x, 0.75, z]))
    assert _over_support(laptop(0.4, -4.3), desk, index)
    # a contact row that meets the support's top plane only far behind it (a support read too tall)
    assert not _over_support(laptop(-0.3, -12.7), desk, index)
    # a larger support reaches farther
    big = Hypothesis(asset_id="desk", category="table", yaw=0.0, scale=np.full(3, 3.0), translation=desk.translation)
    assert _over_support(laptop(1.5, -4.5), big, index) and not _over_support(laptop(1.5, -4.5), desk, index)


def test_pass_whose_scale_is_corrected_reuses_the_metrology_retrieval(bench384, library, tmp_path,  # noqa: F811
                                                                         monkeypatch):
    # The floor objects the second metrology pass retrieved are placed from those hypotheses: the
    # pipeline's own retrieval then runs for the other objects only, and every object is still placed.
    import scenewright.methods.layout.pipeline as pipeline
    from scenewright.bench.degrade import degrade_bench
    from scenewright.methods.base import Resources
    from scenewright.run import run_to_folder
    manifest = degrade_bench(bench384, tmp_path / "b", "none", seed=0)
    capture = tmp_path / "b" / manifest["scenes"][0] / "capture"
    calls = []
    original = pipeline.retrieve
    monkeypatch.setattr(pipeline, "retrieve", lambda query, *a, **k: calls.append(1) or original(query, *a, **k))
    scenes = {}
    for reuse in (False, True):
        calls.clear()
        settings = pipeline.LayoutSettings()
        settings.floor_pose.reuse_metrology_retrieval = reuse
        scene = run_to_folder(capture, tmp_path / f"reuse_{reuse}", "layout", settings, Resources(library=library),
                              preview=False)
        scenes[reuse] = (scene, len(calls))
    (before, n_before), (after, n_after) = scenes[False], scenes[True]
    assert n_after < n_before
    assert len(after.instances) == len(before.instances)
    assert all(i.asset_id in library.ids for i in after.instances)
