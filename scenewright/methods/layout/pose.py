"""Pose and size: render the best retrieval hypotheses and compare with the observation.

Retrieval gives, per object, a few assets with yaw hypotheses ranked by geometry.
Here each (asset, yaw) is rendered with :class:`scenewright.render.Renderer` into a
small window around the object's mask (the intrinsics are cropped, so a 96² render
covers exactly the mask's box) and compared with what the capture shows there:

- silhouette IoU with the mask, ignoring pixels where another object is in front
  (occlusion), so a half-hidden chair is not punished for its hidden half, and pixels
  outside the image (a border-cut object may extend there freely; what projects inside
  must match the mask);
- depth agreement (median absolute difference on the overlap);
- colour agreement (mean absolute RGB difference on the overlap).

The winner's translation is then nudged along the viewing ray by the median depth
residual (the box centre of a partial view sits too close to the camera).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from scenewright.library.categories import category_info
from scenewright.methods.layout.retrieval import Hypothesis, placement_matrix
from scenewright.render import RenderItem


@dataclass
class PoseSettings:
    render_size: int = 96            # side of the render window (pixels)
    render_assets: int = 5           # assets per object that are rendered (3: bench exact 91.6 -> 94.9 %)
    render_yaws: int = 2             # geometric yaw hypotheses rendered per asset
    render_yaws_small: int = 4       # … for small things (few points: geometry says little about yaw)
    cut_yaw_assets: int = 2          # border-cut furniture: every geometric yaw of this many best assets rendered
    facing_margin: float = 0.3       # a seat may turn to face its table if it costs at most this
    room_focus: bool = True          # border-cut wall furniture with no wall near turns to face the other objects …
    room_focus_margin: float = 0.15  # … if that costs at most this
    room_focus_objects: int = 2      # … and at least this many other objects say where the room is
    radial_all_yaws: bool = True     # render every yaw of things of a round category whose shape is not round
    radial_prior: bool = True        # round things take the room's yaw (support / room focus) …
    radial_margin: float = 0.15      # … if its render scores at most this below the best
    centre_small: bool = True        # small things: each yaw trial is moved across the view onto the mask before it is compared
    centre_small_rows: bool = True   # … up or down too (by its height), not only sideways
    catalog_size_small: int = 2      # small things: every trial of this many best assets is also rendered at catalog size
    shift_truncated: bool = True     # slide border-cut objects to where their silhouette fits
    shift_steps_m: tuple[float, ...] = (0.2, 0.2, 0.1, 0.05)  # step sizes of that slide (metres)
    shift_all: bool = False          # slide every object so (no depth: the silhouette is all there is)
    shift_view_axes: bool = True     # … across and along the line of sight (on the floor), not along world x and z
    anchor_cut_end: bool = True      # border-cut wall furniture: the visible end + catalog length place it
    anchor_cut_end_margin: float | None = 0.1  # … unless its render scores more than this below the placement it moves
    # … also when no asset looks like it (a stand-in: ``shape_only``). Its catalog length is another
    # thing's, so the visible end plus that length does not say where its middle is (dev_s12: a 2.32 m
    # sofa stand-in for a 1.96 m futon moved 0.35 m off its fitted render; kept there 0.05 m)
    anchor_cut_end_stand_ins: bool = False
    unseen_assets: int = 2           # border-cut objects: every ICP start of the best yaw of this many assets is rendered
    local_yaw_deg: float = 12.0      # ± local yaw refinement around the winner
    # small and round things: this many best trials are each also rendered moved along their viewing
    # ray by their own median depth residual before the winner is picked (0: off). Their ICP place is
    # off by a centimetre or two, as much as their width, so the yaws are ranked by how well ICP
    # happened to place each rather than by their shape
    nudge_trials: int = 8
    # … and the local yaw refinement then turns this many best trials of different yaws, not only the
    # winner: a nudge can lift a neighbour of the right turn above the turn's own neighbour (a utensils
    # pot: 5° and 35° tried, 21° right; the winner at -37° had only -25° and -49° beside it)
    local_yaw_leaders_small: int = 3
    w_iou: float = 1.0               # weight of the rendered mask's IoU with the observed one
    w_depth: float = 0.5             # weight of the rendered depth's agreement
    w_colour: float = 1.0            # weight of the rendered colour's agreement
    w_colour_shape_only: float = 0.3  # … when no asset looks like the object (retrieval's ``shape_only``)
    w_edges: float = 0.0             # weight of the rendered edges' correlation with the picture's (exposure-free)
    w_retrieval: float = 0.3         # retrieval score still counts a little
    w_category: float = 0.6          # category prior (1 the label's category, 0.5 a neighbour)
    w_category_partial: float = 1.2  # … for border-cut objects (a cut box says little about size)
    depth_sigma_m: float = 0.05      # depth agreement = exp(-median |Δdepth| / sigma)
    depth_shape_cut: bool = False    # border-cut objects: depth agreement of the shape (median Δdepth removed)
    colour_sigma: float = 0.12       # mean |ΔRGB| / 255
    depth_nudge: bool = True         # move the chosen pose by the median depth residual along its viewing ray
    nudge_min_depth: float = 0.2     # … a stand-in (shape_only or extent fit) only when its depth agreement is at least this
    w_room: float = 1.0              # partial objects: score − w_room · (metres through a wall) / 0.1
    room_tolerance_m: float = 0.05   # … beyond this much (walls are fitted planes)
    extent_fit: bool = True          # a poorly fitting best asset: try the top assets scaled to the observed extent
    extent_fit_iou: float = 0.8      # … when the best render's silhouette IoU is below this
    extent_fit_assets: int = 3       # assets (best first) tried scaled to the observed extent
    extent_box_cost: float = 0.05    # the observed box's own proportions (beyond the category's) cost this
    extent_asset_axes: bool = True   # the stretch measures the seen points along the asset's axes (not the box's)
    extent_view_lower_bound_deg: float = 30.0  # an asset axis this near the line of sight is only grown (its back is unseen)
    extent_flat_top_share: float = 0.8  # … unless the seen flat top spans this share of it (it shows the back; 0: off)
    extent_flat_top_clear_shrink: float = 0.9  # … and then shrinks only below this share of the asset's extent
    cover_seen_max_growth: float = 1.5  # a partial view's stand-in grows (at most this ×) to span what was seen (1: off)
    wall_depth_max_gap_m: float = 0.1  # a stand-in whose back is this near a wall takes the depth from the
                                       # wall to its seen front (extent.depth_to_wall; 0: off)
    # … also an asset retrieved by its looks (not a stand-in), only made shallower: a held-out thing's
    # nearest cousin looks alike but need not share its depth (a 0.48 m bedside table for a 0.41 m one,
    # appearance 0.77-0.90); one the room shows deeper stands off its wall, and setting it flush closes that
    wall_depth_any_asset: bool = True
    # … when its render's depth agreement is below this (median |Δdepth| over 3.5 cm): a surface that
    # matches the depth map is the object's, whose depth is right (given split: an exact 0.54 m chest,
    # agreement 0.74, was made 0.50 m deep by a wall plane a few cm off)
    wall_depth_any_asset_max_agreement: float = 0.5
    seen_height_cap_slack: float | None = 1.2  # furniture is lowered to the top of what was seen of it when
                                               # taller than this × its seen height + 5 cm (None: off) …
    seen_height_cap_visible: float = 0.6  # … and this share of the asset above that top would show in the picture
    # Furniture whose flat top is seen from above (the points' top band spans this share of what they
    # span along both of the asset's floor axes, and the asset's own top spans as much of it) takes the
    # seen top's height: an asset kept at its catalog height inside the size fit's dead zone is another
    # thing's height (held-out: a 0.454 m bedside table for a 0.48 m one, a 0.746 m desk for a 0.72 m
    # one), and what stands on it sits that much off. 0: off.
    seen_top_flat_share: float = 0.8
    seen_top_min_change_m: float = 0.01   # … when the tops differ by more than this (an exact asset's agree to mm)
    seen_top_max_change: float = 0.25     # … and by at most this share of the asset's height
    # … and only where the depth resolves the top as one height: the robust spread (1.4826 × MAD) of the
    # heights within 3 cm of the highest seen point is at most this. Flat renders: ≤ 0.2 mm; 2 % per-pixel
    # depth noise: 4-7 mm, where the points' top quantile stands 1.3-1.9 cm above the real top and
    # raised exact bedside tables (noise split IoU-B 0.851 -> 0.825 without this gate).
    seen_top_max_spread_m: float = 0.0025


@dataclass
class Window:
    """The crop a render covers: pixel box in the capture and the matching intrinsics."""

    x0: int
    y0: int
    side: int
    size: int
    K: np.ndarray          # (3, 3) intrinsics of the (size, size) window render

    def take(self, image: np.ndarray, fill=0) -> np.ndarray:
        """Nearest-neighbour resample of a capture image (H, W[, C]) onto the window."""
        h, w = image.shape[:2]
        idx = self.x0 + (np.arange(self.size) + 0.5) * self.side / self.size
        idy = self.y0 + (np.arange(self.size) + 0.5) * self.side / self.size
        ix, iy = np.floor(idx).astype(int), np.floor(idy).astype(int)
        inside = (iy[:, None] >= 0) & (iy[:, None] < h) & (ix[None] >= 0) & (ix[None] < w)
        out = image[np.clip(iy, 0, h - 1)][:, np.clip(ix, 0, w - 1)].copy()
        out[~inside] = fill
        return out


def make_window(mask: np.ndarray, K: np.ndarray, size: int, pad: float = 0.15) -> Window:
    """Square window around ``mask`` (H, W) bool with ``pad`` margin; K mapped to (size, size)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(int(np.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * pad))), 8)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    wx0, wy0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    f = size / side
    Kw = np.array(K, float).copy()
    Kw[0, 0] *= f
    Kw[1, 1] *= f
    Kw[0, 2] = (K[0, 2] - wx0) * f
    Kw[1, 2] = (K[1, 2] - wy0) * f
    return Window(wx0, wy0, side, size, Kw)


