"""perceive() on analytic captures (exact ray casting) and on real renders."""

import dataclasses

import numpy as np
import pytest

from scenewright.capture import intrinsics_from_hfov, load_capture, write_capture
from scenewright.errors import InputError
from scenewright.geometry.boxes import yaw_error_deg
from scenewright.geometry.planes import Plane, angle_deg
from scenewright.geometry.transforms import apply, backproject, rigid_inverse
from scenewright.perception import PerceptionSettings, perceive
from scenewright.scene import WORLD_FROM_CAMERA_NO_FLOOR
from tests.perception.synth import SynthBox, SynthRoom

FURNISHED = [SynthBox((0.3, -3.0), (1.8, 0.85, 0.9), yaw=0.2, label="sofa"),
             SynthBox((-1.2, -2.2), (1.0, 0.75, 0.8), yaw=0.0, label="table"),
             SynthBox((1.2, -1.9), (0.6, 0.9, 0.45), yaw=1.0, label="chair"),
             SynthBox((-0.4, -1.6), (1.1, 0.45, 0.6), yaw=-0.4, label="coffee table"),
             SynthBox((0.9, -3.5), (0.8, 1.8, 0.5), yaw=0.0, label="bookcase")]


def floor_errors(obs, gt_wfc, cam_height):
    """(angle° between estimated and true up, camera height error m)."""
    up_est = obs.world_from_camera[:3, :3].T @ [0, 1, 0]
    up_gt = gt_wfc[:3, :3].T @ [0, 1, 0]
    return angle_deg(up_est, up_gt), abs(obs.camera_height - cam_height)


def wall_errors(obs, gt_wfc, room, cap):
    """Per visible GT wall: (angle°, distance m at the wall's visible centroid) of the matched
    estimated wall, compared in the camera frame; None when no estimated wall matches.
    ``cap`` must be a noise-free render (it tells which pixels see which wall)."""
    cam_from_est = rigid_inverse(obs.world_from_camera)
    est = [w.transformed(cam_from_est) for w in obs.walls]
    pts_cam = backproject(cap.depth, cap.K)
    pts_w = apply(gt_wfc, pts_cam)
    out = []
    for n, off in room.walls:
        on = np.abs(pts_w @ n - off) < 1e-4
        if on.sum() < 0.02 * on.size:
            continue
        gt = Plane(n * off, n).transformed(rigid_inverse(gt_wfc))
        centroid = pts_cam[on].mean(axis=0)
        match = [w for w in est if angle_deg(w.normal, gt.normal, unsigned=True) < 10]
        if not match:
            out.append(None)
            continue
        w = min(match, key=lambda w: abs(w.distance(centroid)))
        out.append((angle_deg(w.normal, gt.normal, unsigned=True), abs(w.distance(centroid))))
    return out


def test_room_planes_clean_with_holes():
    room = SynthRoom(boxes=FURNISHED, walls=[(np.array([0.0, 0, 1]), -4.0), (np.array([1.0, 0, 0]), -2.0),
                                             (np.array([-1.0, 0, 0]), -2.2)])
    cap, wfc = room.render(nan_fraction=0.1)
    obs = perceive(cap)
    ang, dh = floor_errors(obs, wfc, room.cam_height)
    assert ang < 1.0 and dh < 0.02
    errs = wall_errors(obs, wfc, room, cap)
    assert len(errs) >= 2 and all(e is not None for e in errs)
    for a, d in errs:
        assert a < 2.0 and d < 0.03
    # World frame: Y up, floor at 0, -Z along the camera's forward direction.
    assert np.allclose(obs.world_from_camera, wfc, atol=0.02)
    for w in obs.walls:
        assert abs(w.normal[1]) < 1e-9
    assert obs.floor is not None and obs.floor.normal.tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("seed", [0, 1])
def test_room_planes_with_depth_noise_and_occluded_floor(seed):
    # Furniture hides most of the floor; 2 % multiplicative depth noise, 5 % NaN holes.
    boxes = FURNISHED + [SynthBox((0.4, -1.2), (1.6, 0.5, 0.5), label="bench")]
    room = SynthRoom(boxes=boxes, pitch_deg=25, cam_height=1.4)
    clean, _ = room.render()
    empty, _ = SynthRoom(pitch_deg=25, cam_height=1.4).render()

    def floor_px(c):
        return np.mean((c.seg == 0) & (np.abs(apply(wfc, backproject(c.depth, c.K))[..., 1]) < 1e-4))

    cap, wfc = room.render(noise_rel=0.02, nan_fraction=0.05, seed=seed)
    assert floor_px(clean) < 0.15 * floor_px(empty)      # furniture hides > 85 % of the floor
    obs = perceive(cap)
    ang, dh = floor_errors(obs, wfc, room.cam_height)
    assert ang < 1.0 and dh < 0.02
    back = wall_errors(obs, wfc, room, clean)[0]        # the wall facing the camera
    assert back is not None and back[0] < 2.0 and back[1] < 0.03


