"""Metric depth for the layout method from whatever depth a capture has (or none).

``condition_depth(capture, index, settings, extractor) -> (capture, record)`` runs before
perception. It returns a capture whose depth is metric (the same object, untouched, for
metric depth) and a JSON-able record of what it concluded (``scene.json`` extra.depth):

- ``given``     (declared ``metric``): nothing changes;
- ``estimated`` (``estimated-metric``: a monocular model's metres): the shape is trusted only
  roughly, the scale not at all. First the shape: each segment's rim takes its interior's
  depth (an estimate bleeds across object edges: :func:`clean_segments`), and a smooth
  correction (a degree-2 polynomial of log depth in the image coordinates) makes the floor
  pixels one plane pitched as the image's vanishing lines say (:func:`warp_correction`).
  Then one global factor makes the identified objects' known sizes agree with what the
  depth shows: a first pass with each category's median size, a second with each object's
  asset identified by appearance (:func:`look_alike`: free of the scale being solved;
  robust: a weighted median over objects), the camera kept at eye level
  (``camera_height_band``) in both. With ``backbone`` "metrology" (the default) the scale comes
  instead from the no-depth solution (:func:`metrology_solution`): the factor that puts the
  corrected map's floor at the metrology camera's height; the layout pipeline then places the
  floor objects by their silhouettes on that floor, as with no depth;
- ``relative``  (affine-invariant depth or disparity): the unknown shift sets the map's
  shape (how much farther the far wall is than the nearest chair). Every candidate shape
  keeps planes planar but changes the angles between them, so the shift whose room
  has its walls square to the floor (and to each other) wins; then the rims, the warp and
  the scale as above;
- ``none``: single-view metrology (:mod:`scenewright.perception.metrology`): the camera's
  pitch and height from where floor objects meet the floor and how tall their known
  sizes look, each object stood there as a box of its size (on its support when it
  stands on another object), and a depth map drawn from that floor and those boxes —
  then the same two passes (category sizes, then identified assets).

The record: ``declared`` (the capture's kind), ``used_as`` (the mode run), ``scale`` and
``shift`` (the mapping found from the stored values to metres; the correction below applies
before ``scale``), ``correction`` (estimated / relative: the warp's degree, coefficients,
floor pixels, largest correction in %, the floor's height in the corrected map's units, the
lines' pitch), camera height and pitch,
per-object ``confidence`` (how well its size agrees with the consensus) and ``flags``
(``single_object_low_confidence``, ``size_evidence_inconsistent``, ``scale_out_of_bounds``,
``no_size_evidence``, ``shift_unresolved``, ``warp_unresolved``, ``camera_height_clamped``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from scenewright.errors import InputError
from scenewright.geometry.transforms import rigid_inverse
from scenewright.methods.layout.floor_pose import project

MODES = ("auto", "given", "estimated", "relative", "none")
KIND_TO_MODE = {"metric": "given", "estimated-metric": "estimated", "relative": "relative"}


@dataclass
class DepthFitSettings:
    """How depth that is not metric is made metric (recorded in scene.json settings)."""

    mode: str = "auto"                               # auto = what the capture declares; MODES
    passes: int = 2                                  # size evidence: category medians, + identified assets
    shape_candidates: int = 17                       # relative: far/near ratios tried (log-spaced)
    shape_ratio_range: tuple[float, float] = (1.5, 40.0)
    shape_points: int = 8000                         # room pixels per candidate room fit
    scale_bounds: tuple[float, float] = (0.2, 5.0)   # corrections beyond are clamped and flagged
    inconsistent_mad_log: float = 0.25               # spread of log size ratios that is flagged
    confidence_sigma_log: float = 0.2                # object confidence = exp(-(dev / this)²)
    height_prior_m: float = 1.45                     # only when no object gives size evidence
    silhouette_pose: bool = False                    # none: pose by silhouette and colour only (no depth term,
                                                     # no depth nudge, every object slid on its support, more yaws)
    silhouette_yaws: int = 4                         # … geometric yaws rendered per asset then
    box_yaws_deg: tuple[float, ...] = (0.0,)         # none: turns tried for each box in the camera fit (0 = square)
    hidden_sides: bool = True                        # none: a mask side ending against a nearer instance is not a side
    unknown_rests_on_support: bool = True            # none: an unknown label whose mask rests on another object's
                                                     # (no taller than it) is a small thing on that one's top, drawn
                                                     # at the small things' median size — not a floor object slid
                                                     # down its column until a furniture-sized box meets its top row
    side_cut_weight: float = 1.0                     # none: weight in the camera fit of objects cut by the left/right
                                                     # border (while two uncut ones give evidence)
    shift_pitch_weight: float = 2.0                  # relative: weight of the lines' pitch in the shift choice
    vertical_lines_weight: float = 0.5               # none: weight of the straight lines' vanishing points in the camera fit
    warp_degree: int = 2                             # estimated/relative: degree of the smooth log-depth correction
                                                     # fitted so floor pixels lie on the plane the lines' pitch gives (0 = off)
    warp_margin_px: float = 6.0                      # … floor pixels used lie this far from every object (bleeding)
    warp_floor_band: float = 0.03                    # … and within this log-height of the floor
    warp_min_pixels: int = 2000                      # … fewer: no correction (flag warp_unresolved)
    warp_max_log: float = 0.15                       # … |log correction| is clipped to this (far from the floor
                                                     # the polynomial extrapolates)
    camera_height_band: tuple[float, float] = (1.1, 1.8)  # estimated/relative: a photo is taken at eye level; a
                                                     # scale putting the camera (floor fitted by the warp
                                                     # correction) outside is moved to the band's edge before
                                                     # the assets are identified, and after
    identify_by: str = "appearance"                  # scale votes' assets: "appearance" (the category's asset whose
                                                     # rendered views look most like the crop: free of the scale)
                                                     # | "retrieval" (the retrieval's best at the current scale)
    none_identify_by: str = "retrieval"              # none: the second metrology pass's assets, as identify_by.
                                                     # "appearance" puts that pass's camera far nearer (median
                                                     # |error| 14.5 → 5.2 %) and costs 16 % less CPU, but after the
                                                     # scale curves rot 0.852 → 0.834, trans 0.764 → 0.753 (seed 0;
                                                     # docs/layout.md): kept "retrieval"
    vote_width_weight: float = 0.25                  # share of the longest seen horizontal side in each object's
                                                     # scale vote (the rest: its height); a box fitted to one
                                                     # side's noisy points reads wide, so the width biases low
    even_split_midpoint: bool = False                # the votes' weighted median at an even split (two equal
                                                     # votes): their midpoint (False: the lower one, biased low)
    clean_voters_min: int = 0                        # with at least this many whole floor objects voting (top,
                                                     # sides and bottom inside the frame), only they set the scale:
                                                     # a cut object's visible part and a small thing's own height
                                                     # (a few pixels of a vase) read far from their asset's size
    debleed_px: float = 4.0                          # estimated/relative: each segment's rim this wide takes the depth
                                                     # of its nearest interior pixel (0 = off)
    denoise_px: float = 0.0                          # … and its interior is smoothed by a Gaussian of this σ (0 = off)
    rim_fill: str = "nearest"                        # … the rim copies its nearest interior pixel's depth | "plane":
                                                     # continues the interior's local plane of inverse depth (the
                                                     # later stages' map; "plane" there: F-S 87.4 -> 77.2 on mono)
    vote_rim_fill: str = "nearest"                   # … the same for the map the scale votes read (a tabletop's far
                                                     # edge stays at its height: seen heights right)
    rim_plane_sigma_px: float = 3.0                  # … Gaussian σ of the neighbourhood that plane is fitted over
    backbone: str = "metrology"                      # estimated/relative: what places the scene — "depth" (the
                                                     # estimate, its scale from the objects' sizes in it) | "metrology"
                                                     # (the no-depth solution: camera from where floor objects meet
                                                     # the floor and their known sizes, floor objects placed by their
                                                     # silhouettes; the estimate, scaled so its floor lies at that
                                                     # camera height, gives the shape and the other objects' places)
    backbone_walls: bool = False                     # … "metrology": the estimate's walls still take part in the
                                                     # arrangement (objects set flush to them, pushed out of them)
    backbone_disagree_share: float = 0.35            # … a floor object placed by its silhouette farther than this
                                                     # share of its distance from where the estimate sees it is placed
                                                     # by the estimate instead (0 = off)
    backbone_disagree_footprint: bool = False        # … plus half the placed asset's longest horizontal side (a bed
                                                     # seen from its foot: its points' median is far from its centre)
    backbone_disagree_by: str = "surface"            # … what that distance is measured to: "centre" (the placement's
                                                     # position against the median of the object's points) | "surface"
                                                     # (the median of the points' distances to the placed asset's
                                                     # surface: a bed seen from its foot agrees, see surface_misfit)
    backbone_disagree_surface_share: float = 0.12    # … "surface": that median beyond this share of the points'
                                                     # distance from the camera disagrees
    backbone_relative_share: float = 0.3             # … "metrology": each silhouette-placed object moves along its
                                                     # horizontal ray by this share of how much farther the estimate
                                                     # sees it than the other such objects (its render's median depth
                                                     # residual over its distance, less their median): the estimate's
                                                     # smooth warp cancels between neighbours (0 = off)
    backbone_relative_max_agreement: float = 0.3     # … only objects whose render's depth agreement is at most this
                                                     # (a close fit has nothing to say beyond the silhouette)
    contact_range_max: float = 0.0                   # estimated/relative: each posed floor object whose mask's bottom
                                                     # is seen is slid to (or from) the camera until its silhouette's
                                                     # lowest row meets the mask's — by at most this share of its
                                                     # distance (0 = off; see contact_range)


@dataclass
class SizeVote:
    """One object's say on the scale: reference size over seen size (log), and its weight."""

    id: int
    log_ratio: float
    weight: float
    how: str                                         # "asset" | "category" | "library"
    whole_floor_object: bool = False                 # a floor object that no image border cuts