@dataclass
class Observed:
    """The capture as seen through one object's window."""

    mask: np.ndarray       # (S, S) bool, this object
    other: np.ndarray      # (S, S) bool, another object
    rgb: np.ndarray        # (S, S, 3) float
    depth: np.ndarray      # (S, S) float, NaN unknown
    inside: np.ndarray | None = None   # (S, S) bool, the window pixel lies inside the image

    @property
    def seen_depth(self) -> np.ndarray:
        """(S, S) bool: the depth is known (made once: every render of the window compares with it)."""
        known = self.__dict__.get("_seen_depth")
        if known is None or known[0] is not self.depth:
            known = (self.depth, np.isfinite(self.depth))
            self.__dict__["_seen_depth"] = known
        return known[1]


def observe(capture, instance_id: int, mask: np.ndarray, window: Window) -> Observed:
    seg = capture.seg if capture.seg is not None else mask.astype(np.int32) * instance_id
    wseg = window.take(seg, fill=-1)
    depth = capture.depth if capture.depth is not None else np.full(mask.shape, np.nan, np.float32)
    return Observed(mask=window.take(mask, fill=False), other=(wseg != instance_id) & (wseg != 0),
                    rgb=window.take(capture.rgb).astype(np.float32),
                    depth=window.take(depth, fill=np.nan).astype(np.float32),
                    inside=window.take(np.ones(mask.shape, bool), fill=False))


