"""No-depth placement on the solved floor (:mod:`scenewright.methods.layout.floor_pose`): boxes of
known size seen by cameras of known pitch and height, masks drawn from their surfaces."""

from __future__ import annotations

import numpy as np
import pytest

from scenewright.methods.layout.floor_pose import (Footprint, candidate_yaws, floor_point, footprint_of,
                                                   place_on_floor, scene_scale, world_room_yaw, FloorPoseSettings)
from scenewright.methods.layout.retrieval import Hypothesis, placement_matrix
from scenewright.perception.metrology import footings
from tests.layout.test_depth_none import bench384  # noqa: F401  (fixture)
from tests.layout.test_pipeline import library, library_dir  # noqa: F401  (fixtures)

W = H = 512
K = np.array([[400.0, 0.0, 256.0], [0.0, 400.0, 256.0], [0.0, 0.0, 1.0]])


def camera(pitch_deg: float, height_m: float, yaw_deg: float = 0.0) -> np.ndarray:
    """world_from_camera (OpenCV camera axes) at (0, height, 0), looking along world +z turned
    ``yaw_deg`` about up, pitched ``pitch_deg`` down."""
    p, y = np.radians(pitch_deg), np.radians(yaw_deg)
    # camera axes in the world for yaw 0: x right = -world x (right-handed, y up, looking +z)
    fwd = np.array([0.0, -np.sin(p), np.cos(p)])
    down = np.array([0.0, -np.cos(p), -np.sin(p)])
    right = np.cross(down, fwd)
    R = np.stack([right, down, fwd], axis=1)
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    m = np.eye(4)
    m[:3, :3] = Ry @ R
    m[:3, 3] = [0.0, height_m, 0.0]
    return m


def box_points(size, n: int = 60) -> np.ndarray:
    """Dense samples of a box's surface, its frame's origin at the bottom's centre (y up)."""
    w, h, d = size
    g = np.linspace(0.0, 1.0, n)
    a, b = np.meshgrid(g, g)
    a, b = a.ravel(), b.ravel()
    faces = []
    for fixed in (0.0, 1.0):
        faces.append(np.stack([np.full_like(a, fixed), a, b], 1))
        faces.append(np.stack([a, np.full_like(a, fixed), b], 1))
        faces.append(np.stack([a, b, np.full_like(a, fixed)], 1))
    unit = np.concatenate(faces)
    return (unit - [0.5, 0.0, 0.5]) * np.asarray(size, float)


def draw_mask(points_world: np.ndarray, wfc: np.ndarray, seg_id: int = 1) -> np.ndarray:
    """(H, W) int seg: pixels hit by the projected samples, holes closed (a solid box's mask)."""
    from scipy.ndimage import binary_closing, binary_fill_holes
    cfw = np.linalg.inv(wfc)
    p = points_world @ cfw[:3, :3].T + cfw[:3, 3]
    u = K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2]
    v = K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H) & (p[:, 2] > 0)
    m = np.zeros((H, W), bool)
    m[v[inside].astype(int), u[inside].astype(int)] = True
    pad = 4       # closing reaches past the border: a mask cut by the frame stays cut at the frame
    m = binary_fill_holes(binary_closing(np.pad(m, pad, mode="edge"), iterations=2))[pad:-pad, pad:-pad]
    return m.astype(np.int32) * seg_id


@pytest.mark.parametrize("pitch,height,yaw_deg,where", [
    (15.0, 1.4, 0.0, (0.3, 3.0)), (25.0, 1.6, 30.0, (-0.8, 4.0)), (10.0, 1.2, 0.0, (1.0, 2.2))])
def test_box_of_known_size_at_known_distance_comes_back_within_2_percent(pitch, height, yaw_deg, where):
    wfc = camera(pitch, height)
    size = (0.9, 0.75, 0.6)
    pts = box_points(size)
    yaw = np.radians(yaw_deg)
    truth = np.array([where[0], 0.0, where[1]])
    world = pts @ placement_matrix(yaw, np.ones(3), truth)[:3, :3].T + truth
    seg = draw_mask(world, wfc)
    f = footings(seg, [1])[1]
    assert f.bottom_ok and f.top_ok
    start = truth[[0, 2]] + np.array([0.7, -0.8])      # a metre off
    t = place_on_floor(pts, yaw, np.ones(3), footprint_of(f, W), K, wfc, 0.0, start)
    assert t is not None
    cam = wfc[:3, 3]
    dist_true = np.linalg.norm(truth - cam)
    # The mask is whole pixels: its extreme rows/columns are within a pixel of the projection,
    # which at this focal length and distance is ≤ 1 % of the distance; 2 % leaves room for both ends.
    assert abs(np.linalg.norm(t - cam) / dist_true - 1) < 0.02
    assert np.linalg.norm(t - truth) < 0.02 * dist_true
    assert t[1] == 0.0