def resolve_mode(capture, mode: str) -> str:
    """The mode to run: ``mode`` unless "auto", else what the capture declares (no depth → none)."""
    if mode not in MODES:
        raise InputError(f"depth.mode must be one of {', '.join(MODES)} (got {mode!r})")
    if mode == "auto":
        return "none" if capture.depth is None else KIND_TO_MODE[capture.depth_kind]
    if mode != "none" and capture.depth is None:
        raise InputError(f"{capture.path}: depth.mode {mode} but the capture has no depth.npy or depth.png")
    if mode == "given" and capture.depth_kind == "relative":
        raise InputError(f"{capture.path}: depth.mode given, but depth.json says the depth is relative "
                         "(not metres); use --set depth.mode=relative")
    return mode


def _room_ids(capture, settings_pattern: str) -> set[int]:
    room_re = re.compile(settings_pattern, re.IGNORECASE)
    return {i for i, lab in capture.labels.items() if lab and room_re.search(lab.strip())}


def _with_depth(capture, depth: np.ndarray):
    return dataclasses.replace(capture, depth=np.asarray(depth, np.float32), depth_kind="metric",
                               depth_quantity="depth")


def _reference_sizes(index, category: str | None) -> tuple[np.ndarray, str]:
    rows = index.categories == category if category is not None else None
    if rows is not None and np.any(rows):
        return np.median(index.sizes[rows], axis=0), "category"
    return np.median(index.sizes, axis=0), "library"


def small_reference_size(index) -> np.ndarray:
    """The median catalog size (3,) of the things that stand on furniture (taxonomy role ``small``)."""
    from scenewright.library.categories import CATEGORIES
    small = [c for c, info in CATEGORIES.items() if info.role == "small"]
    rows = np.isin(index.categories, small)
    return np.median(index.sizes[rows], axis=0) if np.any(rows) else np.median(index.sizes, axis=0)