def compare(obs: Observed, rgb: np.ndarray, ids: np.ndarray, depth: np.ndarray,
            settings: PoseSettings, shape_only_depth: bool = False) -> dict:
    """Render-and-compare terms for one render (window-sized arrays, as the renderer gives them:
    ``depth`` NaN exactly where ``ids`` is 0); higher is better.

    ``shape_only_depth``: the depth agreement of the surfaces' shape, their median offset along
    the view removed (the depth nudge moves the winner by that offset afterwards)."""
    rendered = ids > 0
    # Another object's pixel hides ours if it is observed in front of the render. (A render's depth
    # is NaN exactly where nothing was drawn, where ~rendered already holds: NaN compares false.)
    seen_depth = obs.seen_depth
    occluded = obs.other & (~seen_depth | ~rendered | (obs.depth < depth - np.float32(0.03)))
    valid = ~occluded
    if obs.inside is not None:
        # Nothing was observed outside the image: a render reaching there is neither right nor wrong.
        valid &= obs.inside
    both = rendered & obs.mask
    inter = np.count_nonzero(both)
    union = np.count_nonzero((rendered | obs.mask) & valid)
    iou = inter / union if union else 0.0
    measured = both & seen_depth             # rendered pixels have a finite depth
    dres = obs.depth[measured] - depth[measured]
    dmed = float(_median_of_finite(dres)) if len(dres) else 0.0
    dev = dres - dmed if shape_only_depth else dres
    dsim = float(np.exp(-_median_of_finite(np.abs(dev)) / settings.depth_sigma_m)) if len(dres) else 0.0
    cdiff = np.abs(obs.rgb[both] - rgb[both].astype(np.float32)).mean() / 255 if inter else 1.0
    csim = float(np.exp(-cdiff / settings.colour_sigma))
    score = settings.w_iou * iou + settings.w_depth * dsim + settings.w_colour * csim
    out = {"iou": float(iou), "depth": dsim, "colour": csim, "depth_residual": dmed}
    if settings.w_edges > 0:
        out["edges"] = edge_agreement(obs.rgb, rgb, both)
        score += settings.w_edges * out["edges"]
    out["render"] = float(score)
    return out


def _median_of_finite(values: np.ndarray):
    """``np.median`` of a non-empty 1-D float array without NaN, the same value (its middle order
    statistic, or the mean of the two middle ones in the array's precision), without ``np.median``'s
    general-case work (a quarter of a render comparison's time). The middle values are summed and
    divided as np.median's mean does (a sum from +0: a middle -0.0 comes back +0.0, as there)."""
    n = len(values)
    half = n // 2
    first = half if n % 2 else half - 1
    middle = np.partition(values, (first, half))[first: half + 1]
    return middle.sum() / middle.dtype.type(len(middle))


def edge_agreement(observed: np.ndarray, rendered: np.ndarray, both: np.ndarray) -> float:
    """Correlation (clipped at 0) of the gradient magnitudes of two (S, S, 3) pictures inside ``both``
    (S, S) bool, away from its outline: drawer fronts, panels and legs, whatever the exposure or
    the light's colour (a gain scales a gradient; the correlation ignores the scale)."""
    from scipy import ndimage
    inner = ndimage.binary_erosion(both, iterations=2)
    if inner.sum() < 16:
        return 0.0
    mags = []
    for img in (observed, rendered):
        grey = np.asarray(img, np.float32).mean(-1)
        mags.append(np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))[inner])
    a, b = mags[0] - mags[0].mean(), mags[1] - mags[1].mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return max(float((a * b).sum()) / den, 0.0) if den > 0 else 0.0