def test_wrong_camera_height_shows_as_the_scale_that_fits():
    """Placed from a camera solved 20 % too high, the box fits its mask only scaled 1.2×: the
    placement at that scale lands where the true one does, times 1.2."""
    truth_cam, wrong_cam = camera(18.0, 1.5), camera(18.0, 1.8)
    size = (1.0, 0.8, 0.5)
    pts = box_points(size)
    truth = np.array([0.2, 0.0, 3.0])
    seg = draw_mask(pts + truth, truth_cam)
    fp = footprint_of(footings(seg, [1])[1], W)
    t_true = place_on_floor(pts, 0.0, np.ones(3), fp, K, truth_cam, 0.0, np.array([0.0, 2.0]))
    t_big = place_on_floor(pts, 0.0, np.full(3, 1.2), fp, K, wrong_cam, 0.0, np.array([0.0, 2.0]))
    assert np.linalg.norm(t_true - truth) < 0.05
    assert np.linalg.norm(t_big - 1.2 * truth) < 0.06


def test_no_row_known_gives_no_placement():
    wfc = camera(15.0, 1.4)
    fp = Footprint(v_bottom=None, v_top=None, u_left=100.0, u_right=200.0)
    assert place_on_floor(box_points((1, 1, 1), 10), 0.0, np.ones(3), fp, K, wfc, 0.0, np.zeros(2)) is None


def test_floor_point_and_room_yaw():
    wfc = camera(20.0, 1.5, yaw_deg=0.0)
    p = floor_point(256.0, 400.0, K, wfc, 0.0)
    assert abs(p[1]) < 1e-9 and p[2] > 0
    assert floor_point(256.0, 100.0, K, wfc, 0.0) is None            # above the horizon
    # The room axis along the camera's horizontal forward (ψ = 90°) is the world's +z (yaw 0).
    assert abs(world_room_yaw(np.pi / 2, wfc)) < 1e-9
    turned = camera(20.0, 1.5, yaw_deg=30.0)
    assert abs(np.degrees(world_room_yaw(np.pi / 2, turned)) - 30.0) < 1e-6
    yaws = candidate_yaws(0.1, FloorPoseSettings(axis_yaws=4, free_yaws=0))
    assert len(yaws) == 4 and np.allclose(np.diff(np.sort(yaws)), np.pi / 2)
    assert len(candidate_yaws(None, FloorPoseSettings())) == 8