def size_votes(capture, index, seed: int, extractor=None, retrieval=None, identify: bool = False,
               scale_trust: float = 0.5, scale_bounds=(0.6, 1.6),
               width_weight: float = 0.25, identify_by: str = "retrieval",
               retrieved: dict | None = None) -> tuple[list[SizeVote], object, dict]:
    """Perceive ``capture`` (metric depth) and let every object vote for a global scale factor.

    A vote is log(reference height / seen height) (3/4) and log(reference / seen longest
    horizontal side) (1/4): height is what a depth map shows best and is free of the
    unknown yaw. Reference: the identified asset's size (``identify``: by ``identify_by``, see
    :func:`look_alike`; "retrieval": the retrieval's best hypothesis at this scale), else the
    category's median. Floor things measure their height
    from the floor (a hidden bottom does not shrink them); objects whose top or whose
    whole extent is cut by the border, and those without points, do not vote.
    Returns (votes, observation, {id: identified asset's catalog size (3,)}); ``retrieved`` (a dict)
    gets {id: the retrieval's hypotheses} of the objects identified by retrieval.
    """
    from scenewright.library.categories import category_info
    from scenewright.methods.layout.labels import map_label
    from scenewright.methods.layout.retrieval import make_query, retrieve
    from scenewright.perception import PerceptionSettings, perceive
    observation = perceive(capture, PerceptionSettings(seed=seed))
    wfc = np.asarray(observation.world_from_camera, float)
    votes: list[SizeVote] = []
    picked: dict[int, np.ndarray] = {}
    for obj in observation.objects:
        if obj.box is None or obj.points is None or len(obj.points) < 20:
            continue
        category = map_label(obj.label).category
        small = category is not None and category_info(category).role == "small"
        ref, how = _reference_sizes(index, category)
        if identify and category is not None and retrieval is not None:
            support = None if (small or observation.floor is None) else 0.0
            query = make_query(obj, capture, wfc, extractor, retrieval, support_y=support, seed=seed,
                               depth=observation.depth, small=small)
            if identify_by == "appearance":
                asset = look_alike(query, category, index, extractor, retrieval)
            else:
                hyps = retrieve(query, category, index, extractor, retrieval, scale_trust, scale_bounds)
                asset = hyps[0].asset_id if hyps else None
                if retrieved is not None and hyps:
                    retrieved[int(obj.id)] = hyps
            if asset is not None:
                ref, how = index.sizes[index.row[asset]], "asset"
                picked[int(obj.id)] = ref
        ys, xs = np.nonzero(obj.mask)
        if len(ys) == 0 or ys.min() <= 1 or (small and obj.truncated):   # the top is cut: height unknown
            continue
        box = obj.box
        top = box.centre[1] + box.size[1] / 2
        seen_h = top if (observation.floor is not None and not small) else box.size[1]
        seen_w = max(box.size[0], box.size[2])
        if seen_h <= 1e-3 or seen_w <= 1e-3:
            continue
        lr = (1.0 - width_weight) * np.log(ref[1] / seen_h)
        lr += width_weight * (np.log(max(ref[0], ref[2]) / seen_w) if not obj.truncated else np.log(ref[1] / seen_h))
        weight = {"asset": 1.0, "category": 1.0, "library": 0.25}[how] * (0.5 if obj.truncated else 1.0)
        whole = not small and not obj.truncated and observation.floor is not None
        votes.append(SizeVote(int(obj.id), float(lr), weight, how, whole))
    return votes, observation, picked


def look_alike(query, category: str, index, extractor, retrieval) -> str | None:
    """The asset of ``category`` (and the categories its label may mean) whose rendered views
    look most like the object's crop, or None when none looks like it (best cosine below
    ``retrieval.appearance_trust``) or there is no appearance descriptor.

    Appearance does not change with the depth's scale, so the asset found here — and the
    scale its known size implies — does not depend on the scale being solved. Retrieval
    proper also weighs the seen size and the shape at the current scale: read at a wrong
    scale, a 0.8 m chair looks like a 1.0 m one, which then agrees with that scale.
    """
    from scenewright.methods.layout.retrieval import prefilter
    if query.feature is None:
        return None
    every = dataclasses.replace(retrieval, w_size=0.0, max_candidates=len(index))
    cands = [a for a, prior, _ in prefilter(index, category, query.box_size, query.partial, every)
             if prior >= 0.9]
    best, best_cos = None, -np.inf
    for asset in cands:
        feats, _, _ = index.view_features(asset, extractor)
        if len(feats):
            cos = float(np.max(feats @ query.feature))
            if cos > best_cos:
                best, best_cos = asset, cos
    return best if best_cos >= retrieval.appearance_trust else None


