"""Room priors for things whose own shape cannot tell their yaw (round plants, vases, lamps)."""

from __future__ import annotations

import numpy as np

from scenewright.geometry.boxes import OrientedBox
from scenewright.methods.layout.priors import room_yaw_for_radial
from scenewright.methods.layout.pose import PoseSettings, prefer_yaw
from scenewright.methods.layout.retrieval import Hypothesis


def _angle(a: float, b: float) -> float:
    return abs((a - b + np.pi) % (2 * np.pi) - np.pi)


def test_small_round_thing_turns_like_its_support():
    table = OrientedBox(centre=[1.0, 0.375, 2.0], size=[1.2, 0.75, 0.8], yaw=0.3)
    shelf = OrientedBox(centre=[-2.0, 0.5, 0.0], size=[0.8, 1.0, 0.4], yaw=1.2)
    supports = [(table, 0.3 + np.pi / 2), (shelf, 1.2)]
    yaw = room_yaw_for_radial("vase", np.array([1.2, 2.1]), 0.76, supports, [], np.zeros(2))
    assert _angle(yaw, 0.3 + np.pi / 2) < 1e-9
    # Nothing under it (or far above the table top): no prior.
    assert room_yaw_for_radial("vase", np.array([5.0, 5.0]), 0.76, supports, [], np.zeros(2)) is None
    assert room_yaw_for_radial("vase", np.array([1.2, 2.1]), 1.8, supports, [], np.zeros(2)) is None


def test_floor_round_thing_faces_the_largest_table_else_the_camera():
    tables = [(np.array([0.0, 3.0]), 0.5), (np.array([3.0, 0.0]), 1.5)]
    xz = np.array([0.0, 0.0])
    yaw = room_yaw_for_radial("large_plant", xz, 0.0, [], tables, np.array([0.0, -4.0]))
    front = np.array([np.sin(yaw), np.cos(yaw)])
    assert np.allclose(front, [1.0, 0.0], atol=1e-9)           # toward the big table at +x
    yaw = room_yaw_for_radial("floor_lamp", xz, 0.0, [], [], np.array([0.0, -4.0]))
    assert np.allclose([np.sin(yaw), np.cos(yaw)], [0.0, -1.0], atol=1e-9)
    # Things that are not round-and-free get no prior from here.
    assert room_yaw_for_radial("chair", xz, 0.0, [], tables, np.zeros(2)) is None


def test_prefer_yaw_without_renderer_takes_the_room_yaw():
    h = Hypothesis(asset_id="a", category="vase", yaw=2.0, scale=np.ones(3), translation=np.zeros(3), score=1.0)
    out = prefer_yaw([h], 0.5, obj=None, scorer=None, settings=PoseSettings())
    assert out[0].yaw == 0.5 and out[0].extra.get("room_yaw_prior") and out[1] is h


def test_border_cut_objects_lean_more_on_their_label():
    from types import SimpleNamespace

    from scenewright.methods.layout.pose import category_weight
    s = PoseSettings()
    assert category_weight(SimpleNamespace(truncated=True), s) == s.w_category_partial
    assert category_weight(SimpleNamespace(truncated=False), s) == s.w_category
    assert s.w_category_partial > s.w_category


def test_cut_end_shift_pins_the_visible_end():
    from scenewright.methods.layout.priors import cut_end_shift
    t = np.array([1.0, 0.0])
    # A 2.5 m bookcase of which 0.8 m (x in [1.0, 1.8]) is seen; its +x end is cut by the border.
    pts = np.column_stack([np.linspace(1.0, 1.8, 200), np.full(200, -2.0)])
    centre = np.array([1.4, -2.0])                      # ICP centred the asset on what it saw
    shift = cut_end_shift(pts, centre, t, 2.5, cut_plus=True, cut_minus=False)
    assert abs(centre[0] + shift - (1.0 + 1.25)) < 0.02   # visible -x end stays at 1.0
    shift = cut_end_shift(pts, centre, t, 2.5, cut_plus=False, cut_minus=True)
    assert abs(centre[0] + shift - (1.8 - 1.25)) < 0.02
    # Both ends (or neither) cut, or the whole length already seen: left alone.
    assert cut_end_shift(pts, centre, t, 2.5, True, True) == 0.0
    assert cut_end_shift(pts, centre, t, 2.5, False, False) == 0.0
    assert cut_end_shift(pts, centre, t, 0.8, True, False) == 0.0


