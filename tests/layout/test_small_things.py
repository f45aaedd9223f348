"""Small things in render-and-compare (real library assets, the real renderer).

- ``centre_small``: a yaw trial whose ICP translation is a few centimetres off is moved
  sideways onto the mask before it is compared;
- ``catalog_size_small``: a trial shrunk by a box of few points is rendered at catalog size too;
- ``nudge_trials``: the best trials are also tried moved along their ray by their depth residual,
  so a right turn placed a few centimetres too far is not beaten by a wrong turn placed right;
- ``local_yaw_leaders_small``: the local yaw step turns the best trials of different yaws.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from scenewright.methods.layout.pose import PoseSettings, RenderScorer, _distinct_yaw_leaders, refine_pose
from scenewright.methods.layout.retrieval import Hypothesis, placement_matrix

from .conftest import floor_capture

LAMP = "BlendSwap-CC-0/desklamp"


def _lamp_scene(index):
    true_yaw, t = 0.6, np.array([0.0, 0.0, -1.6])
    capture, wfc = floor_capture(index, [(LAMP, placement_matrix(true_yaw, np.ones(3), t), 1)],
                                 eye=(0.0, 1.0, 0.0), target=(0.0, 0.2, -1.6))
    obj = SimpleNamespace(id=1, mask=capture.seg == 1, truncated=False)
    assert obj.mask.sum() > 100
    return capture, wfc, obj, true_yaw, t


def _hypothesis(yaw, scale, t):
    h = Hypothesis(asset_id=LAMP, category="lamp", yaw=yaw, scale=np.full(3, scale),
                   translation=np.asarray(t, float), prior=1.0, score=1.0)
    h.extra["yaws"] = [(float(yaw), np.full(3, scale), np.asarray(t, float), 0.01)]
    return h


def test_a_trial_off_sideways_is_moved_onto_the_mask(index, window_renderer):
    capture, wfc, obj, true_yaw, t = _lamp_scene(index)
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings())
    across = wfc[:3, 0] / np.linalg.norm(wfc[:3, 0])
    off = _hypothesis(true_yaw, 1.0, t + 0.06 * across)
    moved = scorer.centred_on_mask(obj, [off])[0]
    assert moved.extra.get("centred")
    # Sideways error: 6 cm before; the centroid step brings it within a centimetre (a pixel of
    # the 160² capture is ~1.3 cm at 1.6 m here, and the silhouette's centroid moves with it).
    assert abs(float((moved.translation - t) @ across)) < 0.015
    # Nothing moves a trial that already sits on the mask.
    assert not scorer.centred_on_mask(obj, [_hypothesis(true_yaw, 1.0, t)])[0].extra.get("centred")


def test_a_shrunk_small_trial_is_rendered_at_catalog_size_too(index, window_renderer):
    capture, wfc, obj, true_yaw, t = _lamp_scene(index)
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings())
    settings = PoseSettings(local_yaw_deg=0.0, nudge_trials=0)
    out = refine_pose(obj, [_hypothesis(true_yaw, 0.75, t)], scorer, settings, small=True)
    scales = sorted(float(h.scale[0]) for h in out)
    assert len(out) == 2 and math.isclose(scales[0], 0.75) and math.isclose(scales[1], 1.0)
    # The picture shows the catalog size: it wins.
    assert math.isclose(float(out[0].scale[0]), 1.0)
    assert out[0].extra["render"]["iou"] > out[1].extra["render"]["iou"]
    # Off, or for a thing that is not small, only the fitted scale is rendered.
    assert len(refine_pose(obj, [_hypothesis(true_yaw, 0.75, t)], scorer,
                           PoseSettings(local_yaw_deg=0.0, catalog_size_small=0, nudge_trials=0),
                           small=True)) == 1
    assert len(refine_pose(obj, [_hypothesis(true_yaw, 0.75, t)], scorer, settings, small=False)) == 1


def test_a_stand_in_is_neither_centred_nor_tried_at_catalog_size(index, window_renderer):
    capture, wfc, obj, true_yaw, t = _lamp_scene(index)
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings())
    across = wfc[:3, 0] / np.linalg.norm(wfc[:3, 0])
    stand_in = _hypothesis(true_yaw, 0.75, t + 0.06 * across)
    stand_in.extra["shape_only"] = True
    assert scorer.centred_on_mask(obj, [stand_in])[0] is stand_in
    out = refine_pose(obj, [stand_in], scorer, PoseSettings(local_yaw_deg=0.0), small=True)
    assert len(out) == 1 and math.isclose(float(out[0].scale[0]), 0.75)


def test_a_centring_move_is_at_most_half_the_things_width(index, window_renderer):
    capture, wfc, obj, true_yaw, t = _lamp_scene(index)
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings())
    across = wfc[:3, 0] / np.linalg.norm(wfc[:3, 0])
    w, _, d = index.sizes[index.row[LAMP]]
    far = _hypothesis(true_yaw, 1.0, t + 0.6 * min(w, d) * across)   # still overlapping its mask
    moved = scorer.centred_on_mask(obj, [far])[0]
    step = float(np.linalg.norm(moved.translation - far.translation))
    assert moved.extra.get("centred") and step <= 0.5 * min(w, d) + 1e-9
    # … and it went back towards the truth
    assert abs(float((moved.translation - t) @ across)) < abs(float((far.translation - t) @ across))


def _two_turns(index, away_m: float):
    """The lamp scene with two trials: the right turn placed ``away_m`` too far along its viewing ray,
    and a turn 90° off placed right."""
    capture, wfc, obj, true_yaw, t = _lamp_scene(index)
    ray = t - wfc[:3, 3]
    ray[1] = 0.0
    ray /= np.linalg.norm(ray)
    far = _hypothesis(true_yaw, 1.0, t + away_m * ray)
    wrong = _hypothesis(true_yaw + math.pi / 2, 1.0, t)
    far.extra["yaws"] += wrong.extra["yaws"]
    return capture, wfc, obj, true_yaw, t, ray, far


def test_a_right_turn_placed_too_far_is_also_tried_nudged_along_its_ray(index, window_renderer):
    capture, wfc, obj, true_yaw, t, ray, far = _two_turns(index, 0.05)
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings())
    plain = dict(local_yaw_deg=0.0, catalog_size_small=0, centre_small=False)
    before = refine_pose(obj, [far], scorer, PoseSettings(nudge_trials=0, **plain), small=True)
    assert len(before) == 2 and not any(h.extra.get("nudged") for h in before)
    after = refine_pose(obj, [far], scorer, PoseSettings(nudge_trials=8, **plain), small=True)
    nudged = [h for h in after if h.extra.get("nudged") and math.isclose(h.yaw, true_yaw)]
    assert len(nudged) == 1
    # 5 cm along the ray before (within half the lamp's width, where a residual is believed); the
    # median residual over the lamp's pixels (its far parts included) takes it most of the way
    # back: within 2 cm (a pixel is ~1.3 cm here), and its render scores better for it
    assert abs(float((nudged[0].translation - t) @ ray)) < 0.02
    unmoved = [h for h in before if math.isclose(h.yaw, true_yaw)][0]
    assert nudged[0].extra["render"]["render"] > unmoved.extra["render"]["render"] + 0.3
    # Only small or round things, and not border-cut ones, are nudged.
    assert not any(h.extra.get("nudged") for h in
                   refine_pose(obj, [far], scorer, PoseSettings(nudge_trials=8, **plain), small=False))


def test_the_local_yaw_leaders_are_the_best_trials_of_different_yaws():
    def trial(yaw_deg):
        return _hypothesis(math.radians(yaw_deg), 1.0, np.zeros(3))
    trials = [trial(y) for y in (-37.0, -33.0, 5.0, -12.0, 35.0, 38.0)]      # best first
    leaders = _distinct_yaw_leaders(trials, 3, math.radians(6.0))
    # -33 lies within 6° of the better -37, so the next distinct ones are 5 and -12
    assert [round(math.degrees(h.yaw)) for h in leaders] == [-37, 5, -12]
    # the angle wraps: 359° is 2° from 1°
    assert len(_distinct_yaw_leaders([trial(1.0), trial(359.0)], 2, math.radians(6.0))) == 1
    assert _distinct_yaw_leaders(trials, 1, math.radians(6.0)) == [trials[0]]
