"""Which depths of an object's mask are the object: the MAD band plus large runs past gaps."""

import numpy as np

from scenewright.perception.objects import robust_depth_inliers


def _bed_seen_from_its_foot(rng):
    # 74 % of pixels on the footboard (2.8–3.2 m), the mattress top receding behind a
    # 10 cm gap the footboard hides (3.3–4.5 m), the headboard further back (4.55–4.85 m).
    foot = np.clip(rng.normal(2.97, 0.05, 14800), 2.8, 3.18)
    top = rng.uniform(3.28, 4.5, 3800)
    head = rng.uniform(4.55, 4.85, 1400)
    return np.concatenate([foot, top, head])


def test_a_receding_object_keeps_its_far_part():
    z = _bed_seen_from_its_foot(np.random.default_rng(0))
    mad_only = robust_depth_inliers(z, 4.0, 0.15)
    assert z[mad_only].max() < 3.5                 # the plain MAD band cuts the bed at 3.2 m
    keep = robust_depth_inliers(z, 4.0, 0.15, max_gap=0.05)
    assert keep.all()


def test_small_runs_beyond_a_gap_are_outliers():
    rng = np.random.default_rng(1)
    obj = rng.normal(2.0, 0.05, 5000)
    leak = rng.uniform(3.5, 3.6, 100)              # wall seen through the mask's edge: 2 %
    flying = rng.uniform(2.6, 3.4, 8)               # mixed pixels, far apart from each other
    z = np.concatenate([obj, leak, flying])
    keep = robust_depth_inliers(z, 4.0, 0.15, max_gap=0.05)
    assert keep[:5000].mean() > 0.999
    assert not keep[5000:].any()


def test_large_runs_far_beyond_any_object_size_are_dropped():
    z = np.concatenate([np.full(1000, 2.0), np.full(600, 6.0)])    # 37 % but 4 m behind
    keep = robust_depth_inliers(z, 4.0, 0.15, max_gap=0.05, max_extent=2.5)
    assert keep[:1000].all() and not keep[1000:].any()


def test_empty_and_single_depth():
    assert robust_depth_inliers(np.zeros(0), 4.0, 0.15, max_gap=0.05).shape == (0,)
    assert robust_depth_inliers(np.array([2.0]), 4.0, 0.15, max_gap=0.05).all()