class RenderScorer:
    """Renders hypotheses of one object in its window; one Renderer reused for everything.

    ``walls`` (the room's, ``point`` and ``normal`` into the room): a partial object's
    render score loses ``w_room`` per 0.1 m its footprint reaches through a wall — the
    unseen part of a border-cut bed may lie anywhere the image does not show, but not
    behind the wall.
    """

    recent_renders = 128       # renders kept for exact repeats (96² colour, ids, depth: ~100 kB each)

    def __init__(self, renderer, index, capture, world_from_camera: np.ndarray, settings: PoseSettings,
                 walls=()):
        self.renderer = renderer
        self.index = index
        self.capture = capture
        self.world_from_camera = np.asarray(world_from_camera, float)
        self.settings = settings
        self.walls = list(walls or [])
        self._renders: OrderedDict = OrderedDict()     # see render()

    def room_cost(self, obj, h: Hypothesis, guessed_extent: bool = False) -> tuple[float, float]:
        """(metres through a wall, score cost) of a partial object's placement, or of any
        object's when ``guessed_extent`` (its size was stretched to what was seen, so its
        unseen back is a guess too); (0, 0) otherwise."""
        if not self.walls or self.settings.w_room <= 0 or not (guessed_extent or is_partial(obj)):
            return 0.0, 0.0
        pts = self.index.geometry(h.asset_id).points
        if not len(pts):
            return 0.0, 0.0
        pen = room_penetration(h, pts.min(0), pts.max(0), self.walls)
        return pen, self.settings.w_room * max(pen - self.settings.room_tolerance_m, 0.0) / 0.1

    def render(self, h: Hypothesis, win: Window):
        """The hypothesis alone, rendered in ``win`` (a :class:`scenewright.render` result; shared,
        do not modify it).

        7-9 % of a scene's renders repeat an earlier one exactly (the same asset, placement and
        window: local yaw steps landing on a tried yaw, the colour fit re-rendering the winners);
        the renderer is deterministic, so the ``recent_renders`` last ones are kept and reused.
        """
        placed = h.world_from_object()
        key = (h.asset_id, placed.tobytes(), np.asarray(win.K, float).tobytes(), self.world_from_camera.tobytes())
        found = self._renders.get(key)
        if found is not None:
            self._renders.move_to_end(key)
            return found
        found = self.renderer.render([RenderItem(self.index.render_mesh(h.asset_id), placed, 1)], win.K,
                                     self.world_from_camera)
        self._renders[key] = found
        while len(self._renders) > self.recent_renders:
            self._renders.popitem(last=False)
        return found

    def centred_on_mask(self, obj, hyps: list[Hypothesis]) -> list[Hypothesis]:
        """Each hypothesis moved sideways across the line of sight so its rendered silhouette's
        centroid lands on the mask's column (one render each; copies; unchanged when already
        within a pixel).

        A small thing's points are few, so the ICP translation of each yaw hypothesis is off by a
        few centimetres — a third of a vase's width — and the silhouette IoU then ranks the yaws by
        how well ICP happened to place them rather than by their shape (a utensils pot: the right
        turn at IoU 0.56, 3 cm off, lost to one 58° off at 0.74)."""
        if obj.mask is None or not obj.mask.any():
            return hyps
        win = make_window(obj.mask, self.capture.K, self.settings.render_size)
        obs = observe(self.capture, obj.id, obj.mask, win)
        seen = obs.mask & ~obs.other
        if obs.inside is not None:
            seen &= obs.inside
        if seen.sum() < 8:
            return hyps
        ys, xs = np.nonzero(seen)
        target = np.array([xs.mean(), ys.mean()])
        camera_from_world = np.linalg.inv(self.world_from_camera)
        out = []
        for h in hyps:
            if h.extra.get("shape_only"):
                out.append(h)      # a stand-in's silhouette is another shape: its centroid says nothing of place
                continue
            res = self.render(h, win)
            drawn = (res.instance_ids > 0) & ~obs.other
            if obs.inside is not None:
                drawn &= obs.inside
            if drawn.sum() < 8:
                out.append(h)
                continue
            ry, rx = np.nonzero(drawn)
            du, dv = target - np.array([rx.mean(), ry.mean()])
            if abs(du) < 1.0 and (abs(dv) < 1.0 or not self.settings.centre_small_rows):
                out.append(h)
                continue
            z = float((camera_from_world[:3, :3] @ h.translation + camera_from_world[:3, 3])[2])
            # across the view only, at the same height: the thing keeps standing on what it stands on
            # (an image row is height and distance at once; the depth nudge sees to the distance)
            across = self.world_from_camera[:3, 0].copy()
            across[1] = 0.0
            move = across * du * z / win.K[0, 0]
            w, tall, d = self.index.sizes[self.index.row[h.asset_id]]
            if self.settings.centre_small_rows and tall >= 0.5 * min(w, d):
                # the image row by the height: dv pixels are dv·z/fy metres across the view, of
                # which a move in y makes cos(pitch) (the camera's y axis is down). Not for a flat
                # thing (a newspaper): its rows are where it lies on the table, not how high.
                down = self.world_from_camera[:3, 1]
                move[1] -= dv * z / win.K[1, 1] / max(abs(float(down[1])), 0.5)
            # ICP's error is centimetres: a move beyond half the thing's width means the silhouettes
            # differ in shape, not in place (held-out catalogs: a bushy stand-in for a yucca was
            # lifted 0.6 m by its centroid row)
            reach = 0.5 * float(min(w, d)) * float(np.min(h.scale))
            norm = float(np.linalg.norm(move))
            if norm > reach:
                move *= reach / norm
            moved = _variant(h, h.yaw, h.scale, h.translation + move, h.chamfer_m)
            moved.extra["centred"] = True
            out.append(moved)
        return out

    def score(self, obj, hyps: list[Hypothesis]) -> list[dict]:
        if obj.mask is None or not obj.mask.any():
            return [{"render": 0.0} for _ in hyps]
        win = make_window(obj.mask, self.capture.K, self.settings.render_size)
        obs = observe(self.capture, obj.id, obj.mask, win)
        out = []
        for h in hyps:
            res = self.render(h, win)
            r = compare(obs, res.rgb, res.instance_ids, res.depth, self.settings,
                        shape_only_depth=self.settings.depth_shape_cut and is_partial(obj))
            if h.extra.get("shape_only"):
                r["render"] -= (self.settings.w_colour - self.settings.w_colour_shape_only) * r["colour"]
            pen, cost = self.room_cost(obj, h)
            if cost > 0:
                r["through_wall_m"] = pen
                r["render"] -= cost
            out.append(r)
        return out


