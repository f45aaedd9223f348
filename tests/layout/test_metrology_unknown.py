"""No depth: an object whose label names no category, seen resting on another object, is drawn
standing on that one's top at a small thing's size (``depth.unknown_rests_on_support``), not slid
down its column as a floor object — on a synthetic camera with known boxes (exact silhouettes)."""

from __future__ import annotations

import numpy as np

from scenewright.capture import Capture
from scenewright.methods.layout.depth_fit import DepthFitSettings, metrology_depth
from scenewright.perception.metrology import camera_up
from tests.perception.test_metrology import H, K, W, _box, _draw

PITCH, HEIGHT = 22.0, 1.5
CABINET, TABLE = np.array([0.9, 0.9, 0.5]), np.array([1.2, 0.75, 0.8])
THING = np.array([0.3, 0.25, 0.2])          # stands on the cabinet's top
SMALL = np.array([0.25, 0.25, 0.2])         # the size an unknown small thing is drawn at


def _capture_and_truth():
    seg = np.zeros((H, W), np.int32)
    _draw(seg, _box(PITCH, HEIGHT, 4.0, 0.6, TABLE), 2)
    cabinet = _box(PITCH, HEIGHT, 3.0, -0.5, CABINET)
    _draw(seg, cabinet, 1)
    up = camera_up(np.radians(PITCH))
    # the thing: its near bottom edge 0.1 m behind the cabinet's front, on its top
    thing = _box(PITCH, HEIGHT, 3.1, -0.5, THING) + CABINET[1] * up
    _draw(seg, thing, 3)
    capture = Capture(rgb=np.zeros((H, W, 3), np.uint8), K=K, seg=seg,
                      labels={1: "cabinet", 2: "table", 3: "gadget"})
    return capture, thing


def _sizes_for(ids):
    known = {1: (CABINET, False), 2: (TABLE, False), 3: (np.full(3, 0.8), None)}  # 3: label names no category
    return np.array([known[i][0] for i in ids]), [known[i][1] for i in ids]


def test_an_unknown_thing_resting_on_a_cabinet_is_drawn_on_its_top():
    capture, thing = _capture_and_truth()
    mask = capture.seg == 3
    true_depth = float(np.median(thing[:, 2]))
    on = metrology_depth(capture, _sizes_for, DepthFitSettings(unknown_rests_on_support=True), [],
                         small_size=SMALL)[0]
    off = metrology_depth(capture, _sizes_for, DepthFitSettings(unknown_rests_on_support=False), [],
                          small_size=SMALL)[0]
    # On the cabinet's top the drawn depth is the thing's own, to within the box model's depth
    # extent (0.2 m at 3 m) and the camera fit's few per cent.
    assert abs(np.nanmedian(on[mask]) / true_depth - 1) < 0.1
    # As a floor object its 0.8 m box meets the mask's top row far behind the cabinet.
    assert np.nanmedian(off[mask]) > 1.3 * true_depth


def test_an_unknown_thing_taller_than_what_is_below_it_stays_a_floor_object():
    # A tall unknown thing behind a low table (its bottom hidden by the table): not resting on it.
    seg = np.zeros((H, W), np.int32)
    _draw(seg, _box(PITCH, HEIGHT, 4.0, 0.0, np.array([0.8, 1.9, 0.6])), 3)
    _draw(seg, _box(PITCH, HEIGHT, 2.8, 0.0, np.array([1.6, 0.45, 0.8])), 1)
    _draw(seg, _box(PITCH, HEIGHT, 3.5, 1.5, TABLE), 2)
    capture = Capture(rgb=np.zeros((H, W, 3), np.uint8), K=K, seg=seg,
                      labels={1: "coffee table", 2: "table", 3: "gadget"})
    sizes = {1: (np.array([1.6, 0.45, 0.8]), False), 2: (TABLE, False), 3: (np.array([0.8, 1.9, 0.6]), None)}
    depth, _ = metrology_depth(capture, lambda ids: (np.array([sizes[i][0] for i in ids]),
                                                     [sizes[i][1] for i in ids]),
                               DepthFitSettings(unknown_rests_on_support=True), [], small_size=SMALL)
    # drawn at its own (floor-standing) size behind the table: about 4 m away, not on the table's top
    near_edge = 4.0 * np.cos(np.radians(PITCH))
    assert np.nanmedian(depth[seg == 3]) > 0.9 * near_edge