def test_tilted_rolled_camera_and_wall_frame():
    room = SynthRoom(boxes=FURNISHED[:3], pitch_deg=33, roll_deg=4, cam_height=1.65)
    cap, wfc = room.render()
    obs = perceive(cap, PerceptionSettings(frame="wall"))
    ang, dh = floor_errors(obs, wfc, room.cam_height)
    assert ang < 1.0 and dh < 0.02
    # frame="wall": the dominant wall's normal is a world axis.
    n = obs.walls[int(np.argmax([1] * len(obs.walls)))].normal
    assert np.isclose(np.max(np.abs(n)), 1.0, atol=1e-6)


def test_known_yawed_box():
    box = SynthBox((0.2, -2.4), (1.2, 0.7, 0.6), yaw=0.6, label="cabinet")
    room = SynthRoom(width=480, height=360, boxes=[box])
    cap, _ = room.render()
    obs = perceive(cap)
    o = obs.objects[0]
    assert o.label == "cabinet" and not o.truncated and o.box is not None
    assert yaw_error_deg(o.box.yaw, box.yaw, 180) < 3.0
    assert np.linalg.norm(o.box.centre[[0, 2]] - box.centre_xz) < 0.03
    assert abs(o.box.top - 0.7) < 0.03 and o.box.bottom < 0.05
    assert np.allclose(o.box.size[[0, 2]], [1.2, 0.6], atol=0.05)


def test_tiny_truncated_holey_and_depthless_objects():
    boxes = [SynthBox((0.0, -2.5), (1.0, 0.8, 0.6), label="cabinet"),
             SynthBox((1.5, -5.5), (0.05, 0.05, 0.05), bottom=1.0, label="tiny"),     # floats: a few px
             SynthBox((-1.0, -1.2), (1.0, 1.0, 1.0), label="cut"),                    # off the left edge
             SynthBox((-0.8, -2.0), (0.4, 0.4, 0.4), label="no depth")]
    room = SynthRoom(boxes=boxes, walls=[(np.array([0.0, 0, 1]), -6.0)])
    cap, _ = room.render()
    cap.depth[cap.seg == 4] = np.nan
    cap.seg[100:104, 150:154][cap.seg[100:104, 150:154] == 1] = 0            # a hole in a mask
    obs = perceive(cap)
    by_label = {o.label: o for o in obs.objects}
    tiny = by_label["tiny"]
    assert 0 < tiny.n_pixels < 100 and "tiny" in tiny.flags and "not_eroded" in tiny.flags
    assert tiny.box is not None and abs(tiny.box.centre[1] - 1.025) < 0.05
    assert by_label["cut"].truncated and "truncated" in by_label["cut"].flags
    assert "no_depth" in by_label["no depth"].flags and by_label["no depth"].box is None
    assert "mask_holes" in by_label["cabinet"].flags and by_label["cabinet"].box is not None
    assert len(obs.summary()["objects"]) == 4


def test_no_floor_visible_falls_back_and_guesses_floor():
    # Camera looking level at a wall, no floor surface: boxes stand on an unseen floor 1 m down.
    boxes = [SynthBox((0.0, -2.5), (1.0, 0.8, 0.6)), SynthBox((0.8, -3.0), (0.5, 1.0, 0.5))]
    room = SynthRoom(boxes=boxes, pitch_deg=0.0, cam_height=1.0, with_floor=False)
    cap, _ = room.render()
    obs = perceive(cap)
    assert obs.floor is None and "no_floor" in obs.flags and obs.walls == []
    assert np.allclose(obs.world_from_camera, WORLD_FROM_CAMERA_NO_FLOOR)
    assert "floor_guessed_from_objects" in obs.flags
    # No-floor frame: y_world = -y_cam, so the floor is 1 m below the camera (level camera).
    visible_bottom = -room.cam_height
    assert obs.floor_guess is not None and abs(obs.floor_guess.point[1] - visible_bottom) < 0.1


def test_labelled_floor_pixels_are_used():
    room = SynthRoom(boxes=FURNISHED[:2])
    cap, wfc = room.render(noise_rel=0.01)
    floor_mask = (cap.seg == 0) & (np.abs(apply(wfc, backproject(cap.depth, cap.K))[..., 1]) < 0.1)
    cap.seg[floor_mask] = 9
    cap.labels[9] = "floor"
    obs = perceive(cap)
    assert "floor_from_labels" in obs.flags
    assert all(o.label != "floor" for o in obs.objects)
    ang, dh = floor_errors(obs, wfc, room.cam_height)
    assert ang < 1.0 and dh < 0.02


