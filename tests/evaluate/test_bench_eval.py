"""Whole-benchmark evaluation: broken predictions are failures, never stop the run; the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from scenewright.cli import main
from scenewright.errors import InputError
from scenewright.evaluate.evaluator import evaluate_bench
from scenewright.testing.toy_bench import ToyBenchSettings, make_toy_bench

from .conftest import copy_gt


@pytest.fixture(scope="module")
def bench5(tmp_path_factory):
    """Five small scenes, one for each kind of breakage plus a good one."""
    folder = tmp_path_factory.mktemp("bench5") / "bench"
    return make_toy_bench(folder, ToyBenchSettings(n_scenes=5, objects_per_scene=3, width=64, height=48,
                                                   seed=11))


def break_predictions(bench, pred):
    copy_gt(bench, pred)
    shutil.rmtree(pred / "scene_0001")                                    # no folder
    (pred / "scene_0002" / "scene.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")   # corrupt glb
    (pred / "scene_0003" / "scene.json").write_text("{ not json")         # bad json
    data = json.loads((pred / "scene_0004" / "scene.json").read_text())   # a missing instance
    dropped = data["instances"].pop(0)["id"]
    (pred / "scene_0004" / "scene.json").write_text(json.dumps(data))
    return dropped


def test_broken_predictions_are_failures_and_evaluation_continues(bench5, tmp_path, fast_settings):
    dropped = break_predictions(bench5, tmp_path / "pred")
    report = evaluate_bench(tmp_path / "pred", bench5, fast_settings)
    assert report["n_scenes"] == report["n_scored"] == 5
    status = {s["scene"]: s["status"] for s in report["scenes"]}
    assert status == {"scene_0000": "ok", "scene_0001": "failed", "scene_0002": "failed",
                      "scene_0003": "failed", "scene_0004": "ok"}
    reasons = {(f["scene"], f["id"]): f["reason"] for f in report["failures"]}
    assert "not found" in reasons[("scene_0001", None)]
    assert "GLB" in reasons[("scene_0002", None)]
    assert "JSON" in reasons[("scene_0003", None)]
    assert "no predicted instance" in reasons[("scene_0004", dropped)]
    scenes = {s["scene"]: s for s in report["scenes"]}
    for name in ("scene_0001", "scene_0002", "scene_0003"):
        m = scenes[name]["metrics"]
        assert m["recovery"] == 0 and m["p1_f_s"] == 0 and m["p1_iou_b"] == 0 and m["auc_trans0.5"] == 0
        assert m["p1_cd_s"] is None                        # no worst value: left out, counted in n
        assert all(o["status"] == "missing" for o in scenes[name]["objects"])
    m4 = scenes["scene_0004"]["metrics"]
    n4 = len(scenes["scene_0004"]["objects"])
    assert m4["recovery"] == pytest.approx((n4 - 1) / n4)
    # Failures pull the means down: the summary is over all five scenes where a worst value exists.
    assert report["summary"]["recovery"]["n"] == 5
    assert report["summary"]["recovery"]["mean"] == pytest.approx((1 + 0 + 0 + 0 + (n4 - 1) / n4) / 5)
    assert report["summary"]["p1_cd_s"]["n"] == 2


def test_cli_writes_json_and_table(bench5, tmp_path, capsys):
    copy_gt(bench5, tmp_path / "pred")
    out = tmp_path / "report.json"
    assert main(["eval", str(tmp_path / "pred"), str(bench5), "--out", str(out), "--points", "512"]) == 0
    report = json.loads(out.read_text())
    assert report["evaluator"]["version"] and report["settings"]["points_per_object"] == 512
    assert report["protocols"]["p1"]["label"] == "MIDI protocol (corrected ICP)"
    assert report["summary"]["p1_f_s"]["mean"] == pytest.approx(100.0)
    assert report["failures"] == [] and report["timings_s"]["total"] > 0
    assert len(report["scenes"]) == 5 and all(s["objects"] for s in report["scenes"])
    printed = capsys.readouterr().out
    assert "MIDI protocol (corrected ICP)" in printed and "F-S@0.1" in printed


def test_cli_bad_bench_exits_2(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    (tmp_path / "bench").mkdir()
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "bench")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nowhere"), str(tmp_path / "bench")]) == 2


def test_broken_ground_truth_is_reported_not_fatal(bench5, tmp_path, fast_settings):
    bench = tmp_path / "bench"
    shutil.copytree(bench5, bench)
    (bench / "scene_0000" / "gt" / "scene.json").write_text("[]")
    copy_gt(bench5, tmp_path / "pred")
    report = evaluate_bench(tmp_path / "pred", bench, fast_settings)
    assert report["n_scored"] == 4 and report["gt_errors"][0]["scene"] == "scene_0000"
    with pytest.raises(InputError):
        evaluate_bench(tmp_path / "missing", bench, fast_settings)


def test_sampling_is_deterministic(bench5, tmp_path, fast_settings):
    pred = copy_gt(bench5, tmp_path / "pred", ["scene_0000"])
    from scenewright.evaluate.evaluator import evaluate_scene
    from scenewright.scene import read_scene, write_scene
    scene = read_scene(pred / "scene_0000")
    for inst in scene.instances:
        inst.world_from_object = inst.world_from_object @ np.diag([1.2, 0.9, 1.1, 1.0])
    write_scene(scene, pred / "scene_0000", overwrite=True)
    a = evaluate_scene(pred / "scene_0000", bench5 / "scene_0000" / "gt", "scene_0000", fast_settings)
    b = evaluate_scene(pred / "scene_0000", bench5 / "scene_0000" / "gt", "scene_0000", fast_settings)
    assert a["metrics"] == b["metrics"] and a["metrics"]["p1_cd_s"] > 0


def test_prediction_breaking_a_metric_is_a_failure(bench5, tmp_path, fast_settings):
    """A mesh that reads fine but cannot be scored (NaN placement) is a failure with its reason."""
    pred = copy_gt(bench5, tmp_path / "pred")
    data = json.loads((pred / "scene_0000" / "scene.json").read_text())
    data["camera"]["world_from_camera"] = [[float("nan")] * 4] * 4
    (pred / "scene_0000" / "scene.json").write_text(json.dumps(data))
    data = json.loads((pred / "scene_0001" / "scene.json").read_text())
    data["instances"][0]["world_from_object"][0][3] = float("inf")
    (pred / "scene_0001" / "scene.json").write_text(json.dumps(data))
    report = evaluate_bench(pred, bench5, fast_settings)
    reasons = {(f["scene"], f["id"]): f["reason"] for f in report["failures"]}
    assert "world_from_camera" in reasons[("scene_0000", None)]
    # read_scene refuses a non-finite placement, naming the instance: the scene fails as a whole
    assert f"instance {data['instances'][0]['id']}: world_from_object" in reasons[("scene_0001", None)]
    assert report["n_scored"] == 5


def test_report_of_all_failed_scenes_is_strict_json(bench5, tmp_path, fast_settings):
    # every prediction present but unreadable (an empty folder is refused: tests/robustness)
    for name in json.loads((bench5 / "manifest.json").read_text())["scenes"]:
        (tmp_path / "empty" / name).mkdir(parents=True)
        (tmp_path / "empty" / name / "scene.json").write_text("{}")
    report = evaluate_bench(tmp_path / "empty", bench5, fast_settings)
    assert len([f for f in report["failures"] if f["id"] is None]) == 5
    from scenewright.fileio import dumps_json
    text = dumps_json(report)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert report["summary"]["recovery"]["mean"] == 0 and report["pooled"]["median_trans_err_m"] is None
