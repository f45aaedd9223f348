"""The box baseline on ray-cast captures: floor, boxes, CLI, and its scores."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from scenewright.capture import load_capture
from scenewright.cli import main
from scenewright.evaluate.evaluator import evaluate_scene
from scenewright.geometry.transforms import look_at
from scenewright.methods.boxes import BoxesSettings, fit_floor, reconstruct_boxes
from scenewright.scene import WORLD_FROM_CAMERA_NO_FLOOR, read_scene


def test_boxes_find_the_floor_and_cover_the_objects(toy_bench, tmp_path, fast_settings):
    cap = load_capture(toy_bench / "scene_0000" / "capture")
    gt = read_scene(toy_bench / "scene_0000" / "gt")
    scene = reconstruct_boxes(cap)
    assert scene.extra["floor_estimate"]["method"] == "ransac"
    wfc, gt_wfc = scene.camera.world_from_camera, gt.camera.world_from_camera
    # Same up axis and camera height as the truth (the yaw of the world is the method's choice).
    assert np.allclose(wfc[1], gt_wfc[1], atol=0.01)
    assert {i.id for i in scene.instances} == {i.id for i in gt.instances}
    assert all(i.category is None and i.asset_id is None and i.mesh is not None for i in scene.instances)
    from scenewright.scene import write_scene
    write_scene(scene, tmp_path / "scene_0000")
    r = evaluate_scene(tmp_path / "scene_0000", toy_bench / "scene_0000" / "gt", "scene_0000", fast_settings)
    m = r["metrics"]
    assert m["recovery"] == 1.0 and m["exact_asset"] == 0.0 and m["category_match"] == 0.0
    assert m["p1_iou_b"] > 0.3 and m["trans_err_m"] < 0.3 and m["p2_f@0.1"] > 50
    assert m["n_below_floor"] == 0


def test_no_floor_frame_and_rejected_walls(toy_bench):
    cap = load_capture(toy_bench / "scene_0000" / "capture")
    scene = reconstruct_boxes(cap, BoxesSettings(floor="none"))
    assert np.allclose(scene.camera.world_from_camera, WORLD_FROM_CAMERA_NO_FLOOR) and scene.floor is None
    rng = np.random.default_rng(0)
    wall = np.c_[rng.uniform(-2, 2, 2000), rng.uniform(-1, 1, 2000), np.full(2000, 4.0)]   # facing the camera
    assert fit_floor(wall, BoxesSettings()) is None


def test_cli_reconstruct_boxes(toy_bench, tmp_path, capsys):
    out = tmp_path / "out"
    cap = toy_bench / "scene_0001" / "capture"
    assert main(["reconstruct", str(cap), "-o", str(out), "--method", "boxes", "--no-preview"]) == 0
    scene = read_scene(out)
    assert scene.method["name"] == "boxes" and scene.camera.world_from_camera is not None
    assert scene.floor == {"normal": [0.0, 1.0, 0.0], "height": 0.0}
    assert main(["reconstruct", str(cap), "-o", str(out), "--method", "boxes", "--no-preview"]) == 2
    assert "not empty" in capsys.readouterr().err
    # With the real renderer: the preview is the boxes drawn over the capture.
    assert main(["reconstruct", str(cap), "-o", str(out), "--method", "boxes", "--overwrite"]) == 0
    from PIL import Image
    preview = np.asarray(Image.open(out / "preview.png"))
    assert preview.shape == (72, 96, 3)
    assert np.abs(preview.astype(int) - load_capture(cap).rgb.astype(int)).mean() > 1
    no_depth = tmp_path / "nodepth"
    shutil.copytree(cap, no_depth)
    (no_depth / "depth.npy").unlink()
    # Missing depth is estimated by the depth model; with none installed: the command that fetches it.
    assert main(["reconstruct", str(no_depth), "-o", str(tmp_path / "o2"), "--method", "boxes",
                 "--models", str(tmp_path / "no-models")]) == 2
    assert "depth model not found; fetch it with `scenewright models download depth" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_instance_without_depth_is_kept_without_a_box(toy_bench):
    cap = load_capture(toy_bench / "scene_0000" / "capture")
    victim = cap.instance_ids[0]
    cap.depth = cap.depth.copy()
    cap.depth[cap.seg == victim] = np.nan
    scene = reconstruct_boxes(cap)
    inst = scene.instance(victim)
    assert inst.mesh is None and "depth" in inst.extra["status"]
    assert scene.extra["skipped_instances"] == [victim]


@pytest.mark.parametrize("pitch_deg", [0.0, 35.0])
def test_floor_fit_recovers_camera_height(pitch_deg):
    """A flat floor 1.4 m under a camera pitched down by ``pitch_deg``: height and normal back."""
    rng = np.random.default_rng(2)
    floor_world = np.c_[rng.uniform(-3, 3, 5000), np.zeros(5000), rng.uniform(-6, -1, 5000)]
    a = np.radians(pitch_deg)
    wfc = look_at([0.0, 1.4, 0.0], [0.0, 1.4 - np.sin(a), -np.cos(a)])
    R_wc = wfc[:3, :3]
    pts_cam = (floor_world - wfc[:3, 3]) @ R_wc          # camera_from_world, row vectors
    pts_cam = pts_cam[pts_cam[:, 2] > 0.1]
    n, d, count = fit_floor(pts_cam, BoxesSettings())
    assert d == pytest.approx(1.4, abs=1e-6) and count == len(pts_cam)
    assert np.allclose(R_wc @ n, [0, 1, 0], atol=1e-6)