def is_partial(obj) -> bool:
    """Cut by the image border (perception's ``truncated``)."""
    return bool(getattr(obj, "truncated", False))


def _variant(h: Hypothesis, yaw: float, scale, translation, chamfer: float) -> Hypothesis:
    v = Hypothesis(asset_id=h.asset_id, category=h.category, yaw=yaw, scale=np.asarray(scale, float),
                   translation=np.asarray(translation, float), geometry=h.geometry,
                   appearance=h.appearance, size=h.size, prior=h.prior, score=h.score,
                   chamfer_m=chamfer)
    v.extra["yaws"] = h.extra.get("yaws", [])
    v.extra["retrieval_score"] = h.extra.get("retrieval_score", h.score)
    if h.extra.get("shape_only"):
        v.extra["shape_only"] = True
    if h.extra.get("extent_fit"):
        v.extra["extent_fit"] = h.extra["extent_fit"]     # turned or slid, still the stretched stand-in
    if h.extra.get("floor_pose"):
        # turned, still placed by its silhouette on its support: no depth nudge (scene 15 without
        # depth: a bottle on the table, turned to the room's yaw, was nudged 0.5 m off it by the drawn boxes)
        v.extra["floor_pose"] = True
    return v


def turned_about_middle(h, index, turn: float):
    """``h`` turned by ``turn`` (radians) about the middle of its asset's footprint (a copy)."""
    pts = index.geometry(h.asset_id).points
    middle = (pts.min(0) + pts.max(0)) / 2 * np.asarray(h.scale, float)
    middle[1] = 0.0
    centre = h.translation + placement_matrix(h.yaw, np.ones(3), np.zeros(3))[:3, :3] @ middle
    yaw = h.yaw + turn
    t = centre - placement_matrix(yaw, np.ones(3), np.zeros(3))[:3, :3] @ middle
    return _variant(h, yaw, h.scale, t, h.chamfer_m)


def category_weight(obj, settings: PoseSettings) -> float:
    """Weight of the label's category prior: more for border-cut objects (a cut box says little about size)."""
    return settings.w_category_partial if getattr(obj, "truncated", False) else settings.w_category