def weighted_median(values: np.ndarray, weights: np.ndarray, midpoint: bool = False) -> float:
    """Median of ``values`` (N,) with non-negative ``weights`` (N,): the lower value at an even
    split (e.g. two equal votes), or with ``midpoint`` the mean of the two, as the plain median."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    c = np.cumsum(w)
    k = int(np.searchsorted(c, 0.5 * c[-1]))
    if midpoint and k + 1 < len(v) and np.isclose(c[k], 0.5 * c[-1], rtol=1e-9, atol=0.0):
        return float(0.5 * (v[k] + v[k + 1]))     # the half falls between two values: not the lower one
    return float(v[k])


def consensus(votes: list[SizeVote], s: DepthFitSettings, flags: list[str]) -> tuple[float | None, dict]:
    """(log scale correction or None without votes, per-object {confidence, log_ratio, how}).

    With at least ``s.clean_voters_min`` whole floor objects among ``votes``, only they count
    (the others are still given a confidence against the consensus)."""
    if not votes:
        return None, {}
    lr = np.array([v.log_ratio for v in votes])
    w = np.array([v.weight for v in votes])
    whole = np.array([v.whole_floor_object for v in votes])
    counted = whole if s.clean_voters_min > 0 and whole.sum() >= s.clean_voters_min else np.ones(len(votes), bool)
    med = weighted_median(lr[counted], w[counted], midpoint=s.even_split_midpoint)
    mad = float(np.median(np.abs(lr - med))) if len(votes) > 2 else float(np.max(np.abs(lr - med)))
    if len(votes) >= 2 and mad > s.inconsistent_mad_log:
        flags.append("size_evidence_inconsistent")
    per = {}
    for v, c in zip(votes, counted):
        conf = float(np.exp(-((v.log_ratio - med) / s.confidence_sigma_log) ** 2))
        if len(votes) == 1:
            conf = min(conf, 0.3)          # nothing to agree with: low by construction
        per[v.id] = {"confidence": round(conf, 3), "size_ratio": round(float(np.exp(v.log_ratio)), 4),
                     "reference": v.how, "counted": bool(c)}
    return med, per


def _clamp(log_c: float, s: DepthFitSettings, flags: list[str]) -> float:
    lo, hi = np.log(s.scale_bounds)
    if not lo <= log_c <= hi:
        flags.append("scale_out_of_bounds")
        return float(np.clip(log_c, lo, hi))
    return log_c


def _within_height_band(c: float, floor_height: float | None, s: DepthFitSettings, flags: list[str]) -> float:
    """``c`` moved so the camera (``floor_height`` above the floor in the depth's units) stands
    within ``s.camera_height_band``; flag ``camera_height_clamped`` when it had to move."""
    if not floor_height or floor_height <= 0:
        return c
    lo, hi = s.camera_height_band
    h = c * floor_height
    if lo <= h <= hi:
        return c
    if "camera_height_clamped" not in flags:
        flags.append("camera_height_clamped")
    return float(np.clip(h, lo, hi) / floor_height)


def fit_scale(capture, depth: np.ndarray, index, layout_settings, extractor, s: DepthFitSettings,
              flags: list[str], floor_height: float | None = None) -> tuple[float, dict, object]:
    """Global factor c so that c × ``depth`` agrees with the objects' known sizes.

    ``floor_height``: the camera's height above the floor in ``depth``'s units, when known;
    each pass's c then keeps the camera within ``s.camera_height_band`` (sizes read at a
    wrong scale pick assets of the wrong size, which then agree with that scale).
    Returns (c, per-object record, last observation).
    """
    c = 1.0
    per: dict = {}
    observation = None
    n_votes = 0
    for p in range(max(1, s.passes)):
        votes, observation, _ = size_votes(_with_depth(capture, depth * c), index, layout_settings.seed, extractor,
                                        layout_settings.retrieval, identify=p > 0,
                                        scale_trust=layout_settings.scale_trust,
                                        scale_bounds=layout_settings.scale_bounds, width_weight=s.vote_width_weight,
                                        identify_by=s.identify_by)
        pass_flags: list[str] = []
        log_c, per_p = consensus(votes, s, pass_flags)
        if log_c is None:
            break
        per, n_votes = per_p, len(votes)
        c *= float(np.exp(_clamp(log_c, s, pass_flags)))
        c = _within_height_band(c, floor_height, s, flags)
        if p == max(1, s.passes) - 1 or "scale_out_of_bounds" in pass_flags:
            flags.extend(f for f in pass_flags if f not in flags)
        if "scale_out_of_bounds" in pass_flags:
            break
    if n_votes == 0:
        flags.append("no_size_evidence")
        height = getattr(observation, "camera_height", None) if observation is not None else None
        if height:                      # the one prior left: a photo taken at eye height
            c = float(np.exp(_clamp(np.log(s.height_prior_m / height), s, flags)))
    elif n_votes == 1:
        flags.append("single_object_low_confidence")
    return c, per, observation


def shape_candidates(q: np.ndarray, s: DepthFitSettings) -> list[tuple[float, float]]:
    """(far/near ratio, shift t) pairs: shape ``1/(q + t)`` (disparity) or ``q + t`` (depth)
    spans ``ratio`` between its 1st and 99th percentile pixel."""
    lo, hi = np.nanpercentile(q, [1, 99])
    out = []
    for rho in np.exp(np.linspace(*np.log(s.shape_ratio_range), s.shape_candidates)):
        out.append((float(rho), float((hi - rho * lo) / (rho - 1.0))))
    return out


def shaped(q: np.ndarray, t: float, quantity: str) -> np.ndarray:
    """Depth up to scale for shift ``t``, normalised to a median of 3 (NaN where not positive)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 1.0 / (q + t) if quantity == "disparity" else q + t
    d = np.where(np.isfinite(d) & (d > 0), d, np.nan)
    return d * (3.0 / np.nanmedian(d))


def squareness(capture, depth: np.ndarray, seed: int, n_points: int, pitch_rad: float | None = None,
               pitch_weight: float = 2.0) -> float | None:
    """Mean |cos| between the room's floor and walls and between walls (0 = a square room),
    plus ``pitch_weight`` × |the floor's pitch − ``pitch_rad``| (radians; the pitch the image's
    lines give, when known); None when no floor or no wall was found."""
    from scenewright.geometry.transforms import backproject
    from scenewright.perception import PerceptionSettings
    from scenewright.perception.room_planes import fit_room
    ps = PerceptionSettings(seed=seed, max_room_points=n_points, wall_vertical_tol_deg=45.0)
    rng = np.random.default_rng(seed)
    pts = backproject(depth, capture.K)
    room = np.isfinite(depth) & ((capture.seg == 0) | np.isin(capture.seg, list(_room_ids(capture, ps.room_label_pattern))))
    p = pts[room]
    if len(p) < ps.min_plane_points:
        return None
    if len(p) > n_points:
        p = p[np.sort(rng.choice(len(p), n_points, replace=False))]
    fit = fit_room(p, rng, ps)
    if fit.floor is None or not fit.walls_free:
        return None
    cos = [abs(float(fit.floor.normal @ w.normal)) for w in fit.walls_free]
    for i in range(len(fit.walls_free)):
        for j in range(i + 1, len(fit.walls_free)):
            c = abs(float(fit.walls_free[i].normal @ fit.walls_free[j].normal))
            cos.append(min(c, np.sqrt(max(0.0, 1 - c * c))))      # parallel or square both fine
    score = float(np.mean(cos))
    if pitch_rad is not None:
        n = np.asarray(fit.floor.normal, float)
        n = n if n[1] < 0 else -n                                  # up is −y in the camera frame
        floor_pitch = float(np.arctan2(-n[2], -n[1]))
        score += pitch_weight * abs(floor_pitch - pitch_rad)
    return score


def fit_shift(capture, s: DepthFitSettings, seed: int, flags: list[str],
              pitch_rad: float | None = None) -> tuple[float, float, np.ndarray]:
    """Relative depth → (shift t, normaliser k, depth up to scale = k/(q+t) or k(q+t)).

    ``pitch_rad``: the camera pitch the image's straight lines give; the shift whose floor
    is pitched so counts (the shift bends the floor's angle to the camera, lines do not lie).
    """
    q = np.asarray(capture.depth, float)
    q = np.where(np.isfinite(q) & (q > 0), q, np.nan)
    quantity = capture.depth_quantity
    scores = []
    for rho, t in shape_candidates(q, s):
        d = shaped(q, t, quantity)
        scores.append((squareness(capture, d, seed, s.shape_points, pitch_rad, s.shift_pitch_weight), rho, t))
    judged = [x for x in scores if x[0] is not None]
    if judged:
        best = min(judged, key=lambda x: x[0])
        t = best[2]
    else:
        flags.append("shift_unresolved")
        t = 0.0
    d = shaped(q, t, quantity)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = 1.0 / (q + t) if quantity == "disparity" else q + t
    k = float(np.nanmedian(d / raw))
    return t, k, d


