"""Render-and-compare's silhouette terms on a hand-counted window: what another object hides.

A render's depth is NaN where nothing was drawn (the renderer's convention); another object's pixel
hides ours where its observed depth is unknown, where nothing was drawn, or where it is observed
more than 3 cm in front of the render — and a pixel outside the image counts for neither side.
"""

import numpy as np

from scenewright.methods.layout.pose import Observed, PoseSettings, compare

S = 12


def window():
    mask = np.zeros((S, S), bool)
    mask[2:8, 2:8] = True                      # the object: 36 pixels
    other = np.zeros((S, S), bool)
    other[2:8, 8:11] = True                    # another object beside it: 18 pixels
    depth = np.full((S, S), 2.0, np.float32)
    depth[2:4, 8:11] = 1.0                     # rows 2-3: observed in front of the render (2 m)
    depth[4:6, 8:11] = 3.0                     # rows 4-5: observed behind the render
    depth[6:8, 8:11] = np.nan                  # rows 6-7: depth unknown
    rgb = np.full((S, S, 3), 100.0, np.float32)
    return Observed(mask=mask, other=other, rgb=rgb, depth=depth, inside=np.ones((S, S), bool))


def render(cols: slice):
    ids = np.zeros((S, S), np.int32)
    ids[2:8, cols] = 1
    depth = np.where(ids > 0, 2.0, np.nan).astype(np.float32)
    rgb = np.zeros((S, S, 3), np.uint8)
    rgb[ids > 0] = 100
    return rgb, ids, depth


def test_pixels_of_another_object_count_only_where_it_does_not_hide_the_render():
    obs = window()
    # the render covers the mask and spills 3 columns onto the other object (rows 2-7, columns 2-10)
    rgb, ids, depth = render(slice(2, 11))
    r = compare(obs, rgb, ids, depth, PoseSettings())
    # spilled pixels: rows 2-3 hidden (observed in front), rows 6-7 hidden (unknown depth),
    # rows 4-5 visible (observed behind the render): 6 of the 18 count against the render
    assert r["iou"] == 36 / (36 + 6)
    assert r["colour"] == 1.0                  # the same colour inside the mask
    # 2 m rendered against 2 m observed inside the mask
    assert r["depth_residual"] == 0.0 and r["depth"] == 1.0


def test_nothing_drawn_over_another_object_is_not_counted():
    obs = window()
    rgb, ids, depth = render(slice(2, 8))      # exactly the mask
    r = compare(obs, rgb, ids, depth, PoseSettings())
    assert r["iou"] == 1.0


def test_outside_the_image_counts_for_neither_side():
    obs = window()
    obs.inside[:, 9:] = False                  # columns 9-11 lie outside the image
    rgb, ids, depth = render(slice(2, 11))
    r = compare(obs, rgb, ids, depth, PoseSettings())
    # of the visible spill (rows 4-5, columns 8-10) only column 8 is inside the image
    assert r["iou"] == 36 / (36 + 2)


def test_the_known_depth_mask_follows_a_replaced_depth():
    obs = window()
    first = obs.seen_depth.copy()
    obs.depth = np.full((S, S), np.nan, np.float32)
    assert first.sum() == S * S - 6 and not obs.seen_depth.any()


def test_the_comparison_median_is_numpys_to_the_bit():
    # odd and even counts, ties, both precisions: the depth terms must not move by a rounding
    from scenewright.methods.layout.pose import _median_of_finite
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 7, 8, 255, 256, 1001, 1002):
        for dtype in (np.float32, np.float64):
            signed_zeros = np.where(np.arange(n) % 2 == 0, -0.0, 0.0)
            for values in (rng.normal(0.0, 0.05, n), np.round(rng.normal(0.0, 1.0, n), 1), signed_zeros,
                           np.where(np.arange(n) < n // 2, -1.0, 1.0) * (np.arange(n) != n // 2)):
                values = values.astype(dtype)
                expected, got = np.median(values), _median_of_finite(values)
                assert got == expected and got.dtype == expected.dtype, (n, dtype)
                assert np.signbit(got) == np.signbit(expected), (n, dtype)      # -0.0 is written as such