def refine_pose(obj, hyps: list[Hypothesis], scorer: RenderScorer | None,
                settings: PoseSettings, small: bool = False, radial: bool = False) -> list[Hypothesis]:
    """Re-rank an object's hypotheses by render-and-compare; best first.

    Without a renderer (``scorer`` None) the retrieval order stands. Each returned
    hypothesis carries ``extra["render"]`` (the compare terms) when it was rendered.
    """
    if not hyps or scorer is None:
        return hyps
    trials: list[Hypothesis] = []
    n_yaws = settings.render_yaws_small if small else settings.render_yaws
    n_assets = settings.render_assets
    if radial and settings.radial_all_yaws:
        # A plant's leaves or a lamp's arm: the shape is not round though the category is,
        # and geometry alone hardly tells the yaw; the rendered silhouette and texture do.
        n_yaws = 1000
    # A border-cut view's points hardly tell the turn (a cabinet seen from its side fits them as
    # well turned 180°, the back of a cut armchair as well turned 90°): the chamfer's top yaws
    # need not hold the right one, so the leading assets have every yaw rendered — when they
    # look like the object: a stand-in's (``shape_only``) extra turns only add chances to fit by
    # accident (held-out catalogs, seed 1: trans-AUC 0.827 -> 0.816 without this condition).
    n_lead = (settings.cut_yaw_assets if is_partial(obj) and category_info(hyps[0].category).role != "small"
              and not hyps[0].extra.get("shape_only") else 0)
    for k, h in enumerate(hyps[: n_assets]):
        n = 1000 if k < n_lead else n_yaws
        for yaw, scale, t, cham in h.extra.get("yaws", [(h.yaw, h.scale, h.translation, h.chamfer_m)])[: n]:
            trials.append(_variant(h, yaw, scale, t, cham))
    if is_partial(obj):
        # Where the unseen part lies: one hypothesis per start (box shifted along each axis);
        # the silhouette inside the image and the walls decide.
        for h in hyps[: settings.unseen_assets]:
            for yaw, scale, t, cham in h.extra.get("unseen", []):
                trials.append(_variant(h, yaw, scale, t, cham))
    if small and not is_partial(obj):
        if settings.catalog_size_small > 0:
            # A small thing's box comes from few depth points, which miss thin and shiny parts (a
            # utensils pot's handles, a vase's stems: boxes 30-40 % under the catalog), so the
            # fitted scale shrinks it and the right turn then fits its silhouette worse than a
            # wrong one; the catalog size is rendered too and the picture decides.
            # not for a stand-in (no asset looked like the object): its catalog size is another thing's
            lead = {h.asset_id for h in hyps[: settings.catalog_size_small] if not h.extra.get("shape_only")}
            trials += [_variant(h, h.yaw, np.ones(3), h.translation, h.chamfer_m) for h in list(trials)
                       if h.asset_id in lead and np.max(np.abs(np.log(np.asarray(h.scale, float)))) > 0.03]
        if settings.centre_small:
            trials = scorer.centred_on_mask(obj, trials)
    results = scorer.score(obj, trials)
    for h, r in zip(trials, results):
        h.extra["render"] = r
        h.extra["retrieval_score"] = h.score
        # The label's category counts again here: render-and-compare alone would pick
        # a bookcase for a sideboard whenever the bookcase happens to fit the pixels better.
        h.score = r["render"] + settings.w_retrieval * h.score + category_weight(obj, settings) * h.prior
    trials.sort(key=lambda h: -h.score)
    if (small or radial) and settings.nudge_trials > 0 and not is_partial(obj):
        trials = _nudged_trials(obj, trials, scorer, settings.nudge_trials, hyps[0].asset_id)
    if settings.local_yaw_deg > 0:
        d = np.radians(settings.local_yaw_deg)
        n_leaders = settings.local_yaw_leaders_small if (small or radial) and not is_partial(obj) else 1
        local = []
        for lead in _distinct_yaw_leaders(trials, n_leaders, d / 2):
            base = lead.score - lead.extra["render"]["render"]
            for s in (-1, 1):
                v = _variant(lead, lead.yaw + s * d, lead.scale, lead.translation, lead.chamfer_m)
                v.extra["base_score"] = base
                local.append(v)
        for h, r in zip(local, scorer.score(obj, local)):
            h.extra["render"] = r
            h.score = r["render"] + h.extra.pop("base_score")
        trials.extend(local)
        trials.sort(key=lambda h: -h.score)
    if settings.shift_truncated and (settings.shift_all or getattr(obj, "truncated", False)):
        trials.insert(0, _shift_search(obj, trials.pop(0), scorer, settings))
    return trials


def _distinct_yaw_leaders(trials: list[Hypothesis], n: int, min_apart: float) -> list[Hypothesis]:
    """The ``n`` best of ``trials`` (best first) whose yaws lie at least ``min_apart`` (radians) from
    every better one's; the first is always the best."""
    leaders: list[Hypothesis] = []
    for h in trials:
        if len(leaders) >= n:
            break
        if all(abs(np.angle(np.exp(1j * (h.yaw - o.yaw)))) >= min_apart for o in leaders):
            leaders.append(h)
    return leaders


def _nudged_trials(obj, trials: list[Hypothesis], scorer: RenderScorer, n: int, asset_id: str) -> list[Hypothesis]:
    """``trials`` (scored, best first) with those of the ``n`` best that place ``asset_id`` (the one
    retrieval ranks first) also tried moved along their viewing ray by their own median depth
    residual; re-sorted. Only the first asset: moving the others too gives a look-alike more chances
    to fit by accident (held-out dev seed 11: a plant's fourth look-alike won after its nudge and was
    then placed 0.8 m off)."""
    moved = []
    for h in trials[:n]:
        if h.asset_id != asset_id or h.extra.get("shape_only"):
            continue      # a stand-in's residual is the difference of two shapes as much as of two places
        r = h.extra.get("render") or {}
        dz = float(r.get("depth_residual", 0.0))
        w, _, d = scorer.index.sizes[scorer.index.row[h.asset_id]]
        # ICP's error is centimetres: a residual beyond half the thing's width is another shape's
        # depth, not its place (a held-out plant's look-alike moved 0.8 m by one)
        if abs(dz) < 1e-3 or abs(dz) > 0.5 * float(min(w, d)) * float(np.min(h.scale)):
            continue
        v = _variant(h, h.yaw, h.scale, h.translation, h.chamfer_m)
        v.extra["base_score"] = h.score - float(r.get("render", 0.0))
        _along_ray(v, scorer.world_from_camera, dz)
        moved.append(v)
    if not moved:
        return trials
    for h, r in zip(moved, scorer.score(obj, moved)):
        h.extra["render"] = r
        h.extra["nudged"] = True
        h.score = r["render"] + h.extra.pop("base_score")
    return sorted(trials + moved, key=lambda h: -h.score)


