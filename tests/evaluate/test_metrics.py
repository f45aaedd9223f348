"""The evaluator on ground truth, perturbed predictions, other world frames and MIDI-style output."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scenewright.evaluate import points as P
from scenewright.evaluate.evaluator import UNALIGNED_METRICS, evaluate_scene
from scenewright.evaluate.placement import auc, rotation_error_deg, rotation_part
from scenewright.geometry.transforms import rot_y
from scenewright.scene import read_scene, write_scene

SCENE = "scene_0000"


def score(bench, pred_folder, settings):
    return evaluate_scene(pred_folder, bench / SCENE / "gt", SCENE, settings)


def write_pred(bench, tmp_path, tag, edit):
    """Read the gt scene, apply ``edit(scene)`` in place, write it as a prediction folder."""
    scene = read_scene(bench / SCENE / "gt")
    edit(scene)
    folder = tmp_path / tag / SCENE
    write_scene(scene, folder)
    return folder


def test_ground_truth_against_itself_is_perfect(toy_bench, tmp_path, fast_settings):
    r = score(toy_bench, write_pred(toy_bench, tmp_path, "gt", lambda s: None), fast_settings)
    m = r["metrics"]
    assert r["status"] == "ok" and r["registered"]
    assert m["recovery"] == m["exact_asset"] == m["category_match"] == 1.0
    assert m["p1_cd_s"] < 1e-12 and m["p1_cd_o"] < 1e-12 and m["p2_cd"] < 1e-9 and m["p2_cd_o"] < 1e-9
    for key in ("p1_f_s", "p1_f_o", "p2_f@0.05", "p2_f@0.1", "p2_f_o@0.05", "p2_f_o@0.1"):
        assert m[key] == pytest.approx(100.0), key
    assert m["p1_iou_b"] == pytest.approx(1.0)
    assert m["rot_err_deg"] < 1e-3 and m["rot_err_sym_deg"] < 1e-3 and m["trans_err_m"] < 1e-9
    assert m["auc_rot60"] == pytest.approx(1.0, abs=1e-6) and m["auc_trans0.5"] == pytest.approx(1.0)
    assert m["n_interpenetrating_pairs"] == 0 and m["n_floating"] == 0 and m["n_below_floor"] == 0
    assert r["not_computed"] == {}
    # Small objects stand on their supports: the floating check found the support, not the floor.
    supports = [o["supported_by"] for o in r["plausibility"]["per_object"].values()]
    assert any(isinstance(s, int) for s in supports)


def _translate(d):
    def edit(scene):
        for inst in scene.instances:
            inst.world_from_object = inst.world_from_object.copy()
            inst.world_from_object[:3, 3] += [d, 0.0, d / 2]
    return edit


def _yaw(deg):
    def edit(scene):
        for inst in scene.instances:
            T = np.eye(4)
            T[:3, :3] = rot_y(np.radians(deg))
            inst.world_from_object = inst.world_from_object @ T     # about the object's own origin
    return edit


def _scale(f):
    def edit(scene):
        for inst in scene.instances:
            inst.world_from_object = inst.world_from_object @ np.diag([f, f, f, 1.0])
    return edit


def _drop(k):
    def edit(scene):
        scene.instances = scene.instances[k:]
    return edit


def _series(toy_bench, tmp_path, settings, make, levels):
    return [score(toy_bench, write_pred(toy_bench, tmp_path, f"{make.__name__}{lv}", make(lv)), settings)["metrics"]
            for lv in levels]


def decreasing(values):
    return all(a > b for a, b in zip(values, values[1:]))


def nonincreasing(values):
    return all(a >= b for a, b in zip(values, values[1:]))


def increasing(values):
    return all(a < b for a, b in zip(values, values[1:]))


def test_growing_translation_scores_worse(toy_bench, tmp_path, fast_settings):
    ms = _series(toy_bench, tmp_path, fast_settings, _translate, [0.0, 0.03, 0.12, 0.4])
    for key in ("trans_err_m", "p2_cd", "p2_cd_o"):
        assert increasing([m[key] for m in ms]), key
    for key in ("p1_iou_b", "auc_trans0.5"):
        assert decreasing([m[key] for m in ms]), key
    # A threshold metric saturates while the shift is under its threshold, then falls.
    assert nonincreasing([m["p2_f_o@0.1"] for m in ms]) and ms[-1]["p2_f_o@0.1"] < 50
    assert max(m["rot_err_deg"] for m in ms) < 1e-3
    # P1 scene CD is after ICP: a global shift is removed, unlike the unaligned metrics.
    assert ms[-1]["p1_cd_s"] < 1e-6 and ms[-1]["p2_cd"] > 0.1


def test_growing_rotation_scores_worse(toy_bench, tmp_path, fast_settings):
    ms = _series(toy_bench, tmp_path, fast_settings, _yaw, [0, 5, 20, 50])
    assert increasing([m["rot_err_deg"] for m in ms])
    assert decreasing([m["auc_rot60"] for m in ms])
    sym = [m["rot_err_sym_deg"] for m in ms]
    assert all(a <= b + 1e-9 for a, b in zip(sym, sym[1:])) and sym[-1] <= ms[-1]["rot_err_deg"]
    assert increasing([m["p2_cd"] for m in ms])
    assert max(m["trans_err_m"] for m in ms) < 1e-9      # yaw about the object origin keeps the centre


def test_growing_scale_scores_worse(toy_bench, tmp_path, fast_settings):
    ms = _series(toy_bench, tmp_path, fast_settings, _scale, [1.0, 1.1, 1.3, 1.7])
    assert decreasing([m["p1_iou_b"] for m in ms])
    assert increasing([m["p2_cd"] for m in ms]) and increasing([m["p1_cd_s"] for m in ms])
    assert max(m["rot_err_deg"] for m in ms) < 1e-3     # scale is removed before comparing rotations
    # Per-axis object normalisation hides a uniform scale (a documented P1 weakness).
    assert ms[-1]["p1_cd_o"] < 1e-9


def test_dropped_objects_score_worse(toy_bench, tmp_path, fast_settings):
    ms = _series(toy_bench, tmp_path, fast_settings, _drop, [0, 1, 2, 3])
    assert decreasing([m["recovery"] for m in ms])
    for key in ("p1_f_s", "p1_f_o", "p1_iou_b", "auc_rot60", "auc_trans0.5", "exact_asset"):
        assert decreasing([m[key] for m in ms]), key


def test_other_world_frame_scores_the_same(toy_bench, tmp_path, fast_settings):
    G = trimesh.transformations.rotation_matrix(0.7, [0.3, 1.0, -0.2])
    G[:3, 3] = [5.0, -2.0, 1.5]

    def moved(scene):
        _translate(0.08)(scene)
        _yaw(12)(scene)
        for inst in scene.instances:
            inst.world_from_object = G @ inst.world_from_object
        scene.camera.world_from_camera = G @ scene.camera.world_from_camera
        scene.floor = None    # the prediction's own frame has no floor at y = 0 any more

    def same_frame(scene):
        _translate(0.08)(scene)
        _yaw(12)(scene)
    a = score(toy_bench, write_pred(toy_bench, tmp_path, "same", same_frame), fast_settings)["metrics"]
    b = score(toy_bench, write_pred(toy_bench, tmp_path, "moved", moved), fast_settings)["metrics"]
    assert a["trans_err_m"] > 0.05 and a["rot_err_deg"] > 10
    for key, value in a.items():
        assert b[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_prediction_without_camera_gets_alignment_metrics_only(toy_bench, tmp_path, fast_settings):
    def midi_like(scene):
        # MIDI bakes placement into vertices, in a frame of its own, and writes no camera pose.
        for inst in scene.instances:
            inst.mesh = inst.world_mesh()
            inst.world_from_object = np.eye(4)
        scene.camera.world_from_camera = None
    r = score(toy_bench, write_pred(toy_bench, tmp_path, "midi", midi_like), fast_settings)
    assert not r["registered"] and set(r["not_computed"]) == UNALIGNED_METRICS
    m = r["metrics"]
    assert m["p1_f_s"] == pytest.approx(100.0) and m["p1_cd_s"] < 1e-12 and m["recovery"] == 1.0
    assert all(m[k] is None for k in UNALIGNED_METRICS)
    assert r["plausibility"] is None


def test_icp_recovers_a_rotated_copy():
    mesh = trimesh.creation.box(extents=(1.0, 0.4, 0.25))
    pts = P.sample_surface(mesh, 4096, 0)
    motion = trimesh.transformations.rotation_matrix(np.radians(12), [0.2, 1.0, 0.3])
    motion[:3, 3] = [0.05, -0.03, 0.02]
    moved = pts @ motion[:3, :3].T + motion[:3, 3]
    res = P.icp(moved, pts, max_iterations=50)
    assert np.allclose(res.transform @ motion, np.eye(4), atol=1e-6)
    assert res.rmse < 1e-6
    # Identical clouds: the corrected Kabsch returns the identity (the released MIDI ICP did not).
    assert np.allclose(P.kabsch(pts, pts), np.eye(4), atol=1e-9)


def test_kabsch_never_reflects():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(200, 3))
    mirrored = pts * [-1.0, 1.0, 1.0]
    R = P.kabsch(pts, mirrored)[:3, :3]
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_chamfer_and_fscore_definitions():
    gt = np.zeros((4, 3))
    pred = np.tile([0.3, 0.0, 0.0], (4, 1))
    p2 = P.p2_metrics(pred, gt, (0.05, 0.5))
    assert p2["cd"] == pytest.approx(0.3) and p2["f@0.05"] == 0.0 and p2["f@0.5"] == 100.0
    p1 = P.p1_metrics(pred, gt, 0.1, max_iterations=0)
    assert p1["cd"] == pytest.approx(2 * 0.09)          # squared, summed over both directions


def test_rotation_error_symmetry_and_auc():
    R = rot_y(np.radians(180))
    assert rotation_error_deg(np.eye(3), R) == pytest.approx(180.0)
    assert rotation_error_deg(np.eye(3), R, "two") == pytest.approx(0.0, abs=1e-6)
    assert rotation_error_deg(np.eye(3), rot_y(np.radians(100)), "four") == pytest.approx(10.0)
    tilt = trimesh.transformations.rotation_matrix(np.radians(7), [1, 0, 0])[:3, :3]
    assert rotation_error_deg(np.eye(3), rot_y(1.3) @ tilt, "radial") == pytest.approx(7.0)
    scaled = np.diag([2.0, 0.5, 3.0, 1.0])
    scaled[:3, :3] = rot_y(0.4) @ scaled[:3, :3]
    assert np.allclose(rotation_part(scaled), rot_y(0.4))
    assert auc([0.0, 30.0, np.inf], 60.0) == pytest.approx((1 + 0.5 + 0) / 3)