def test_things_named_after_room_parts_stay_objects():
    # "floor lamp" once matched the room pattern: its pixels were taken as the floor (no floor
    # found) and the lamp vanished from the objects.
    room = SynthRoom(boxes=FURNISHED[:3])
    cap, wfc = room.render(noise_rel=0.01)
    ids = sorted(cap.labels)
    cap.labels[ids[0]], cap.labels[ids[1]] = "floor lamp", "Wall cabinet"
    floor_mask = (cap.seg == 0) & (np.abs(apply(wfc, backproject(cap.depth, cap.K))[..., 1]) < 0.1)
    cap.seg[floor_mask] = 9
    cap.labels[9] = "Floor 1"
    obs = perceive(cap)
    labels = {o.label for o in obs.objects}
    assert {"floor lamp", "Wall cabinet"} <= labels and "Floor 1" not in labels
    assert "floor_from_labels" in obs.flags
    ang, dh = floor_errors(obs, wfc, room.cam_height)
    assert ang < 1.0 and dh < 0.02


def test_deterministic_and_settings_recorded():
    room = SynthRoom(boxes=FURNISHED[:3])
    cap, _ = room.render(noise_rel=0.02, seed=4)
    a, b = perceive(cap), perceive(cap)
    assert np.array_equal(a.world_from_camera, b.world_from_camera)
    assert [o.box.to_json() for o in a.objects] == [o.box.to_json() for o in b.objects]
    assert a.settings == PerceptionSettings().to_json() and set(a.timings_s) >= {"room", "objects"}
    c = perceive(cap, dataclasses.replace(PerceptionSettings(), seed=7))
    assert np.allclose(a.world_from_camera, c.world_from_camera, atol=0.02)


def test_capture_folder_round_trip_and_missing_depth(tmp_path):
    room = SynthRoom(boxes=FURNISHED[:2])
    cap, wfc = room.render()
    write_capture(cap, tmp_path / "cap")
    loaded = load_capture(tmp_path / "cap")
    obs = perceive(loaded)
    assert floor_errors(obs, wfc, room.cam_height)[0] < 1.0
    cap.depth = None
    write_capture(cap, tmp_path / "nodepth")
    with pytest.raises(InputError, match="nodepth.*depth"):
        perceive(load_capture(tmp_path / "nodepth"))
    with pytest.raises(InputError, match="frame"):
        perceive(loaded, PerceptionSettings(frame="diagonal"))


class HalvedDepth:
    """A second DepthSource: the given depth at half scale (what a mis-scaled estimator gives)."""

    name = "halved"

    def depth(self, capture):
        return capture.depth * 0.5


def test_depth_source_interface_and_missing_seg():
    from scenewright.perception import DepthSource, GivenDepth
    room = SynthRoom(boxes=FURNISHED[:2])
    cap, wfc = room.render()
    assert isinstance(GivenDepth(), DepthSource) and isinstance(HalvedDepth(), DepthSource)
    obs = perceive(cap, depth_source=HalvedDepth())
    assert obs.depth_source == "halved"
    # Half the depth: same floor orientation, half the camera height.
    assert floor_errors(obs, wfc, room.cam_height / 2)[0] < 1.0
    assert abs(obs.camera_height - room.cam_height / 2) < 0.01
    cap.seg = None
    with pytest.raises(InputError, match="seg"):
        perceive(cap)


def test_focal_length_from_floor_and_walls_when_the_camera_is_default():
    room = SynthRoom(boxes=FURNISHED[:3], hfov_deg=62.0)
    cap, wfc = room.render()
    true_f = cap.K[0, 0]
    cap.K = intrinsics_from_hfov(cap.width, cap.height, 75.0)     # a wrong default guess
    cap.camera_is_default = True
    plain = perceive(cap)
    assert floor_errors(plain, wfc, room.cam_height)[1] > 0.05      # the wrong focal shows
    obs = perceive(cap, PerceptionSettings(estimate_focal=True))
    assert "focal_estimated" in obs.flags and obs.focal_estimated
    assert abs(obs.K[0, 0] - true_f) / true_f < 0.01
    ang, dh = floor_errors(obs, wfc, room.cam_height)
    assert ang < 1.0 and dh < 0.02
    # A given camera is never changed.
    cap.camera_is_default = False
    assert np.array_equal(perceive(cap, PerceptionSettings(estimate_focal=True)).K, cap.K)