def _shift_search(obj, best: Hypothesis, scorer: RenderScorer, settings: PoseSettings) -> Hypothesis:
    """Slide a border-cut object on the floor plane where its rendered silhouette fits best.

    Its points only show the part inside the image, so ICP leaves it anywhere along the
    cut; the silhouette of the part that must be inside the image still tells. Steps of
    ``shift_steps_m``, greedy, improvements only, along the floor's directions across and along
    the line of sight (``shift_view_axes``; else world x and z). A step across the view keeps the
    depth agreement and moves the silhouette; one along world x or z changes both at once, so an
    armchair cut by the border, 0.25 m off across the view, found no single x or z step better
    (every one lost 0.5 in depth agreement for its gain in IoU) and stayed there.
    """
    base = best.score - best.extra["render"]["render"]
    axes = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    if settings.shift_view_axes:
        view = np.asarray(scorer.world_from_camera, float)[:3, :3]
        across, along = view[:, 0].copy(), view[:, 2].copy()
        across[1] = along[1] = 0.0
        if np.linalg.norm(across) > 1e-6 and np.linalg.norm(along) > 1e-6:
            axes = np.array([across / np.linalg.norm(across), along / np.linalg.norm(along)])
    for step in settings.shift_steps_m:
        trials = []
        for direction in (axes[0], -axes[0], axes[1], -axes[1]):
            t = best.translation + step * direction
            trials.append(_variant(best, best.yaw, best.scale, t, best.chamfer_m))
        for h, r in zip(trials, scorer.score(obj, trials)):
            h.extra["render"] = r
            h.score = r["render"] + base
        top = max(trials, key=lambda h: h.score)
        if top.score > best.score + 1e-3:
            top.extra["shifted"] = True
            best = top
    return best


def nudge_along_ray(h: Hypothesis, world_from_camera: np.ndarray, min_agreement: float = 0.0) -> Hypothesis:
    """Move the placement by the median depth residual along the (horizontal) viewing ray.

    Keeps y (the support height) so a floor object stays on the floor. A stand-in (no asset looked
    like the object: ``shape_only``, or an asset stretched by the extent fit) moves only when its
    render's depth agreement is at least ``min_agreement``: its median residual is the difference
    of two shapes as much as of two positions (a bowl for a bread box: agreement 0.01, residual
    0.21 m, the ICP placement on the points 2 cm off), while an asset that is the object, rendered
    20 cm too near, disagrees just as much and is set right by it (a bed, a Christmas tree).
    """
    r = h.extra.get("render") or {}
    dz = float(r.get("depth_residual", 0.0))
    if abs(dz) < 1e-3 or abs(dz) > 0.5:
        return h
    stand_in = bool(h.extra.get("shape_only") or h.extra.get("extent_fit"))
    if stand_in and float(r.get("depth", 1.0)) < min_agreement:
        return h
    _along_ray(h, world_from_camera, dz)
    return h


def _along_ray(h: Hypothesis, world_from_camera: np.ndarray, dz: float) -> None:
    """Move ``h`` by ``dz`` of camera depth along its horizontal viewing ray (its height kept)."""
    cam = np.asarray(world_from_camera, float)
    ray = h.translation - cam[:3, 3]
    ray[1] = 0.0
    n = np.linalg.norm(ray)
    if n < 1e-6:
        return
    # depth is along the camera z axis; scale the step to the horizontal ray direction
    fwd = cam[:3, 2].copy()
    fwd[1] = 0.0
    cos = abs(float(fwd @ ray / n)) / max(np.linalg.norm(fwd), 1e-6)
    h.translation = h.translation + ray / n * dz / max(cos, 0.3)


def relative_nudges(hyps: list[Hypothesis], world_from_camera: np.ndarray, share: float,
                    max_agreement: float = 1.0, min_objects: int = 3) -> dict[int, float]:
    """Silhouette-placed hypotheses moved along their rays by ``share`` of what the depth map says
    about them relative to each other; {index in ``hyps``: camera-depth step (m)}.

    Each one's render residual (median observed − rendered depth over its mask) over its camera
    depth is how much farther, as a share, the map sees it than it is placed; an estimate's scale
    error and smooth warp move every object's share alike, so only each one's difference from their
    median is evidence about its own placement. Those whose render agrees in depth better than
    ``max_agreement`` stay (their silhouette and the map already agree in shape and place); fewer
    than ``min_objects`` with a residual: no median to compare against, nothing moves.
    """
    cfc = np.linalg.inv(np.asarray(world_from_camera, float))
    shares = {}
    for i, h in enumerate(hyps):
        r = h.extra.get("render") or {}
        if not h.extra.get("floor_pose") or "depth_residual" not in r:
            continue
        z = float((cfc[:3, :3] @ np.asarray(h.translation, float) + cfc[:3, 3])[2])
        if z > 0.3:
            shares[i] = (float(r["depth_residual"]) / z, z, float(r.get("depth", 0.0)))
    if len(shares) < max(min_objects, 2) or share <= 0:
        return {}
    median = float(np.median([v[0] for v in shares.values()]))
    steps = {}
    for i, (rel, z, agreement) in shares.items():
        if agreement > max_agreement:
            continue
        dz = share * (rel - median) * z
        if abs(dz) >= 1e-3:
            _along_ray(hyps[i], world_from_camera, dz)
            steps[i] = dz
    return steps


def world_matrix(h: Hypothesis) -> np.ndarray:
    return placement_matrix(h.yaw, h.scale, h.translation)


def front(yaw: float) -> np.ndarray:
    """(2,) x/z of the object's front (+Z of its frame) in the world for ``yaw``."""
    return np.array([np.sin(yaw), np.cos(yaw)])