def metrology_depth(capture, sizes_for, s: DepthFitSettings, flags: list[str],
                    pitch_cost=None, small_size: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """No depth: solve the camera from floor objects of known size and draw a depth map.

    ``sizes_for(ids) -> ((N, 3) sizes, [is_small])``, ``is_small`` None for an unknown label: with
    ``s.unknown_rests_on_support`` such an object whose mask rests on another's, and is no taller than
    it in the image, stands on it as a small thing of size ``small_size`` (as the floor placement's rule
    for unknown labels has it), otherwise on the floor. Returns (depth, camera record).
    """
    from scenewright.perception import PerceptionSettings
    from scenewright.perception.metrology import footings, place_boxes, solve_camera, synthesise_depth
    room = _room_ids(capture, PerceptionSettings().room_label_pattern)
    seg = np.where(np.isin(capture.seg, list(room)), 0, capture.seg) if room else capture.seg
    ids = [i for i in capture.instance_ids if i not in room]
    feet_by_id = footings(seg, ids, hidden_sides=s.hidden_sides)
    ids = [i for i in ids if i in feet_by_id]
    feet = [feet_by_id[i] for i in ids]
    sizes, small = sizes_for(ids)
    sizes, small = np.array(sizes, float).reshape(-1, 3), list(small)
    for j, f in enumerate(feet):
        if small[j] is None:
            # Without the rule an unknown thing on a counter is slid down its column until a
            # furniture-sized box meets its top row: far and huge (a toaster read as an aquarium).
            support = feet_by_id.get(f.below_id) if f.below_id else None
            small[j] = bool(s.unknown_rests_on_support and support is not None
                            and f.v_bottom - f.v_top <= support.v_bottom - support.v_top)
            if small[j] and small_size is not None:
                sizes[j] = small_size
    floor_feet = [f for f, sm in zip(feet, small) if not sm]
    floor_sizes = np.array([sz for sz, sm in zip(sizes, small) if not sm]).reshape(-1, 3)
    sol = solve_camera(capture.K, floor_feet, floor_sizes, pitch_cost=pitch_cost, pitch_weight=s.vertical_lines_weight,
                       yaws_deg=tuple(s.box_yaws_deg), side_cut_weight=s.side_cut_weight)
    if sol.n_objects == 0:
        flags.append("no_size_evidence")
    elif sol.n_objects == 1:
        flags.append("single_object_low_confidence")
    # Supports: a thing whose bottom rests on another instance stands on that one's top.
    row = {i: j for j, i in enumerate(ids)}
    bases = np.zeros(len(ids))
    for j, f in enumerate(feet):
        if f.below_id and f.below_id in row and (small[j] or not small[row[f.below_id]]):
            bases[j] = sizes[row[f.below_id]][1] if small[j] else 0.0
    corners, t = place_boxes(capture.K, feet, sizes, bases, sol.pitch_rad, sol.height_m, capture.height)
    finite = t[np.isfinite(t)]
    room_depth = float(finite.max() * 1.5 + 1.0) if len(finite) else None
    depth = synthesise_depth(capture.K, seg, ids, corners, sol.pitch_rad, sol.height_m, room_depth)
    return depth, {"camera_height_m": round(sol.height_m, 4), "camera_pitch_deg": round(float(np.degrees(sol.pitch_rad)), 3),
                   "objects_used": sol.n_objects,
                   "top_row_residual_px": {str(k): round(v, 2) for k, v in sol.residual_px.items()}}


def poly_terms(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """(..., T) monomials x^i y^j with 1 ≤ i + j ≤ ``degree`` (no constant: the scale is fitted apart)."""
    return np.stack([x ** i * y ** j for i in range(degree + 1) for j in range(degree + 1 - i) if i + j > 0], -1)


def warp_correction(K: np.ndarray, depth: np.ndarray, seg: np.ndarray, pitch_rad: float, s: DepthFitSettings,
                    flags: list[str], room_ids=()) -> tuple[np.ndarray, dict]:
    """A smooth correction of depth that is right in shape only approximately.

    ``depth`` (H, W) along camera z (NaN unknown), ``seg`` (H, W) instance ids (0 and
    ``room_ids`` = room), ``pitch_rad`` the camera's downward pitch (no roll), e.g. from the
    image's vanishing lines. On the floor, depth × (−up·ray) is the camera's height, one
    number; a smooth warp of the depth makes it vary. ``log c(x, y)``, a polynomial of
    ``s.warp_degree`` in the image coordinates normalised to [-1, 1] (no constant term), is
    fitted with the floor's log height by robust least squares (Huber-weighted, refitted
    on the pixels ever closer to the floor, last within ``s.warp_floor_band``) on room pixels at least
    ``s.warp_margin_px`` from every object (the estimate bleeds across object edges), and
    clipped to ±``s.warp_max_log`` (far above the floor it is extrapolated).
    Returns (c (H, W), record: degree, coefficients, floor pixels, largest |c − 1| in %,
    floor height in the input's units); c = 1 with flag ``warp_unresolved`` when too few
    floor pixels are seen.
    """
    from scipy import ndimage
    from scenewright.perception.metrology import camera_up, pixel_rays
    d = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(float)
    h, w = d.shape
    ones = np.ones((h, w))
    record: dict = {"degree": int(s.warp_degree), "pitch_deg": round(float(np.degrees(pitch_rad)), 3)}
    if s.warp_degree <= 0:
        return ones, record
    vv, uu = np.mgrid[0:h, 0:w].astype(float) + 0.5
    down = -(pixel_rays(K, uu, vv) @ camera_up(pitch_rad))         # > 0 below the horizon
    things = (seg > 0) & ~np.isin(seg, list(room_ids))
    room = (ndimage.distance_transform_edt(~things) > s.warp_margin_px) & np.isfinite(d) & (down > 0.05)
    if room.sum() < s.warp_min_pixels:
        flags.append("warp_unresolved")
        return ones, {**record, "floor_pixels": int(room.sum())}
    # The floor's height: the densest height among room pixels below the horizon (walls
    # spread over every height, the floor piles up at one).
    log_height = np.log(down[room] * d[room])
    hist, edges = np.histogram(log_height, bins=80, weights=down[room])
    k = int(np.argmax(ndimage.gaussian_filter1d(hist.astype(float), 2)))
    log_h = 0.5 * (edges[k] + edges[k + 1])
    x, y = (uu - w / 2) / (w / 2), (vv - h / 2) / (h / 2)
    terms = poly_terms(x, y, s.warp_degree)
    coef = np.zeros(terms.shape[-1])
    floor = room
    for band in (4 * s.warp_floor_band, 2 * s.warp_floor_band, s.warp_floor_band):
        log_c = terms @ coef
        with np.errstate(invalid="ignore"):
            floor = room & (np.abs(np.log(down * d) + log_c - log_h) < band)
        if floor.sum() < s.warp_min_pixels:
            flags.append("warp_unresolved")
            return ones, {**record, "floor_pixels": int(floor.sum())}
        A = np.hstack([terms[floor], -np.ones((int(floor.sum()), 1))])
        b = -np.log(d[floor] * down[floor])
        wts = np.ones(len(b))
        for _ in range(5):      # Huber IRLS (δ = 2 % in log depth)
            sol, *_ = np.linalg.lstsq(A * wts[:, None], b * wts, rcond=None)
            r = np.abs(A @ sol - b)
            wts = np.sqrt(np.minimum(1.0, 0.02 / np.maximum(r, 1e-12)))
        coef, log_h = sol[:-1], sol[-1]
    c = np.exp(np.clip(terms @ coef, -s.warp_max_log, s.warp_max_log))
    return c, {**record, "coefficients": [round(float(v), 6) for v in coef], "floor_pixels": int(floor.sum()),
               "max_correction_percent": round(float(np.nanmax(np.abs(c[np.isfinite(d)] - 1.0)) * 100), 2),
               "floor_height_input_units": round(float(np.exp(log_h)), 5)}


def local_planes(inverse_depth: np.ndarray, weight: np.ndarray, sigma_px: float) -> tuple[np.ndarray, ...]:
    """Per pixel, the plane a + b·(x − x₀) + c·(y − y₀) fitted to ``inverse_depth`` (H, W) over the
    pixels where ``weight`` (H, W, 0 or 1) is set, Gaussian-weighted (σ ``sigma_px``) around each
    pixel (x₀, y₀) — a first-order normalised convolution. Inverse depth is linear in the image
    coordinates on a planar surface, so the fit is exact there, also at a surface's edge (where
    a plain weighted average leans inward). Returns (a, b, c), NaN where the weights do not fix a
    plane."""
    from scipy import ndimage
    h, w = inverse_depth.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    m = np.where(weight > 0, 1.0, 0.0)
    q = np.where(m > 0, inverse_depth, 0.0)

    def g(a):
        return ndimage.gaussian_filter(a, sigma_px, mode="constant")
    # Moments about each pixel: Σw(x − x₀) = Σwx − x₀Σw, and so on.
    s0, sx, sy = g(m), g(m * xx), g(m * yy)
    sxx, sxy, syy = g(m * xx * xx), g(m * xx * yy), g(m * yy * yy)
    sq, sqx, sqy = g(m * q), g(m * q * xx), g(m * q * yy)
    mx, my = sx - xx * s0, sy - yy * s0
    mxx = sxx - 2 * xx * sx + xx * xx * s0
    myy = syy - 2 * yy * sy + yy * yy * s0
    mxy = sxy - xx * sy - yy * sx + xx * yy * s0
    qx, qy = sqx - xx * sq, sqy - yy * sq
    A = np.stack([np.stack([s0, mx, my], -1), np.stack([mx, mxx, mxy], -1), np.stack([my, mxy, myy], -1)], -2)
    rhs = np.stack([sq, qx, qy], -1)
    out = np.full((h, w, 3), np.nan)
    ok = s0 > 1e-3
    det = np.linalg.det(A[ok])
    good = np.abs(det) > 1e-9 * np.maximum(s0[ok], 1e-12) ** 3
    idx = np.flatnonzero(ok)[good]
    out.reshape(-1, 3)[idx] = np.linalg.solve(A.reshape(-1, 3, 3)[idx], rhs.reshape(-1, 3)[idx][..., None])[..., 0]
    return out[..., 0], out[..., 1], out[..., 2]


def clean_segments(depth: np.ndarray, seg: np.ndarray, rim_px: float, sigma_px: float = 0.0,
                   rim_fill: str = "nearest", plane_sigma_px: float = 3.0) -> np.ndarray:
    """``depth`` (H, W) cleaned one segment of ``seg`` (H, W) at a time: smoothed by a Gaussian
    of ``sigma_px`` over the segment's interior only (normalised by the interior's weight, so
    no depth crosses an edge), and each segment's rim (pixels within ``rim_px`` of another
    segment, where an estimate bleeds) filled from its nearest interior pixel: ``rim_fill``
    "plane" continues the surface there (the local plane of inverse depth fitted over the
    interior, σ ``plane_sigma_px``: a tabletop's far edge stays at the tabletop's height, where
    that pixel's constant depth would lift it), "nearest" copies its depth. A segment with no
    interior keeps its values."""
    from scipy import ndimage
    if rim_px <= 0 and sigma_px <= 0:
        return depth
    out = np.array(depth, float, copy=True)
    for i in np.unique(seg):
        mask = seg == i
        inner = (ndimage.distance_transform_edt(mask) > rim_px) & np.isfinite(out) & (out > 0)
        if not inner.any():
            continue
        ys, xs = np.nonzero(mask)
        pad = int(np.ceil(3 * plane_sigma_px)) + 8
        y0, y1 = max(0, ys.min() - pad), ys.max() + pad + 1
        x0, x1 = max(0, xs.min() - pad), xs.max() + pad + 1
        crop, inner_c, mask_c = out[y0:y1, x0:x1], inner[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        values = crop.copy()
        if sigma_px > 0:
            num = ndimage.gaussian_filter(np.where(inner_c, crop, 0.0), sigma_px, mode="nearest")
            den = ndimage.gaussian_filter(inner_c.astype(float), sigma_px, mode="nearest")
            values = np.where(inner_c, num / np.maximum(den, 1e-9), crop)
        rim = mask_c & ~inner_c
        if rim.any():
            _, (iy, ix) = ndimage.distance_transform_edt(~inner_c, return_indices=True)
            fill = values[iy[rim], ix[rim]]
            if rim_fill == "plane":
                # The plane is fitted a little deeper inside than the rim: the last bled
                # pixels' gradient, continued outwards, would grow.
                deep = inner_c & (ndimage.distance_transform_edt(mask_c) > rim_px + 2.0)
                deep = deep if deep.sum() >= 10 else inner_c
                with np.errstate(divide="ignore", invalid="ignore"):
                    a, b, c = local_planes(1.0 / np.where(deep, crop, np.nan), deep, plane_sigma_px)
                _, (dy, dx) = ndimage.distance_transform_edt(~deep, return_indices=True)
                ry, rx = np.nonzero(rim)
                sy, sx = dy[rim], dx[rim]
                q = a[sy, sx] + b[sy, sx] * (rx - sx) + c[sy, sx] * (ry - sy)
                with np.errstate(divide="ignore", invalid="ignore"):
                    extrapolated = 1.0 / q
                # where no plane is fixed, or the continuation runs off (a curved or
                # thin part): the nearest interior depth
                sane = np.isfinite(extrapolated) & (np.abs(np.log(extrapolated / fill)) < np.log(1.25))
                fill = np.where(sane, extrapolated, fill)
            values[rim] = fill
        crop[mask_c] = values[mask_c]
    return out


def _lines_pitch(capture, seed: int) -> float | None:
    from scenewright.perception.lines import line_segments, pitch_from_lines
    return pitch_from_lines(line_segments(capture.rgb, max_tilt_deg=90.0, seed=seed), capture.K)


def _shape_corrected(capture, depth: np.ndarray, s: DepthFitSettings, pitch, flags: list[str],
                     record: dict) -> tuple[np.ndarray, np.ndarray]:
    """Depth (up to scale) with its rims de-bled and its smooth warp taken out (see
    :func:`clean_segments`, :func:`warp_correction`); what was done goes into ``record``.

    Returns (the map the later stages see: rims filled by ``s.rim_fill``, the map the scale
    votes read: rims filled by ``s.vote_rim_fill``), the same warp correction on both."""
    from scenewright.perception import PerceptionSettings
    room = _room_ids(capture, PerceptionSettings().room_label_pattern)
    seg = np.where(np.isin(capture.seg, list(room)), 0, capture.seg)
    cleaned = clean_segments(depth, seg, s.debleed_px, s.denoise_px, s.rim_fill, s.rim_plane_sigma_px)
    for_votes = (cleaned if s.vote_rim_fill == s.rim_fill else
                 clean_segments(depth, seg, s.debleed_px, s.denoise_px, s.vote_rim_fill, s.rim_plane_sigma_px))
    if s.warp_degree > 0 and pitch is not None:
        c, rec = warp_correction(capture.K, cleaned, capture.seg, pitch, s, flags, room)
        record["correction"] = rec
        cleaned, for_votes = cleaned * c, for_votes * c
    elif s.warp_degree > 0:
        flags.append("warp_unresolved")
    return cleaned, for_votes


def _scale_of(capture, depth: np.ndarray, index, layout_settings, extractor, s: DepthFitSettings, flags: list[str],
              record: dict) -> tuple[float, dict]:
    """The factor c making ``depth`` (shape-corrected, up to scale) metric, and the per-object record.

    ``s.backbone`` "metrology": c puts the camera at the height the no-depth solution finds
    (:func:`metrology_solution`: where the floor objects meet the floor and their known sizes),
    the floor's height in ``depth``'s units being the warp correction's; ``record`` gets
    ``backbone`` and ``metrology`` (its camera). Otherwise, or without a fitted floor: the
    objects' known sizes read off ``depth`` (:func:`fit_scale`)."""
    floor_height = record.get("correction", {}).get("floor_height_input_units")
    if s.backbone == "metrology" and floor_height:
        _, cam, per = metrology_solution(capture, index, layout_settings, extractor, flags)
        record.update(backbone="metrology", metrology=cam)
        c = float(cam["camera_height_m"] / floor_height)
        lo, hi = s.scale_bounds
        if not lo <= c <= hi and "scale_out_of_bounds" not in flags:
            # the image's geometry, not the estimate, sets the scale (so it is not clamped), but an
            # estimate this far from it is suspect and the user should know
            flags.append("scale_out_of_bounds")
        return c, per
    c, per, _ = fit_scale(capture, depth, index, layout_settings, extractor, s, flags, floor_height)
    return c, per


def condition_depth(capture, index, layout_settings, extractor=None, retrieved: dict | None = None):
    """(capture with metric depth, record). See the module docstring. Without depth, ``retrieved`` (a
    dict) gets {instance id: hypotheses} of the second metrology pass's retrieval (:func:`size_votes`)."""
    s: DepthFitSettings = layout_settings.depth
    mode = resolve_mode(capture, s.mode)
    declared = "none" if capture.depth is None else capture.depth_kind
    record: dict = {"declared": declared, "used_as": mode}
    if capture.depth is not None and declared == "relative":
        record["quantity"] = capture.depth_quantity
    if mode == "given":
        return capture, record
    flags: list[str] = []
    if capture.seg is None:
        raise InputError(f"{capture.path}: the layout method needs seg.png (instance masks)")
    if mode == "estimated":
        depth = np.asarray(capture.depth, float)
        if capture.depth_kind == "relative":
            raise InputError(f"{capture.path}: depth.mode estimated, but depth.json says the depth is relative; "
                             "use --set depth.mode=relative")
        pitch = _lines_pitch(capture, layout_settings.seed) if s.warp_degree > 0 else None
        if pitch is not None:
            record["lines_pitch_deg"] = round(float(np.degrees(pitch)), 3)
        corrected, for_votes = _shape_corrected(capture, depth, s, pitch, flags, record)
        c, per = _scale_of(capture, for_votes, index, layout_settings, extractor, s, flags, record)
        record.update(scale=round(c, 5), shift=0.0)
        out = corrected * c
    elif mode == "relative":
        if capture.depth_kind != "relative":       # metric values handed in as relative: depth up to affine
            capture = dataclasses.replace(capture, depth_kind="relative", depth_quantity="depth")
            record["quantity"] = "depth"
        pitch = None
        if s.shift_pitch_weight > 0 or s.warp_degree > 0:
            pitch = _lines_pitch(capture, layout_settings.seed)
            if pitch is not None:
                record["lines_pitch_deg"] = round(float(np.degrees(pitch)), 3)
        t, k, shape = fit_shift(capture, s, layout_settings.seed, flags,
                                pitch if s.shift_pitch_weight > 0 else None)
        shape, for_votes = _shape_corrected(capture, shape, s, pitch, flags, record)
        c, per = _scale_of(capture, for_votes, index, layout_settings, extractor, s, flags, record)
        record.update(scale=round(c * k, 6), shift=round(t, 6),
                      mapping=("depth = scale / (value + shift)" if capture.depth_quantity == "disparity"
                               else "depth = scale * (value + shift)")
                      + (" * correction(x, y)" if "coefficients" in record.get("correction", {}) else ""))
        out = shape * c
    else:   # none
        out, cam, per = metrology_solution(capture, index, layout_settings, extractor, flags,
                                           identify_by=s.none_identify_by, retrieved=retrieved)
        record.update(scale=None, shift=None, metrology=cam)
    record["objects"] = {str(k): v for k, v in per.items()}
    record["flags"] = flags
    return _with_depth(capture, out), record



def metrology_solution(capture, index, layout_settings, extractor, flags: list[str],
                       identify_by: str = "retrieval", retrieved: dict | None = None) -> tuple[np.ndarray, dict, dict]:
    """Single-view metrology, whatever depth the capture has: (depth map drawn from the solved
    floor and the objects stood on it as boxes of their known sizes, camera record, per-object
    record) — a first pass with each category's median size, a second with each object's asset
    identified at that scale (``passes``; ``identify_by`` as in :func:`size_votes`); see
    :func:`metrology_depth`."""
    from scenewright.library.categories import category_info
    from scenewright.methods.layout.labels import map_label
    s: DepthFitSettings = layout_settings.depth
    categories: dict[int, str | None] = {}

    def category_sizes(ids):
        sizes, small = [], []
        for i in ids:
            cat = map_label(capture.labels.get(i, "")).category
            categories[i] = cat
            sizes.append(_reference_sizes(index, cat)[0])
            small.append(None if cat is None else category_info(cat).role == "small")
        return np.array(sizes).reshape(-1, 3), small

    pitch_cost = None
    if s.vertical_lines_weight > 0:
        from scenewright.perception.lines import line_segments, manhattan_cost
        segs = line_segments(capture.rgb, max_tilt_deg=90.0, seed=layout_settings.seed)
        pitch_cost = manhattan_cost(segs, capture.K)
    cam_flags: list[str] = []
    small_size = small_reference_size(index)
    depth, cam = metrology_depth(capture, category_sizes, s, cam_flags, pitch_cost, small_size)
    per = {}
    if s.passes > 1:
        # The assets picked at this scale give each object its own known size: solve again.
        votes, _, picked = size_votes(_with_depth(capture, depth), index, layout_settings.seed, extractor,
                                      layout_settings.retrieval, identify=True,
                                      scale_trust=layout_settings.scale_trust,
                                      scale_bounds=layout_settings.scale_bounds, identify_by=identify_by,
                                      retrieved=retrieved)

        def asset_sizes(ids):
            sizes, small = category_sizes(ids)
            for j, i in enumerate(ids):
                if i in picked:
                    sizes[j] = picked[i]
            return sizes, small
        cam_flags = []
        depth, cam = metrology_depth(capture, asset_sizes, s, cam_flags, pitch_cost, small_size)
        _, per = consensus(votes, s, [])
    flags += cam_flags
    return depth, cam, per


def settings_for_run(layout_settings, record: dict):
    """The layout settings the later stages run with, given what ``condition_depth`` concluded.

    Without depth the map drawn from the solved floor and boxes has no shape, so the pose
    stage compares silhouettes and colours only and slides every object on its support to
    where its silhouette fits (``silhouette_pose``). Otherwise ``layout_settings`` unchanged.
    """
    s = layout_settings
    if record.get("used_as") != "none" or not s.depth.silhouette_pose:
        return s
    pose = dataclasses.replace(s.pose, w_depth=0.0, depth_nudge=False, shift_truncated=True, shift_all=True,
                               render_yaws=max(s.pose.render_yaws, s.depth.silhouette_yaws))
    return dataclasses.replace(s, pose=pose)


def camera_record(world_from_camera: np.ndarray) -> dict:
    """Camera height above the floor (m) and pitch below the horizon (degrees) of a world_from_camera."""
    wfc = np.asarray(world_from_camera, float)
    forward = wfc[:3, 2]
    return {"camera_height_m": round(float(wfc[1, 3]), 4),
            "camera_pitch_deg": round(float(np.degrees(np.arcsin(np.clip(-forward[1], -1, 1)))), 3)}


def silhouette_bottom_row(points_world: np.ndarray, K: np.ndarray, world_from_camera: np.ndarray) -> float:
    """The lowest image row (largest v, pixel-edge coordinates) that ``points_world`` (N, 3)
    project to; NaN when none is in front of the camera."""
    _, v = project(np.asarray(points_world, float), K, rigid_inverse(world_from_camera))
    return float(np.nanmax(v)) if np.isfinite(v).any() else float("nan")


def contact_range(translation: np.ndarray, points_world: np.ndarray, v_bottom: float, K: np.ndarray,
                  world_from_camera: np.ndarray, max_step: float, steps: int = 401) -> float | None:
    """The factor k by which a floor object's distance from the camera (measured on the floor,
    from the point below the camera) must change so that its silhouette's lowest row meets the
    mask's lowest row ``v_bottom`` — where the object meets the floor.

    Estimated depth is right in shape only approximately: an object placed by its own pixels'
    depth inherits what is left of the warp there (several % of its distance), while the row
    where it touches the floor, once the floor plane and the camera are fitted, says its
    distance to a pixel. ``points_world`` (N, 3) are the placed object's surface points,
    ``translation`` (3,) its position (y on the floor). Returns k within 1 ± ``max_step``, or None
    when no k in that range puts the lowest row there (a mask cut or hidden at its bottom, a
    wrong asset: left alone)."""
    c = np.asarray(world_from_camera, float)[:3, 3]
    foot = np.array([c[0], 0.0, c[2]])
    offset = np.array([translation[0] - foot[0], 0.0, translation[2] - foot[2]])
    ks = np.linspace(1.0 - max_step, 1.0 + max_step, steps)
    cfw = np.linalg.inv(np.asarray(world_from_camera, float))
    # moving the object by (k − 1)·offset, vectorised over k: (steps, N, 3) in the camera frame
    p = np.asarray(points_world, float) @ cfw[:3, :3].T + cfw[:3, 3]
    shift = ((ks - 1.0)[:, None] * offset[None, :]) @ cfw[:3, :3].T
    q = p[None, :, :] + shift[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.where(q[..., 2] > 1e-6, K[1, 1] * q[..., 1] / q[..., 2] + K[1, 2], -np.inf)
    lowest = rows.max(axis=1)                        # falls (rises in the image) as k grows
    gap = lowest - v_bottom
    if not (np.all(np.isfinite(gap)) and gap[0] >= 0 >= gap[-1]):
        return None
    j = int(np.argmax(gap <= 0))
    if j == 0:
        return float(ks[0])
    # linear between the two k values around the crossing
    t = gap[j - 1] / (gap[j - 1] - gap[j]) if gap[j - 1] != gap[j] else 0.0
    return float(ks[j - 1] + t * (ks[j] - ks[j - 1]))