def test_scene_scale_is_where_the_summed_curves_peak():
    grid = FloorPoseSettings().scales

    def h(peak, height=1.0):
        x = Hypothesis(asset_id="a", category="chair", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        # a score falling off quadratically in log scale around ``peak``
        x.extra["scale_curve"] = {g: height - (np.log(g / peak)) ** 2 for g in grid}
        return x
    # Two objects peaking at 1.15 and 1.25 (equal curvature): together at their geometric mean,
    # exactly, since a parabola in log scale is what the vertex fit assumes.
    assert scene_scale([h(1.15), h(1.25), None], FloorPoseSettings()) == pytest.approx(np.sqrt(1.15 * 1.25))
    # One object's curve alone corrects nothing by default (too bumpy to trust); allowed, it is read alike.
    assert scene_scale([h(0.85)], FloorPoseSettings()) is None
    assert scene_scale([h(0.85)], FloorPoseSettings(rescale_min_objects=1)) == pytest.approx(0.85)
    assert scene_scale([None], FloorPoseSettings(rescale_min_objects=1)) is None


def _floor_errors(scene_dir, gt_dir):
    """Per floor object of the ground truth: distance (m) between its predicted and true position,
    the prediction brought into the true frame through the two cameras (the evaluator's alignment)."""
    import json
    pred = json.loads((scene_dir / "scene.json").read_text())
    gt = json.loads((gt_dir / "scene.json").read_text())
    to_gt = (np.asarray(gt["camera"]["world_from_camera"], float)
             @ np.linalg.inv(np.asarray(pred["camera"]["world_from_camera"], float)))
    placed = {i["id"]: to_gt @ np.asarray(i["world_from_object"], float) for i in pred["instances"]}
    out = []
    for g in gt["instances"]:
        t = np.asarray(g["world_from_object"], float)[:3, 3]
        if abs(t[1]) < 1e-3 and g["id"] in placed:
            out.append(float(np.linalg.norm(placed[g["id"]][:3, 3] - t)))
    return out


def test_no_depth_floor_pose_places_floor_objects_better_than_the_box_depth(bench384, library, tmp_path):  # noqa: F811
    """End to end on generated rooms with the depth removed: with floor_pose (the default) the
    floor objects land nearer their true places than with the pose stage run on the drawn box
    depth, and the camera's height (the scene's one scale) is recorded after the correction."""
    from scenewright.bench.degrade import degrade_bench
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.run import run_to_folder
    manifest = degrade_bench(bench384, tmp_path / "b", "none", seed=0)
    errors = {True: [], False: []}
    for name in manifest["scenes"][:2]:
        for on in (True, False):
            s = LayoutSettings()
            s.floor_pose.enabled = on
            out = tmp_path / f"{name}_{on}"
            scene = run_to_folder(tmp_path / "b" / name / "capture", out, "layout", s, Resources(library=library),
                                  preview=False)
            assert scene.extra["depth"]["used_as"] == "none"
            assert scene.method["settings"]["floor_pose"]["enabled"] is on
            errors[on] += _floor_errors(out, bench384 / name / "gt")
    assert errors[True] and len(errors[True]) == len(errors[False])
    assert float(np.median(errors[True])) < float(np.median(errors[False]))



def test_a_thing_on_a_counter_below_a_back_panel_stands_on_the_counter():
    """A vanity: a counter at 0.80 m with a panel at its back up to 1.00 m. A thing whose contact
    pixel is on the counter stands at 0.80 (not the support's top), one on the panel's top at 1.00,
    and a pixel whose ray meets neither surface gives no level."""
    from scenewright.methods.layout.floor_pose import project, support_level
    from scenewright.geometry.transforms import rigid_inverse
    wfc = camera(20.0, 1.5)
    at = np.array([0.2, 0.0, 3.5])
    counter = box_points((0.9, 0.8, 0.6)) + at
    panel = box_points((0.9, 0.2, 0.1)) + at + np.array([0.0, 0.8, 0.25])
    support = np.concatenate([counter, panel])
    cfw = rigid_inverse(wfc)
    for contact, level in (((0.3, 0.8, 3.4), 0.8), ((0.0, 1.0, 3.75), 1.0)):
        u, v = project(np.array([contact]), K, cfw)
        got = support_level(support, float(u[0]), float(v[0]), K, wfc)
        assert got is not None and abs(got - level) < 0.02 + 1e-9      # one height band
    u, v = project(np.array([[2.5, 0.8, 3.4]]), K, cfw)                 # 2 m to the side of it
    assert support_level(support, float(u[0]), float(v[0]), K, wfc) is None


@pytest.mark.parametrize("pitch,height,yaw_deg,where,size", [
    (20.0, 1.5, 30.0, (2.0, 2.5), (0.9, 1.8, 0.4)),       # a bookcase cut by the left border
    (15.0, 1.4, -35.0, (-1.9, 2.8), (1.0, 0.8, 0.5)),     # a cabinet cut by the right border
    (25.0, 1.6, 20.0, (1.6, 2.2), (0.8, 1.9, 0.35))])
def test_a_box_cut_by_the_side_border_is_placed_by_the_rows_seen_inside_the_frame(pitch, height, yaw_deg, where,
                                                                                  size):
    """Its near corner is beyond the border, lower in the image than anything the mask shows: the
    whole projection's lowest row put on the mask's puts the box too far; the rows of the samples
    inside the frame bring it back within 2 % of its distance."""
    wfc = camera(pitch, height)
    pts = box_points(size)
    yaw = np.radians(yaw_deg)
    truth = np.array([where[0], 0.0, where[1]])
    world = pts @ placement_matrix(yaw, np.ones(3), truth)[:3, :3].T + truth
    f = footings(draw_mask(world, wfc), [1])[1]
    fp = footprint_of(f, W)
    assert f.bottom_ok and ((fp.u_left is None) != (fp.u_right is None))
    start = truth[[0, 2]] + np.array([0.5, -0.6])
    whole = place_on_floor(pts, yaw, np.ones(3), fp, K, wfc, 0.0, start)
    inside = place_on_floor(pts, yaw, np.ones(3), fp, K, wfc, 0.0, start, frame_width=W)
    distance = np.linalg.norm(truth - wfc[:3, 3])
    assert np.linalg.norm(inside - truth) < 0.02 * distance
    assert np.linalg.norm(whole - truth) > np.linalg.norm(inside - truth)


def test_a_chair_turns_to_its_table_only_when_that_costs_little():
    """Best placement's front points away from the table (at +z): the same asset's placement
    facing it wins when its score is within the margin of the best's before its slides, not beyond;
    another asset facing the table never replaces it."""
    from scenewright.methods.layout.floor_pose import _trial, prefer_floor_facing
    base = Hypothesis(asset_id="a/chair", category="chair", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
    other = Hypothesis(asset_id="b/chair", category="chair", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))

    def cos(yaw, t):                       # the table is at +z of the chair: front(yaw) = (sin, cos)
        return float(np.cos(yaw))

    def hyps(facing_score):
        away = _trial(base, np.pi, np.zeros(3))
        away.score, away.extra["placed_score"] = 3.2, 3.0       # slides raised it from 3.0
        toward = _trial(base, 0.0, np.array([0.0, 0.0, 0.05]))
        toward.score = facing_score
        rival = _trial(other, 0.0, np.zeros(3))
        rival.score = 2.95
        side = _trial(base, np.pi / 2, np.zeros(3))
        side.score = 2.99
        return [away, rival, side, toward]

    out = hyps(2.8)
    turned = prefer_floor_facing(out, cos, 0.3)
    assert turned[0] is out[3] and len(turned) == 4 and turned[0].extra["turned_to_face"]
    out = hyps(2.6)
    assert prefer_floor_facing(out, cos, 0.3)[0] is out[0]


def test_a_hidden_side_is_dropped_unless_it_is_the_only_side_left():
    from scenewright.perception.metrology import Footing
    f = Footing(id=1, u=100.0, v_bottom=300.0, v_top=200.0, u_left=40.0, u_right=200.0, bottom_ok=True, top_ok=True,
                sides_ok=False, right_hidden=True)
    fp = footprint_of(f, W)
    assert fp.u_left == 40.0 and fp.u_right is None
    f.u_left = 0.0                                     # the left side cut by the frame: the hidden one stays
    fp = footprint_of(f, W)
    assert fp.u_left is None and fp.u_right == 200.0


def test_a_silhouette_placement_turned_to_the_rooms_yaw_is_still_one():
    """A thing placed by its silhouette on its support (``floor_pose``) and then turned (a round
    thing taking the room's yaw, a chair its table's) keeps the mark, so the pipeline does not
    nudge it along its ray by a depth residual (against drawn boxes without depth). A pose
    from depth stays unmarked."""
    from scenewright.methods.layout.pose import PoseSettings, prefer_yaw

    def hyp(**extra):
        h = Hypothesis(asset_id="bottle", category="tableware", yaw=0.3, scale=np.ones(3),
                       translation=np.array([0.25, 0.75, -1.69]), score=2.0)
        h.extra.update(extra)
        return h

    turned = prefer_yaw([hyp(floor_pose=True)], 1.2, None, None, PoseSettings())
    assert turned[0].yaw == pytest.approx(1.2) and turned[0].extra.get("room_yaw_prior")
    assert turned[0].extra.get("floor_pose") is True
    assert np.array_equal(turned[0].translation, [0.25, 0.75, -1.69])
    assert not prefer_yaw([hyp()], 1.2, None, None, PoseSettings())[0].extra.get("floor_pose")


def test_the_scene_scale_grid_is_fine_enough_for_uneven_curves():
    """Scores that fall off unevenly on the two sides of the true scale (each scale's best may be
    another asset or turn) put the three-point vertex of the summed curves off the peak by up to a
    grid step's share: on the 3 % grid (``FINE_SCALES``) within 2 % everywhere in 0.8–1.25, where the
    default 10 % grid was off by 4 % on average."""
    from scenewright.methods.layout.floor_pose import FINE_SCALES
    coarse = FloorPoseSettings()
    fine = FloorPoseSettings(scales=FINE_SCALES)
    assert 1.0 in fine.scales and max(np.diff(np.log(fine.scales))) < 0.031

    def h(peak, grid):
        x = Hypothesis(asset_id="a", category="chair", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        x.extra["scale_curve"] = {g: 3.0 - (1.0 if g < peak else 4.0) * abs(np.log(g / peak)) for g in grid}
        return x
    errors = {"coarse": [], "fine": []}
    for peak in np.exp(np.linspace(np.log(0.8), np.log(1.25), 19)):
        for name, s in (("coarse", coarse), ("fine", fine)):
            k = scene_scale([h(peak, s.scales), h(peak, s.scales)], s)
            errors[name].append(abs(np.log(k / peak)))
    assert max(errors["fine"]) < 0.02
    assert np.mean(errors["coarse"]) > 0.04 > 2 * np.mean(errors["fine"])