def prefer_facing(seat_hyps: list[Hypothesis], table_xz: np.ndarray, obj, scorer: RenderScorer | None,
                  settings: PoseSettings) -> list[Hypothesis]:
    """Chairs stand at their table facing it (R2's ``directlyFacing``).

    The back of a chair seen over a table looks much the same from either side, so
    when the best hypothesis turns its front away from the nearby table, the asset's
    geometric yaws that face the table are rendered too, and the best of them wins
    if it scores within ``facing_margin`` of the best.
    """
    def cos(yaw, t):
        d = table_xz - np.asarray(t, float)[[0, 2]]
        return float(front(yaw) @ d / max(np.linalg.norm(d), 1e-6))
    return prefer_direction(seat_hyps, cos, obj, scorer, settings)


def prefer_room_facing(hyps: list[Hypothesis], wall_normal: np.ndarray, obj, scorer: RenderScorer | None,
                       settings: PoseSettings) -> list[Hypothesis]:
    """Wall furniture (beds, wardrobes, bookcases...) has its back to the wall, front into the room
    (Imaginarium S4 step 3). ``wall_normal`` (3,) points into the room."""
    n = np.asarray(wall_normal, float)[[0, 2]]
    n = n / max(np.linalg.norm(n), 1e-6)
    return prefer_direction(hyps, lambda yaw, t: float(front(yaw) @ n), obj, scorer, settings)


def prefer_direction(hyps: list[Hypothesis], cos, obj, scorer: RenderScorer | None,
                     settings: PoseSettings) -> list[Hypothesis]:
    """If the best hypothesis' front is off (``cos(yaw, t) < 0.5``), render the asset's
    geometric yaws with ``cos > 0.7`` and take the best if within ``facing_margin``."""
    if not hyps:
        return hyps
    best = hyps[0]
    if cos(best.yaw, best.translation) > 0.5:
        return hyps
    options = [(y, sc, t, c) for y, sc, t, c in best.extra.get("yaws", []) if cos(y, t) > 0.7][:3]
    if not options:
        return hyps
    trials = [_variant(best, y, sc, t, c) for y, sc, t, c in options]
    base = settings.w_retrieval * best.extra.get("retrieval_score", 0.0) + category_weight(obj, settings) * best.prior
    if scorer is not None:
        for h, r in zip(trials, scorer.score(obj, trials)):
            h.extra["render"] = r
            h.score = r["render"] + base
    else:
        for h in trials:
            h.score = best.score - 0.1 * (h.chamfer_m - best.chamfer_m) / 0.01
    pick = max(trials, key=lambda h: h.score)
    if scorer is not None and settings.local_yaw_deg > 0:
        d = np.radians(settings.local_yaw_deg)
        local = [_variant(pick, pick.yaw + k * d, pick.scale, pick.translation, pick.chamfer_m) for k in (-1, 1)]
        for h, r in zip(local, scorer.score(obj, local)):
            h.extra["render"] = r
            h.score = r["render"] + base
        pick = max([pick] + local, key=lambda h: h.score)
    if pick.score >= best.score - settings.facing_margin:
        pick.extra["facing_prior"] = True
        return [pick] + hyps
    return hyps


def prefer_yaw(hyps: list[Hypothesis], yaw: float, obj, scorer: RenderScorer | None,
               settings: PoseSettings) -> list[Hypothesis]:
    """Round things (plants, vases, lamps) look the same at any yaw: take the room's yaw.

    A person-made room turns them like their surroundings (a vase like the table it
    stands on, a floor lamp toward the room's focus). The best hypothesis is rendered at
    ``yaw`` (radians); that variant wins if it scores within ``radial_margin`` of the
    best, so a lamp whose arm does show its turn keeps the observed yaw.
    """
    if not hyps:
        return hyps
    best = hyps[0]
    pick = _variant(best, float(yaw), best.scale, best.translation, best.chamfer_m)
    if scorer is None:
        pick.score = best.score
    else:
        base = best.score - (best.extra.get("render") or {}).get("render", 0.0)
        r = scorer.score(obj, [pick])[0]
        pick.extra["render"] = r
        pick.score = r["render"] + base
    if pick.score >= best.score - settings.radial_margin:
        pick.extra["room_yaw_prior"] = True
        return [pick] + hyps
    return hyps


def room_penetration(h: Hypothesis, extent_lo: np.ndarray, extent_hi: np.ndarray, walls) -> float:
    """Metres by which the placed asset's footprint reaches through the room's walls (0 inside).

    ``extent_lo``, ``extent_hi`` (3,) the asset's box in its object frame; ``walls`` with
    ``point`` and ``normal`` (into the room). The deepest of the four footprint corners
    behind any wall plane.
    """
    if not walls:
        return 0.0
    lo, hi = np.asarray(extent_lo, float), np.asarray(extent_hi, float)
    corners = np.array([[x, 0.0, z, 1.0] for x in (lo[0], hi[0]) for z in (lo[2], hi[2])])
    world = (corners @ h.world_from_object().T)[:, :3]
    deepest = 0.0
    for w in walls:
        n = np.asarray(w.normal, float)
        n = n / max(np.linalg.norm(n), 1e-9)
        signed = (world - np.asarray(w.point, float)) @ n
        deepest = max(deepest, float(-signed.min()))
    return deepest