def test_double_bed_label_rules_out_a_crib_whatever_the_box():
    from types import SimpleNamespace

    from scenewright.methods.layout.labels import label_min_footprint
    from scenewright.methods.layout.retrieval import LibraryIndex, RetrievalSettings, prefilter

    assert label_min_footprint("double bed") == (1.35, 1.9)
    assert label_min_footprint("King-size bed") == (1.8, 2.0)
    assert label_min_footprint("bed") is None
    assert label_min_footprint("double wardrobe") is None      # not a bed: no standard size
    # Catalog sizes (width, height, depth, m) of the library's crib, single and double beds.
    rec = lambda a, w, h, d: SimpleNamespace(asset_id=a, category="bed", width=w, height=h, depth=d)
    lib = SimpleNamespace(records=[rec("crib", 0.73, 1.11, 1.24), rec("single", 0.92, 0.87, 2.05),
                                   rec("double", 1.41, 0.95, 2.08)])
    index = LibraryIndex(lib)
    box = np.array([0.75, 1.0, 0.8])       # a heavily occluded bed: a crib-sized box
    s = RetrievalSettings()
    assert prefilter(index, "bed", box, True, s)[0][0] == "crib"
    assert [c[0] for c in prefilter(index, "bed", box, True, s, (1.35, 1.9))] == ["double"]
    # A stated size no asset meets leaves the candidates as they were (never none).
    assert len(prefilter(index, "bed", box, True, s, (3.0, 3.0))) == 3


def _fallback_scene(desk_depth: float | None):
    """A 64² picture, camera 1.3 m above the floor looking level: a desk (id 1) with depth
    ``desk_depth`` (None: no desk), a thing on it (id 2) without any depth."""
    from types import SimpleNamespace
    h = w = 64
    K = np.array([[60.0, 0, 32], [0, 60.0, 32], [0, 0, 1]])
    wfc = np.diag([1.0, -1.0, -1.0, 1.0])          # OpenCV camera (y down, z forward) in a y-up world
    wfc[1, 3] = 1.3
    seg = np.zeros((h, w), np.int32)
    depth = np.full((h, w), 6.0, np.float32)        # the room behind, 6 m off
    if desk_depth is not None:
        seg[44:56, 16:48] = 1
        depth[44:56, 16:48] = desk_depth
    seg[38:44, 28:36] = 2
    depth[seg == 2] = np.nan
    capture = SimpleNamespace(K=K, seg=seg, depth=depth)
    observation = SimpleNamespace(world_from_camera=wfc, depth=depth, floor=SimpleNamespace(point=np.zeros(3)))
    obj = SimpleNamespace(id=2, mask=seg == 2)
    return capture, observation, obj, wfc


def test_thing_without_depth_on_another_falls_back_to_that_ones_distance():
    from scenewright.methods.layout.priors import fallback_box
    capture, observation, obj, wfc = _fallback_scene(desk_depth=4.0)
    box, rests_on = fallback_box(obj, capture, observation)
    assert rests_on == 1
    camera_from_world = np.linalg.inv(wfc)
    z = (camera_from_world[:3, :3] @ box.centre + camera_from_world[:3, 3])[2]
    assert abs(z - 4.0) < 1e-6                      # where the desk is under it, not the floor behind
    # its bottom row's ray at 4 m: below the eye, above the floor
    assert 0.0 < box.centre[1] < 1.3


def test_thing_without_depth_over_the_room_stands_on_the_floor():
    from scenewright.methods.layout.priors import fallback_box
    capture, observation, obj, _ = _fallback_scene(desk_depth=None)
    box, rests_on = fallback_box(obj, capture, observation)
    assert rests_on is None
    assert abs(box.centre[1]) < 1e-6                # the bottom row's ray meets the floor
