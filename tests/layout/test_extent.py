"""Objects the library does not hold, and objects cut by the frame.

- ``extent_scales``: the nearest asset scaled to the observed box in its own axes, within
  the category's proportions; partial views only grow it.
- render-and-compare ignores what projects outside the image (real renderer, real asset);
- a partial object's placement through a wall costs score (the room decides);
- end to end (real library, renderer, perception): a table stretched beyond every
  library table comes out near its true width, and narrower without the extent fit.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from scenewright.geometry.transforms import look_at
from scenewright.methods.layout.extent import category_proportions, extent_scales
from scenewright.methods.layout.pose import PoseSettings, RenderScorer, make_window, observe, room_penetration
from scenewright.methods.layout.retrieval import Hypothesis, placement_matrix

from .conftest import floor_capture

TABLE = "BlendSwap-CC-0/oakTable"


def test_extent_scales_follow_the_box_in_the_assets_axes():
    extent = np.array([1.2, 0.75, 0.6])
    within, box = extent_scales(extent, 0.0, np.array([1.8, 0.75, 0.72]), False, None)
    assert np.allclose(within, [1.5, 1.0, 1.2]) and np.allclose(box, within)
    # turned 90° against the box: the asset's width lies along the box's z
    turned, _ = extent_scales(extent, math.pi / 2, np.array([0.72, 0.75, 1.8]), False, None)
    assert np.allclose(turned, [1.5, 1.0, 1.2])
    # diagonal: one footprint scale from the area ratio (both sides alike)
    diag, _ = extent_scales(extent, math.pi / 4, np.array([1.0, 0.75, 1.0]), False, None)
    assert diag[0] == pytest.approx(diag[2]) and diag[1] == pytest.approx(1.0)


def test_partial_views_only_grow_and_proportions_stay_in_the_category():
    extent = np.array([1.2, 0.75, 0.6])
    grown, _ = extent_scales(extent, 0.0, np.array([0.6, 0.75, 0.9]), True, None)
    assert np.allclose(grown, [1.0, 1.0, 1.5])        # a cut box never says "smaller"
    # cut at a side but seen from the floor to an unhidden top: its height says "lower" too
    low, _ = extent_scales(extent, 0.0, np.array([0.6, 0.5, 0.9]), True, None, height_seen=True)
    assert np.allclose(low, [1.0, 0.5 / 0.75, 1.5])
    sizes = np.array([[1.2, 0.75, 0.6], [1.6, 0.75, 0.8]])
    lo, hi = category_proportions(sizes)
    within, box = extent_scales(extent, 0.0, np.array([2.4, 0.75, 0.6]), False, (lo, hi), bounds=(0.5, 3.0))
    assert np.allclose(box, [2.0, 1.0, 1.0])           # the box's own proportions: 3.2 : 1
    w, h = extent[0] * within[0], extent[1] * within[1]
    assert math.log(w / h) == pytest.approx(hi[0])     # clipped to the widest the category allows
    assert within[0] < box[0]


def test_room_penetration_measures_the_deepest_corner_behind_a_wall():
    wall = SimpleNamespace(point=np.array([0.0, 0.0, -2.0]), normal=np.array([0.0, 0.0, 1.0]))
    h = Hypothesis(asset_id="a", category="table", yaw=0.0, scale=np.ones(3), translation=np.array([0.0, 0, -1.8]))
    lo, hi = np.array([-0.5, 0.0, -0.4]), np.array([0.5, 0.7, 0.4])
    assert room_penetration(h, lo, hi, [wall]) == pytest.approx(0.2)
    h.yaw = math.pi / 2                                 # turned: its 1 m side now runs across z
    assert room_penetration(h, lo, hi, [wall]) == pytest.approx(0.3)
    h.translation = np.array([0.0, 0.0, 0.0])
    assert room_penetration(h, lo, hi, [wall]) == 0.0


def _capture(index, items, **view):
    return floor_capture(index, items, label="table", **view)


def test_pixels_outside_the_image_neither_help_nor_hurt(index, window_renderer):
    # A table to the right, cut by the image's right border.
    x0, w = 1.25, float(index.sizes[index.row[TABLE]][0])
    capture, wfc = _capture(index, [(TABLE, placement_matrix(0.0, np.ones(3), np.array([x0, 0.0, -1.9])), 1)])
    mask = capture.seg == 1
    assert mask[:, -1].any() and mask.sum() > 200         # the premise: cut by the border
    win = make_window(mask, capture.K, PoseSettings().render_size)
    assert not observe(capture, 1, mask, win).inside.all()  # the window reaches past the border
    obj = SimpleNamespace(id=1, mask=mask, truncated=True)
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings())

    def placed(shift):
        return Hypothesis(asset_id=TABLE, category="table", yaw=0.0, scale=np.ones(3),
                          translation=np.array([x0 + shift, 0.0, -1.9]))
    true, outward, inward = scorer.score(obj, [placed(0.0), placed(0.25 * w), placed(-0.25 * w)])
    # The true pose fits what is inside although a part of it projects outside the image and
    # outside the window; shifted either way along the cut, what projects inside no longer fits.
    assert true["iou"] > 0.9
    assert outward["iou"] < true["iou"] - 0.15 and inward["iou"] < true["iou"] - 0.15


def test_a_partial_placement_through_a_wall_costs_score(index, window_renderer):
    pose = placement_matrix(0.0, np.ones(3), np.array([1.25, 0.0, -1.9]))
    capture, wfc = _capture(index, [(TABLE, pose, 1)])
    obj = SimpleNamespace(id=1, mask=capture.seg == 1, truncated=True)
    wall = SimpleNamespace(point=np.array([1.4, 0.0, 0.0]), normal=np.array([-1.0, 0.0, 0.0]))
    scorer = RenderScorer(window_renderer, index, capture, wfc, PoseSettings(), walls=[wall])
    inside = Hypothesis(asset_id=TABLE, category="table", yaw=0.0, scale=np.ones(3),
                        translation=np.array([0.6, 0.0, -1.9]))
    through = Hypothesis(asset_id=TABLE, category="table", yaw=0.0, scale=np.ones(3),
                         translation=np.array([1.25, 0.0, -1.9]))
    pen, cost = scorer.room_cost(obj, through)
    assert pen > 0.2 and cost > 1.0
    assert scorer.room_cost(obj, inside) == (0.0, 0.0)
    whole = SimpleNamespace(id=1, mask=obj.mask, truncated=False)
    assert scorer.room_cost(whole, through) == (0.0, 0.0)
    # A stretched asset's back is a guess as well: it pays for the wall like a partial one.
    assert scorer.room_cost(whole, through, guessed_extent=True) == (pen, cost)
    assert scorer.room_cost(whole, inside, guessed_extent=True) == (0.0, 0.0)
    r = scorer.score(obj, [through])[0]
    assert r["through_wall_m"] == pytest.approx(pen)


@pytest.mark.parametrize("stretch", [1.45])
def test_a_table_wider_than_any_in_the_library_gets_its_width(small_library, index, stretch):
    """End to end: the observed table is the library's oak table stretched ``stretch`` × in width
    (no library asset has that shape); its reconstructed width must come close to the truth."""
    from scenewright.library import Library
    from scenewright.methods.layout.pipeline import LayoutSettings, reconstruct
    library = Library.open(small_library)
    true_w = float(index.sizes[index.row[TABLE]][0] * stretch)
    pose = placement_matrix(0.0, np.array([stretch, 1.0, 1.0]), np.array([0.0, 0.0, -2.4]))
    capture, _ = _capture(index, [(TABLE, pose, 1)], eye=(0.0, 2.2, 0.0), target=(0.0, 0.3, -2.4))
    widths = {}
    for fit in (False, True):
        s = LayoutSettings()
        s.pose.extent_fit = fit
        scene = reconstruct(capture, library, s)
        (inst,) = scene.instances
        widths[fit] = float(max(inst.size[0], inst.size[2]))
    assert abs(widths[True] - true_w) < 0.1 * true_w
    assert abs(widths[True] - true_w) < abs(widths[False] - true_w)


@pytest.mark.parametrize("looks_like_it", [True, False])
def test_appearance_ranks_only_when_some_asset_looks_like_the_object(small_library, index, looks_like_it):
    """A crop that is one of the table's own rendered views: appearance ranks (as before). A crop
    like no asset (flat magenta): retrieval ranks by shape, size and category only (``shape_only``)."""
    from scenewright.library import Library
    from scenewright.methods.layout.features import ClassicalFeatures, crop_to_mask
    from scenewright.methods.layout.retrieval import Query, RetrievalSettings, prefilter, score_assets
    library = Library.open(small_library)
    extractor = ClassicalFeatures()
    if looks_like_it:
        views = library.views(TABLE)
        crop, cmask = crop_to_mask(views.rgb[0], views.mask[0])
    else:
        cmask = np.zeros((48, 48), bool)
        cmask[8:40, 8:40] = True
        crop = np.zeros((48, 48, 3), np.uint8)
        crop[cmask] = (255, 0, 255)
    feature = extractor([crop], [cmask])[0]
    geom = index.geometry(TABLE)
    pts = geom.points + np.array([0.0, 0.0, -2.5])
    q = Query(box_size=np.asarray(index.sizes[index.row[TABLE]], float), yaw=0.0, t0=np.array([0.0, 0.0, -2.5]),
              points=pts, partial=False, fix_y=True, cam_pos=np.array([0.0, 1.5, 0.5]), view=None, feature=feature)
    settings = RetrievalSettings()
    cands = prefilter(index, str(index.categories[index.row[TABLE]]), q.box_size, False, settings)
    assert len(cands) >= 2                                 # a real choice
    hyps = score_assets(q, cands, index, extractor, settings, 0.5, (0.6, 1.6))
    best_appearance = max(h.appearance for h in hyps)
    if looks_like_it:
        assert best_appearance > settings.appearance_trust
        assert not any(h.extra.get("shape_only") for h in hyps)
    else:
        assert best_appearance < settings.appearance_trust
        assert all(h.extra.get("shape_only") for h in hyps)
        for h in hyps:     # the score holds no appearance term
            assert h.score == pytest.approx(settings.w_geometry * h.geometry + settings.w_size * h.size
                                            + settings.w_category * h.prior)
        assert [h.asset_id for h in hyps] == [h.asset_id for h in sorted(hyps, key=lambda h: -h.score)]


def test_a_partial_view_keeps_a_hypothesis_per_unseen_extent(index):
    """Only the table's left part is seen: retrieval keeps the best yaw's other ICP starts (the box
    shifted along its axes) for render-and-compare and the room to choose from."""
    from scenewright.methods.layout.retrieval import Query, RetrievalSettings, score_assets
    geom = index.geometry(TABLE)
    seen = geom.points[geom.points[:, 0] < -0.2] + np.array([0.0, 0.0, -2.5])
    lo, hi = seen.min(0), seen.max(0)
    q = Query(box_size=hi - lo, yaw=0.0, t0=np.array([(lo[0] + hi[0]) / 2, 0.0, (lo[2] + hi[2]) / 2]),
              points=seen, partial=True, fix_y=True, cam_pos=np.array([0.0, 1.5, 0.5]), view=None, feature=None)
    settings = RetrievalSettings()
    (h,) = score_assets(q, [(TABLE, 1.0, 1.0)], index, None, settings, 0.5, (0.6, 1.6))
    unseen = h.extra["unseen"]
    assert len(unseen) == 4                                       # 5 starts, the chosen one aside
    assert all(y == pytest.approx(h.yaw) for y, *_ in unseen)
    starts = np.array([t for _, _, t, _ in unseen])
    assert np.ptp(starts[:, 0]) > 0.1 and np.all(np.linalg.norm(starts - h.translation, axis=1) > 1e-3)
    # the chosen start puts the table's centre near its true place (x = 0), not the seen part's centre
    assert abs(h.translation[0]) < abs(q.t0[0])


def test_a_side_cut_view_keeps_the_catalog_height_in_retrieval():
    """fit_scale of a truncated view: never smaller than the catalog, half the trust for bigger
    (only the extent fit lets a side-cut view with its top in view be lower: extent_scales)."""
    from scenewright.methods.layout.retrieval import fit_scale
    extent = np.array([1.35, 1.6, 0.7])                 # a tall cabinet for a 0.53 m tv stand
    box = np.array([0.8, 0.53, 1.4])                    # cut at the side: a part of its width
    cut = fit_scale("tv_stand", extent, np.array([0.0]), box, True, 0.5, (0.6, 1.6))[0]
    whole = fit_scale("tv_stand", extent, np.array([0.0]), box, False, 0.5, (0.6, 1.6))[0]
    assert cut[0] == 1.0 and cut[1] == 1.0               # "smaller" is not believed
    assert whole[1] < 1.0                                # an uncut view may lower it
    grow = math.log(1.4 / 0.7) - 0.22
    assert cut[2] == pytest.approx(math.exp(0.25 * grow)) and whole[2] == pytest.approx(math.exp(0.5 * grow))


def test_top_seen_reads_the_border_and_what_stands_in_front():
    from types import SimpleNamespace

    from scenewright.methods.layout.retrieval import top_seen
    seg = np.zeros((40, 60), np.uint8)
    depth = np.full((40, 60), 5.0, np.float32)
    seg[10:30, 0:20] = 1                                 # object 1, cut by the left border, top at row 10
    depth[10:30, 0:20] = 3.0
    capture = SimpleNamespace(seg=seg, depth=depth)
    obj = SimpleNamespace(id=1, mask=seg == 1)
    assert top_seen(obj, capture)
    seg[2:10, 0:20] = 2                                  # a nearer thing right above it: the top may go on behind
    depth[2:10, 0:20] = 2.0
    assert not top_seen(obj, capture)
    depth[2:10, 0:20] = 4.0                              # … a farther one does not hide it
    assert top_seen(obj, capture)
    top_cut = SimpleNamespace(id=1, mask=np.pad(np.ones((10, 10), bool), ((0, 30), (5, 45))))
    assert not top_seen(top_cut, capture)                # on the image's top row


def test_a_stretched_assets_other_turns_keep_the_stretch(index):
    """The facing priors render an object's other geometric yaws: for a stretched stand-in they are
    the asset stretched to the same observed box at that yaw, not the catalog size (a 0.53 m tv stand
    turned to face the room became its 1.6 m stand-in again)."""
    from scenewright.methods.layout.extent import category_proportions, extent_trials
    from scenewright.methods.layout.retrieval import Query, RetrievalSettings
    catalog = np.asarray(index.sizes[index.row[TABLE]], float)
    stretch = np.array([1.15, 1.0, 1.0])                   # wider than the table, within its category's proportions
    geom = index.geometry(TABLE)
    centre = np.array([0.0, 0.0, -2.5])
    pts = geom.points * stretch + centre
    box = catalog * stretch
    q = Query(box_size=box, yaw=0.0, t0=centre.copy(), points=pts, partial=False, fix_y=True,
              cam_pos=np.array([0.0, 1.5, 0.5]), view=None, feature=None)
    settings = RetrievalSettings()
    yaws = [0.0, math.pi / 2, math.pi, 3 * math.pi / 2]
    h = Hypothesis(asset_id=TABLE, category=str(index.categories[index.row[TABLE]]), yaw=0.0, scale=np.ones(3),
                   translation=centre.copy(), prior=1.0)
    h.extra["yaws"] = [(y, np.ones(3), centre.copy(), 0.05) for y in yaws]
    trials = extent_trials(q, [h], index, settings, 1, 0.05)
    (trial,) = [t for t in trials if t.extra["extent_fit"] == "category"]
    assert np.allclose(trial.scale, stretch)
    rows = index.categories == trial.category
    for y, scale, t, cham in trial.extra["yaws"]:
        within, _ = extent_scales(catalog, y, box, False, category_proportions(index.sizes[rows]))
        assert np.allclose(scale, within)
        if abs(math.sin(y)) < 1e-9:                        # as seen or turned 180°: the same stretch, in place
            assert np.allclose(scale, stretch) and np.linalg.norm(t - centre) < 0.1
    assert trial.extra["yaws"][0][3] < 0.01                # the yaw it was seen at fits its points best
    turned = [scale for y, scale, *_ in trial.extra["yaws"] if abs(math.cos(y)) < 1e-9]
    assert len(turned) == 2 and not any(np.allclose(scale, 1.0) for scale in turned)


@pytest.mark.parametrize("agreement, stand_in, moves", [(0.9, None, True), (0.05, None, True), (0.9, "shape_only", True),
                                                       (0.05, "shape_only", False), (0.05, "extent_fit", False)])
def test_the_depth_nudge_trusts_a_stand_ins_residual_only_when_its_surface_matches(agreement, stand_in, moves):
    """The median depth residual moves a placement along its viewing ray, a stand-in's (an asset no
    view confirmed, or one stretched) only when its rendered surface matched the observed one."""
    from scenewright.methods.layout.pose import nudge_along_ray
    wfc = look_at(np.array([0.0, 1.5, 0.0]), np.array([0.0, 0.5, -3.0]))
    t0 = np.array([0.0, 0.0, -3.0])
    h = Hypothesis(asset_id="a", category="table", yaw=0.0, scale=np.ones(3), translation=t0.copy())
    h.extra["render"] = {"depth_residual": 0.2, "depth": agreement}
    if stand_in:
        h.extra[stand_in] = "category" if stand_in == "extent_fit" else True
    nudge_along_ray(h, wfc, min_agreement=0.2)
    if moves:
        # straight ahead along -z: the step along the ray is the depth residual itself
        assert h.translation == pytest.approx(t0 + np.array([0.0, 0.0, -0.2]))
    else:
        assert np.array_equal(h.translation, t0)


def test_relative_nudges_move_only_the_object_the_map_sees_apart_from_the_others():
    """Every object seen 5 % farther by the map (its scale or warp) is no evidence about any one of
    them; the one seen 10 % farther than the rest moves by the share of that difference, along its
    ray, and one whose render already agrees in depth stays."""
    from scenewright.methods.layout.pose import relative_nudges
    wfc = look_at(np.array([0.0, 1.5, 0.0]), np.array([0.0, 0.5, -3.0]))
    cfc = np.linalg.inv(wfc)
    hyps = []
    for x, extra in ((-1.0, 0.0), (0.0, 0.10), (1.0, 0.0), (0.5, 0.0), (-0.5, 0.10)):
        t = np.array([x, 0.0, -3.0])
        z = float((cfc[:3, :3] @ t + cfc[:3, 3])[2])
        h = Hypothesis(asset_id="a", category="chair", yaw=0.0, scale=np.ones(3), translation=t.copy())
        h.extra["floor_pose"] = True
        h.extra["render"] = {"depth_residual": (0.05 + extra) * z, "depth": 0.9 if x == -0.5 else 0.1}
        hyps.append(h)
    before = [h.translation.copy() for h in hyps]
    steps = relative_nudges(hyps, wfc, share=0.5, max_agreement=0.3)
    assert set(steps) == {1}                               # the one seen apart; the agreeing one (x = -0.5) stays
    z = float((cfc[:3, :3] @ before[1] + cfc[:3, 3])[2])
    assert steps[1] == pytest.approx(0.5 * 0.10 * z)
    moved = hyps[1].translation - before[1]
    assert moved[1] == 0.0 and moved[2] < -0.1            # farther along its (horizontal) ray, height kept
    for i in (0, 2, 3, 4):
        assert np.array_equal(hyps[i].translation, before[i])
    # fewer than three objects with a residual: nothing to compare against
    assert relative_nudges(hyps[:2], wfc, share=0.5) == {}


def test_the_seen_extent_is_measured_along_the_assets_own_axes(index):
    """A thing seen on two faces gives a minimum-area box up to 45° off its own axes; the stretch
    measures the seen points along the asset's axes instead, so it follows the asset's own sides."""
    from scenewright.methods.layout.extent import extent_along, extent_trials
    from scenewright.methods.layout.retrieval import Query, RetrievalSettings, placement_matrix
    geom = index.geometry(TABLE)
    catalog = np.asarray(index.sizes[index.row[TABLE]], float)
    stretch = np.array([1.15, 1.0, 0.9])                   # wider and shallower: within the category's proportions
    yaw, centre = 0.6, np.array([0.3, 0.0, -2.5])
    world = (placement_matrix(yaw, stretch, centre) @ np.c_[geom.points, np.ones(len(geom.points))].T).T[:, :3]
    # with no trimming the extent along the asset's axes is exactly the stretched samples' own spread
    own = np.ptp(geom.points, axis=0) * stretch
    measured = extent_along(world, yaw, 0.75, trim=0.0)
    assert np.allclose(measured[[0, 2]], own[[0, 2]], atol=1e-9 * np.abs(world).max() * 10)
    assert measured[1] == 0.75
    # turned by 90° the same points read the other way round
    assert np.allclose(extent_along(world, yaw + math.pi / 2, 0.75, trim=0.0)[[0, 2]], own[[2, 0]], atol=1e-6)
    # a box 45° off the table's axes (the minimum-area rectangle of a two-faced view can lie so)
    box_yaw = yaw + math.pi / 4
    box = extent_along(world, box_yaw, catalog[1] * stretch[1])
    q = Query(box_size=box, yaw=box_yaw, t0=centre.copy(), points=world, partial=False, fix_y=True,
              cam_pos=np.array([0.0, 1.5, 0.5]), view=None, feature=None)
    h = Hypothesis(asset_id=TABLE, category=str(index.categories[index.row[TABLE]]), yaw=yaw, scale=np.ones(3),
                   translation=centre.copy(), prior=1.0)
    def category_trial(asset_axes):
        trials = extent_trials(q, [h], index, RetrievalSettings(), 1, 0.05, asset_axes=asset_axes)
        return [t for t in trials if t.extra["extent_fit"] == "category" and abs(t.yaw - yaw) < 1e-9][0]
    # the stretch is the seen spread along the asset's axes over the asset's catalog size (the
    # samples miss the mesh's extremes a little, hence the spread and not ``stretch`` itself)
    expected = extent_along(world, yaw, 1.0) / catalog
    along_asset = category_trial(True)
    assert np.allclose(along_asset.scale[[0, 2]], expected[[0, 2]], rtol=1e-6)
    # measured along the box's axes, the diagonal case takes one footprint scale from the area
    # ratio: the table's own proportions (wider, shallower) are lost by more than 5 %
    along_box = category_trial(False)
    assert np.abs(np.log(along_box.scale / expected))[[0, 2]].max() > 0.05



def test_an_axis_along_the_line_of_sight_is_only_grown(index):
    """Seen from one side, only the near half of a thing shows along the line of sight (the front of a
    round shade, a pot or a pouf): the seen extent there is a lower bound and does not make a
    stand-in shallower, while across the view (its silhouette) it still does."""
    from scenewright.methods.layout.extent import along_view, extent_trials
    from scenewright.methods.layout.retrieval import Query, RetrievalSettings
    catalog = np.asarray(index.sizes[index.row[TABLE]], float)
    category = str(index.categories[index.row[TABLE]])
    geom = index.geometry(TABLE)
    centre = np.array([0.0, 0.0, -2.5])
    camera = np.array([0.0, 1.5, 0.5])                     # looking down -z at the table
    seen = np.array([0.8, 1.0, 0.3])                        # narrower across, and only its front strip along the view
    pts = geom.points * seen + centre

    def query(cam):
        return Query(box_size=catalog * seen, yaw=0.0, t0=centre.copy(), points=pts, partial=False, fix_y=True,
                     cam_pos=cam, view=None, feature=None)
    q = query(camera)
    assert list(along_view(q, 0.0, 30.0)) == [False, False, True]        # the table's depth runs along the view
    assert list(along_view(q, math.pi / 2, 30.0)) == [True, False, False]  # turned, its width does
    assert not along_view(q, math.pi / 4, 30.0).any()                    # corner-on: both sides are seen
    assert not along_view(q, 0.0, 0.0).any()                             # the rule off
    h = Hypothesis(asset_id=TABLE, category=category, yaw=0.0, scale=np.ones(3), translation=centre.copy(), prior=1.0)

    from scenewright.methods.layout.extent import extent_along
    ratio = extent_along(pts, 0.0, catalog[1]) / catalog
    # the rule itself: the axis along the view is floored at the stand-in's size, the others as seen
    grown, _ = extent_scales(catalog, 0.0, catalog * ratio, False, None, grow_only=along_view(q, 0.0, 30.0))
    assert np.allclose(grown, [ratio[0], 1.0, 1.0])
    assert np.allclose(extent_scales(catalog, 0.0, catalog * ratio, False, None)[0], [ratio[0], 1.0, max(ratio[2], 0.5)])

    def trial_depths(cam, angle):
        trials = extent_trials(query(cam), [h], index, RetrievalSettings(), 1, 0.05, asset_axes=True,
                               view_angle_deg=angle)
        return [t.scale[2] for t in trials]
    # through the trials: not made shallower than the stand-in when the depth runs along the view …
    assert min(trial_depths(camera, 30.0)) >= 1.0 - 1e-9
    assert max(trial_depths(camera, 0.0)) < 0.6
    # … but measured when seen from the side (the depth then lies across the view)
    assert max(trial_depths(np.array([3.0, 1.5, -2.5]), 30.0)) < 0.6


def test_a_flat_top_seen_from_above_measures_the_depth_along_the_view(index):
    """A table's top seen from above shows its far edge: along the line of sight its seen depth is
    then the table's, not a lower bound — but only when the top is seen whole (nothing nearer above
    it), the camera is above it, and the top is flat (its points span the depth, where a pouf's
    round top or a backrest spans a strip)."""
    from scenewright.methods.layout.extent import along_view, flat_top_spans
    from scenewright.methods.layout.retrieval import Query
    catalog = np.asarray(index.sizes[index.row[TABLE]], float)
    centre = np.array([0.0, 0.0, -2.5])
    camera = np.array([0.0, 1.5, 0.5])                      # above the table, looking down -z
    table = index.geometry(TABLE).points + centre          # the whole table seen

    def query(pts, top_seen=True, cam=camera, small=False):
        return Query(box_size=catalog, yaw=0.0, t0=centre.copy(), points=pts, partial=False, fix_y=True,
                     cam_pos=cam, view=None, feature=None, top_seen=top_seen, small=small)
    assert list(flat_top_spans(table, 0.0)) == [True, False, True]
    assert not along_view(query(table), 0.0, 30.0, 0.8).any()          # the top shows the far edge
    # a small thing's top (a shade's, a pot's rim) may be narrower than its widest part: the bound stays
    assert list(along_view(query(table, small=True), 0.0, 30.0, 0.8)) == [False, False, True]
    # the axis the top measures shrinks a stand-in only when clearly shorter (quantiles trim a little)
    exempt = along_view(query(table), 0.0, 30.0) & ~along_view(query(table), 0.0, 30.0, 0.8)
    assert list(exempt) == [False, False, True]
    for seen_depth, expected in ((0.95, 1.0), (0.8, 0.8)):
        scales, _ = extent_scales(catalog, 0.0, catalog * np.array([1.0, 1.0, seen_depth]), False, None,
                                  shrink_only_below=exempt, clear_shrink=0.9)
        assert scales[2] == pytest.approx(expected)
    assert list(along_view(query(table), 0.0, 30.0, 0.0)) == [False, False, True]     # the rule off
    assert list(along_view(query(table, top_seen=False), 0.0, 30.0, 0.8)) == [False, False, True]
    low_camera = np.array([0.0, 0.2, 0.5])                  # below the top: it is not seen from above
    assert list(along_view(query(table, cam=low_camera), 0.0, 30.0, 0.8)) == [False, False, True]
    # a dome (a pouf's top) seen from the front: its highest points are a small cap, not the depth
    rng = np.random.default_rng(0)
    d = rng.normal(size=(4000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d = d[(d[:, 1] > 0) & (d[:, 2] > 0)]                    # the upper front quarter is what is seen
    dome = d * 0.3 + centre
    assert not flat_top_spans(dome, 0.0).any()
    assert list(along_view(query(dome), 0.0, 30.0, 0.8)) == [False, False, True]


def test_a_partial_views_stand_in_spans_what_was_seen(index):
    """The seen extent of a border-cut thing is a lower bound: a stand-in shorter than it grows to
    it (at most by ``max_growth``), centred on the seen span; one already as long stays."""
    from scenewright.methods.layout.extent import cover_seen
    pts = index.geometry(TABLE).points
    lo, hi = pts.min(0), pts.max(0)
    yaw = math.radians(30.0)
    centre = np.array([0.5, 0.0, -2.0])
    seen_scale = np.array([1.3, 1.0, 0.8])                 # the thing is 30 % longer, and only 80 % of its depth is seen
    world = (pts * seen_scale) @ placement_matrix(yaw, np.ones(3), np.zeros(3))[:3, :3].T + centre

    def stand_in(shift=np.zeros(3)):
        return Hypothesis(asset_id=TABLE, category="dining_table", yaw=yaw, scale=np.ones(3),
                          translation=centre + shift, prior=1.0)
    h = stand_in(np.array([0.2, 0.0, 0.0]))
    assert cover_seen(h, world, lo, hi, max_growth=1.5)
    # grown along its own x to the seen span (the points' 1 %/99 % quantiles, short of the true 1.3)
    axis = placement_matrix(yaw, np.ones(3), np.zeros(3))[:3, 0]
    q_lo, q_hi = np.quantile(world @ axis, [0.01, 0.99])
    assert h.scale[0] == pytest.approx((q_hi - q_lo) / (hi[0] - lo[0]), rel=1e-9)
    assert 1.0 < h.scale[0] < 1.3 and h.scale[1] == 1.0 and h.scale[2] == 1.0
    m = h.world_from_object()
    placed = pts @ m[:3, :3].T + m[:3, 3]
    assert abs(np.median(placed @ axis) - np.median(world @ axis)) < 0.05 * (hi[0] - lo[0])
    # capped growth
    capped = stand_in()
    assert cover_seen(capped, world, lo, hi, max_growth=1.1) and capped.scale[0] == pytest.approx(1.1)
    # nothing seen beyond the stand-in: unchanged; the rule off: unchanged
    inside = (pts * 0.9) @ placement_matrix(yaw, np.ones(3), np.zeros(3))[:3, :3].T + centre
    same = stand_in()
    assert not cover_seen(same, inside, lo, hi, max_growth=1.5) and np.all(same.scale == 1.0)
    assert not cover_seen(stand_in(), world, lo, hi, max_growth=1.0)


def test_round_categories_keep_the_line_of_sight_bound_under_a_flat_top(index):
    """The same seen points (a flat top seen from above, 80 % of the stand-in's depth along the view)
    shrink a table's stand-in, not a round thing's (a lantern's roof or a shade narrows to its top)."""
    from scenewright.methods.layout.extent import extent_trials
    from scenewright.methods.layout.retrieval import Query, RetrievalSettings
    catalog = np.asarray(index.sizes[index.row[TABLE]], float)
    centre = np.array([0.0, 0.0, -2.5])
    seen = index.geometry(TABLE).points * np.array([1.0, 1.0, 0.8]) + centre
    q = Query(box_size=catalog * np.array([1.0, 1.0, 0.8]), yaw=0.0, t0=centre.copy(), points=seen, partial=False,
              fix_y=True, cam_pos=np.array([0.0, 1.5, 0.5]), view=None, feature=None, top_seen=True)

    def box_depth(category):
        h = Hypothesis(asset_id=TABLE, category=category, yaw=0.0, scale=np.ones(3), translation=centre.copy(),
                       prior=1.0)
        trials = extent_trials(q, [h], index, RetrievalSettings(), 1, 0.05, asset_axes=True, view_angle_deg=30.0,
                               flat_top_share=0.8, clear_shrink=0.9)
        return [t.scale[2] for t in trials]
    assert min(box_depth("dining_table")) < 0.9
    assert min(box_depth("floor_lamp")) >= 1.0 - 1e-9


def test_a_stand_in_against_a_wall_takes_the_depth_from_the_wall_to_its_seen_front():
    """A 0.5 m deep stand-in with its back 2 cm off a wall, facing the room, for a thing whose front
    is seen 0.40 m out: 0.40 m deep now, its back at the wall; the seen front is only a lower
    bound for a partial view (it grows, never shrinks); turned away from the wall or far from it:
    unchanged."""
    from scenewright.geometry.planes import Plane
    from scenewright.methods.layout.extent import depth_to_wall
    lo, hi = np.array([-0.2, 0.0, -0.25]), np.array([0.2, 0.5, 0.25])
    wall = Plane(np.array([0.0, 0.0, -3.0]), np.array([0.0, 0.0, 1.0]))      # the room is z > -3
    rng = np.random.default_rng(0)
    # the seen front face and top of the thing: 0.8-1.2 m across, front at z = -2.6
    seen = np.c_[rng.uniform(0.8, 1.2, 600), rng.uniform(0.0, 0.5, 600), rng.uniform(-2.70, -2.60, 600)]

    def stand_in(yaw=0.0, back_gap=0.02):
        return Hypothesis(asset_id="a", category="nightstand", yaw=yaw, scale=np.ones(3),
                          translation=np.array([1.0, 0.0, -3.0 + back_gap + 0.25]))

    def back_and_front(h):
        m = h.world_from_object()
        z = np.array([lo[2], hi[2]]) * m[2, 2] + m[2, 3]
        return z.min(), z.max()
    h = stand_in()
    assert depth_to_wall(h, seen, lo, hi, [wall])
    back, front = back_and_front(h)
    assert back == pytest.approx(-3.0) and front == pytest.approx(np.quantile(seen[:, 2], 0.99))
    assert h.scale[0] == 1.0 and h.scale[1] == 1.0
    # a partial view: the seen front may be short of the real one, so it only grows
    assert not depth_to_wall(stand_in(), seen, lo, hi, [wall], grow_only=True)
    deeper = seen + np.array([0.0, 0.0, 0.25])                       # front 0.65 m out
    g = stand_in()
    assert depth_to_wall(g, deeper, lo, hi, [wall], grow_only=True) and 1.2 < g.scale[2] < 1.33
    # an asset that looks like the object: only made shallower (one seen deeper stands off its wall)
    assert not depth_to_wall(stand_in(), deeper, lo, hi, [wall], shrink_only=True)
    k = stand_in()
    assert depth_to_wall(k, seen, lo, hi, [wall], shrink_only=True) and k.scale[2] == pytest.approx(h.scale[2])
    # bounded: a front 1 m out is not a 1 m deep nightstand
    far = stand_in()
    assert depth_to_wall(far, seen + np.array([0.0, 0.0, 0.6]), lo, hi, [wall]) and far.scale[2] == pytest.approx(1.33)
    # side-on to the wall, or 30 cm off it: not against it
    assert not depth_to_wall(stand_in(yaw=math.pi / 2), seen, lo, hi, [wall])
    assert not depth_to_wall(stand_in(back_gap=0.3), seen, lo, hi, [wall])
    assert not depth_to_wall(stand_in(), seen, lo, hi, [])


def test_a_stand_in_taller_than_what_the_picture_sees_past_is_lowered_to_its_seen_top():
    """A 1.5 m stand-in (a tv cabinet) placed on a thing seen 0.5 m tall: above 0.5 m the picture sees
    the wall 3 m behind, so the asset is lowered to 0.5 m, its bottom on the floor. Where an
    occluder stands in front of its upper part, or that part lies outside the image (a border cut),
    nothing is said; a stand-in within the slack keeps its height."""
    from scenewright.methods.layout.extent import cap_seen_height
    from scenewright.methods.layout.pipeline import (LayoutSettings, ObjectResult, _above_seen_would_show,
                                                     _height_measurable)
    from scenewright.methods.layout.retrieval import Query
    lo, hi = np.array([-0.5, 0.0, -0.25]), np.array([0.5, 1.5, 0.25])
    rng = np.random.default_rng(0)
    asset_points = rng.uniform(lo, hi, (400, 3))
    K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
    wfc = look_at(np.array([0.0, 1.6, 0.0]), np.array([0.0, 0.5, -3.0]))
    cfw = np.linalg.inv(wfc)
    seen = np.c_[rng.uniform(-0.5, 0.5, 500), rng.uniform(0.0, 0.5, 500), rng.uniform(-3.25, -3.0, 500)]

    def result(depth):
        h = Hypothesis(asset_id="a", category="cabinet", yaw=0.0, scale=np.ones(3),
                       translation=np.array([0.0, 0.0, -3.125]))
        q = Query(box_size=np.array([1.0, 0.5, 0.25]), yaw=0.0, t0=np.array([0.0, 0.0, -3.125]), points=seen,
                  partial=False, fix_y=True, cam_pos=wfc[:3, 3], view=(K, cfw, depth), feature=None)
        return ObjectResult(obj=None, category="cabinet", chosen=h, query=q)
    behind = np.full((240, 320), 6.0, np.float32)             # the wall, farther than the asset everywhere
    r = result(behind)
    # only a stand-in's height is another thing's: an asset that is the object keeps its own
    assert not _height_measurable(r, LayoutSettings())
    r.chosen.extra["extent_fit"] = "category"
    assert _height_measurable(r, LayoutSettings())
    assert _above_seen_would_show(r, asset_points, 0.6)
    top = float(np.quantile(seen[:, 1], 0.998))
    assert cap_seen_height(r.chosen, top, lo, hi)
    assert r.chosen.scale[1] * 1.5 == pytest.approx(top) and r.chosen.translation[1] == pytest.approx(0.0)
    assert r.chosen.scale[0] == 1.0 and r.chosen.scale[2] == 1.0
    # something nearer (1 m from the camera) in front of everything: the upper part may be behind it
    assert not _above_seen_would_show(result(np.full((240, 320), 1.0, np.float32)), asset_points, 0.6)
    # the upper part outside the image (a camera looking down past it)
    wfc_low = look_at(np.array([0.0, 1.6, 0.0]), np.array([0.0, -2.0, -3.0]))
    low = result(behind)
    low.query.view = (K, np.linalg.inv(wfc_low), behind)
    assert not _above_seen_would_show(low, asset_points, 0.6)
    # within the slack (1.2 × seen + 5 cm): unchanged
    near = Hypothesis(asset_id="a", category="cabinet", yaw=0.0, scale=np.array([1.0, 0.42, 1.0]),
                      translation=np.array([0.0, 0.0, -3.125]))
    assert not cap_seen_height(near, top, lo, hi) and near.scale[1] == 0.42


def test_a_small_things_height_reaches_the_top_row_of_its_mask_its_points_miss():
    """A pot 0.2 m tall (on a table at 0.75 m, 2 m from the camera) with a spoon standing 0.2 m out
    of it: the spoon is in the mask but not in the points (too thin for them). The mask's top row,
    met on the vertical plane through the pot's middle, gives the spoon's top (1.15 m) to within a
    pixel's height there (7 mm) plus the pot's half-depth seen from above. When the points reach the
    mask's top (the spoon measured), or the gap is a pixel or two: nothing is said."""
    from scenewright.methods.layout.retrieval import mask_top_height
    K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
    wfc = look_at(np.array([0.0, 1.5, 0.0]), np.array([0.0, 0.9, -2.0]))
    cfw = np.linalg.inv(wfc)
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 2 * math.pi, 4000)
    body = np.c_[0.05 * np.cos(a), rng.uniform(0.75, 0.95, 4000), -2.0 + 0.05 * np.sin(a)]
    spoon = np.c_[np.full(400, 0.01), np.linspace(0.95, 1.15, 400), np.full(400, -2.0)]

    def mask_of(pts):
        pc = pts @ cfw[:3, :3].T + cfw[:3, 3]
        u = np.floor(K[0, 0] * pc[:, 0] / pc[:, 2] + K[0, 2]).astype(int)
        v = np.floor(K[1, 1] * pc[:, 1] / pc[:, 2] + K[1, 2]).astype(int)
        m = np.zeros((240, 320), bool)
        m[v, u] = True
        return m
    mask = mask_of(np.r_[body, spoon])
    seen_body = body[(body[:, 2] > -2.0)]                    # the near half of the pot
    reach = mask_top_height(SimpleNamespace(mask=mask, points=seen_body), K, wfc, 3.0, 0.1)
    assert reach == pytest.approx(1.15, abs=0.007 + 0.05 * 0.3)
    assert mask_top_height(SimpleNamespace(mask=mask, points=np.r_[seen_body, spoon]), K, wfc, 3.0, 0.1) is None
    assert mask_top_height(SimpleNamespace(mask=mask_of(body), points=seen_body), K, wfc, 3.0, 0.1) is None


def test_an_asset_retrieved_by_its_looks_takes_the_walls_depth_only_when_asked():
    """``_fits_wall_depth``: a stand-in always may; an asset retrieved by its looks (not shape-only,
    not stretched) only with ``wall_depth_any_asset`` (the default) and when its render's depth
    agreement is below 0.5; one placed by the no-depth floor pose never."""
    from scenewright.methods.layout.pipeline import LayoutSettings, ObjectResult, _fits_wall_depth
    from scenewright.methods.layout.retrieval import Query
    pts = np.random.default_rng(0).uniform(-0.2, 0.2, (50, 3))
    q = Query(box_size=np.array([0.4, 0.5, 0.4]), yaw=0.0, t0=np.zeros(3), points=pts, partial=False,
              fix_y=True, cam_pos=np.array([0.0, 1.5, 2.0]), view=None, feature=None)
    h = Hypothesis(asset_id="a", category="nightstand", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
    h.extra["render"] = {"iou": 0.9, "depth": 0.74}
    r = ObjectResult(obj=None, category="nightstand", chosen=h, query=q)
    s = LayoutSettings()
    assert not _fits_wall_depth(r, s)          # its surface matches the depth map: it is the object
    h.extra["render"]["depth"] = 0.3
    assert _fits_wall_depth(r, s)
    s.pose.wall_depth_any_asset = False
    assert not _fits_wall_depth(r, s)
    s.pose.wall_depth_any_asset = True
    h.extra["floor_pose"] = True
    assert not _fits_wall_depth(r, s)
    s.pose.wall_depth_any_asset = False
    h.extra.pop("floor_pose")
    h.extra["shape_only"] = True
    assert _fits_wall_depth(r, s)


def test_a_flat_top_seen_from_above_sets_a_look_alikes_height():
    """A 0.454 m bedside table standing in for one whose flat top is seen at 0.48 m (camera 1.5 m
    up, 1.5 m in front): it takes the seen top's height, its bottom on the floor, so what stands on
    it sits on 0.48 m. A top that agrees within 1 cm, or one more than a quarter off, is left alone;
    so is a thing whose seen top is a strip (a chair's back) or an asset whose own top is one (a
    bed's headboard)."""
    from scenewright.methods.layout.extent import fit_seen_top
    from scenewright.methods.layout.pipeline import LayoutSettings, ObjectResult, _flat_top_seen, _seen_top
    from scenewright.methods.layout.retrieval import Query
    rng = np.random.default_rng(0)
    lo, hi = np.array([-0.25, 0.0, -0.2]), np.array([0.25, 0.454, 0.2])

    def box_surface(lo, hi, n=600):
        """Samples of a box's top face and its four sides."""
        top = np.c_[rng.uniform(lo[0], hi[0], n), np.full(n, hi[1]), rng.uniform(lo[2], hi[2], n)]
        side = rng.uniform(lo, hi, (n, 3))
        axis = rng.integers(0, 2, n) * 2                                    # x or z face
        side[np.arange(n), axis] = np.where(rng.random(n) < 0.5, lo[axis], hi[axis])
        return np.r_[top, side]
    table = box_surface(lo, hi)
    seen_top, front = 0.48, 0.2
    seen = np.r_[np.c_[rng.uniform(-0.25, 0.25, 400), np.full(400, seen_top), rng.uniform(-0.2, 0.2, 400)],
                 np.c_[rng.uniform(-0.25, 0.25, 300), rng.uniform(0.0, seen_top, 300), np.full(300, front)]]

    def result(points, asset_points, category="nightstand"):
        h = Hypothesis(asset_id="a", category=category, yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        q = Query(box_size=np.array([0.5, seen_top, 0.4]), yaw=0.0, t0=np.zeros(3), points=points,
                  partial=False, fix_y=True, cam_pos=np.array([0.0, 1.5, 1.5]), view=None, feature=None)
        index = SimpleNamespace(geometry=lambda asset_id: SimpleNamespace(points=asset_points))
        return ObjectResult(obj=None, category=category, chosen=h, query=q), index

    pose = LayoutSettings().pose
    r, index = result(seen, table)
    assert _flat_top_seen(r, index, pose)
    assert fit_seen_top(r.chosen, _seen_top(r), lo, hi, pose.seen_top_min_change_m, pose.seen_top_max_change)
    assert r.chosen.scale[1] * 0.454 == pytest.approx(seen_top) and r.chosen.translation[1] == pytest.approx(0.0)
    assert r.chosen.scale[0] == 1.0 and r.chosen.scale[2] == 1.0
    # within 1 cm, or more than a quarter of its height off: unchanged
    for top in (0.46, 0.6):
        h = Hypothesis(asset_id="a", category="nightstand", yaw=0.0, scale=np.ones(3), translation=np.zeros(3))
        assert not fit_seen_top(h, top, lo, hi, pose.seen_top_min_change_m, pose.seen_top_max_change)
        assert h.scale[1] == 1.0
    # a chair: its highest seen part is the back, a strip along its rear edge
    back = np.c_[rng.uniform(-0.25, 0.25, 200), rng.uniform(0.45, 0.9, 200), np.full(200, -0.2)]
    chair, _ = result(np.r_[seen[seen[:, 1] < 0.46], back], table, category="chair")
    assert not _flat_top_seen(chair, index, pose)
    # a bed-like asset whose top is its headboard
    headboard = np.c_[rng.uniform(-0.25, 0.25, 200), rng.uniform(0.3, 0.7, 200), np.full(200, -0.2)]
    r, index = result(seen, np.r_[box_surface(lo, np.array([0.25, 0.3, 0.2])), headboard])
    assert not _flat_top_seen(r, index, pose)
    # off: never
    r, index = result(seen, table)
    assert not _flat_top_seen(r, index, PoseSettings(seen_top_flat_share=0.0))
    # noisy depth (1 cm per point, about what 2 % noise gives 1.5 m away): the top band's heights
    # spread, their top quantile stands above the real top — not read as one height
    noisy = seen + rng.normal(0.0, 0.01, seen.shape)
    r, index = result(noisy, table)
    assert _seen_top(r) > seen_top + 0.01
    assert not _flat_top_seen(r, index, pose)
    assert _flat_top_seen(r, index, PoseSettings(seen_top_max_spread_m=1.0))   # the gate is what says no
