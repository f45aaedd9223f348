"""Render-and-compare reuses a render it repeats exactly, and only then.

The renderer is deterministic, so a repeated render (same asset, placement, window and
camera) may come from the scorer's small cache: checked against fresh renders of a
renderer that never saw the hypothesis, on a real library asset.
"""

from __future__ import annotations

import numpy as np
import pytest

from scenewright.library.store import Library
from scenewright.methods.layout.pose import PoseSettings, RenderScorer, make_window
from scenewright.methods.layout.retrieval import Hypothesis, LibraryIndex

render = pytest.importorskip("scenewright.render")


def _setup(small_library):
    index = LibraryIndex(Library.open(small_library))
    K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    # camera 4 m in front of the origin, looking at it (OpenCV axes: y down, z forward)
    wfc = np.array([[1.0, 0, 0, 0], [0, -1, 0, 0.8], [0, 0, -1, 4.0], [0, 0, 0, 1]])
    mask = np.zeros((240, 320), bool)
    mask[60:200, 100:220] = True
    win = make_window(mask, K, 96)
    asset = str(index.ids[0])
    hyp = lambda yaw, x=0.0: Hypothesis(asset_id=asset, category="x", yaw=yaw, scale=np.ones(3),  # noqa: E731
                                        translation=np.array([x, 0.0, 0.0]))
    return index, wfc, win, hyp


def _equal(a, b) -> None:
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.instance_ids, b.instance_ids)
    np.testing.assert_array_equal(a.depth, b.depth)


def test_repeated_renders_equal_fresh_ones(small_library):
    index, wfc, win, hyp = _setup(small_library)
    with render.Renderer(96, 96) as renderer:
        scorer = RenderScorer(renderer, index, None, wfc, PoseSettings())
        scorer.recent_renders = 2
        first = scorer.render(hyp(0.3), win)
        assert first.mask.any()                                    # the asset is in view
        assert scorer.render(hyp(0.3), win) is first               # an exact repeat: reused
        other = scorer.render(hyp(0.3, x=0.05), win)               # another placement: rendered
        assert other is not first and not np.array_equal(other.depth, first.depth, equal_nan=True)
        scorer.render(hyp(1.2), win)                               # the first drops out (2 kept)
        again = scorer.render(hyp(0.3), win)
        assert again is not first
        fresh = RenderScorer(renderer, index, None, wfc, PoseSettings())
        for h, got in ((hyp(0.3), first), (hyp(0.3), again), (hyp(0.3, x=0.05), other)):
            _equal(got, fresh.render(h, win))
