"""Metric depth for the layout method from whatever depth a capture has (or none).

``condition_depth(capture, index, settings, extractor) -> (capture, record)`` runs before
perception. It returns a capture whose depth is metric (the same object, untouched, for
metric depth) and a JSON-able record of what it concluded (``scene.json`` extra.depth):

- ``given``     (declared ``metric``): nothing changes;
- ``estimated`` (``estimated-metric``: a monocular model's metres): the shape is trusted, the
  scale is not. One global factor makes the identified objects' known sizes agree with what
  the depth shows: a first pass with each category's median size, a second with the
  asset retrieval picks at the corrected scale (robust: a weighted median over objects);
- ``relative``  (affine-invariant depth or disparity): the unknown shift sets the map's
  shape (how much farther the far wall is than the nearest chair). Every candidate shape
  keeps planes planar but changes the angles between them, so the shift whose room
  has its walls square to the floor (and to each other) wins; then the scale as above;
- ``none``: single-view metrology (:mod:`scenewright.perception.metrology`): the camera's
  pitch and height from where floor objects meet the floor and how tall their known
  sizes look, each object stood there as a box of its size (on its support when it
  stands on another object), and a depth map drawn from that floor and those boxes —
  then the same two passes (category sizes, then identified assets).

The record: ``declared`` (the capture's kind), ``used_as`` (the mode run), ``scale`` and
``shift`` (the mapping found from the stored values to metres), camera height and pitch,
per-object ``confidence`` (how well its size agrees with the consensus) and ``flags``
(``single_object_low_confidence``, ``size_evidence_inconsistent``, ``scale_out_of_bounds``,
``no_size_evidence``, ``shift_unresolved``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from scenewright.errors import InputError

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
    side_cut_weight: float = 1.0                     # none: weight in the camera fit of objects cut by the left/right
                                                     # border (while two uncut ones give evidence)
    shift_pitch_weight: float = 2.0                  # relative: weight of the lines' pitch in the shift choice
    vertical_lines_weight: float = 0.5               # none: weight of the straight lines' vanishing points in the camera fit


@dataclass
class SizeVote:
    """One object's say on the scale: reference size over seen size (log), and its weight."""

    id: int
    log_ratio: float
    weight: float
    how: str                                         # "asset" | "category" | "library"


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


def size_votes(capture, index, seed: int, extractor=None, retrieval=None, identify: bool = False,
               scale_trust: float = 0.5, scale_bounds=(0.6, 1.6)) -> tuple[list[SizeVote], object, dict]:
    """Perceive ``capture`` (metric depth) and let every object vote for a global scale factor.

    A vote is log(reference height / seen height) (3/4) and log(reference / seen longest
    horizontal side) (1/4): height is what a depth map shows best and is free of the
    unknown yaw. Reference: the identified asset's size (``identify``: the retrieval's best
    hypothesis at this scale), else the category's median. Floor things measure their height
    from the floor (a hidden bottom does not shrink them); objects whose top or whose
    whole extent is cut by the border, and those without points, do not vote.
    Returns (votes, observation, {id: identified asset's catalog size (3,)}).
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
            hyps = retrieve(query, category, index, extractor, retrieval, scale_trust, scale_bounds)
            if hyps:
                ref, how = index.sizes[index.row[hyps[0].asset_id]], "asset"
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
        lr = 0.75 * np.log(ref[1] / seen_h)
        lr += 0.25 * np.log(max(ref[0], ref[2]) / seen_w) if not obj.truncated else 0.25 * np.log(ref[1] / seen_h)
        weight = {"asset": 1.0, "category": 1.0, "library": 0.25}[how] * (0.5 if obj.truncated else 1.0)
        votes.append(SizeVote(int(obj.id), float(lr), weight, how))
    return votes, observation, picked


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` (N,) with non-negative ``weights`` (N,)."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    c = np.cumsum(w)
    return float(v[np.searchsorted(c, 0.5 * c[-1])])


def consensus(votes: list[SizeVote], s: DepthFitSettings, flags: list[str]) -> tuple[float | None, dict]:
    """(log scale correction or None without votes, per-object {confidence, log_ratio, how})."""
    if not votes:
        return None, {}
    lr = np.array([v.log_ratio for v in votes])
    w = np.array([v.weight for v in votes])
    med = weighted_median(lr, w)
    mad = float(np.median(np.abs(lr - med))) if len(votes) > 2 else float(np.max(np.abs(lr - med)))
    if len(votes) >= 2 and mad > s.inconsistent_mad_log:
        flags.append("size_evidence_inconsistent")
    per = {}
    for v in votes:
        conf = float(np.exp(-((v.log_ratio - med) / s.confidence_sigma_log) ** 2))
        if len(votes) == 1:
            conf = min(conf, 0.3)          # nothing to agree with: low by construction
        per[v.id] = {"confidence": round(conf, 3), "size_ratio": round(float(np.exp(v.log_ratio)), 4),
                     "reference": v.how}
    return med, per


def _clamp(log_c: float, s: DepthFitSettings, flags: list[str]) -> float:
    lo, hi = np.log(s.scale_bounds)
    if not lo <= log_c <= hi:
        flags.append("scale_out_of_bounds")
        return float(np.clip(log_c, lo, hi))
    return log_c


def fit_scale(capture, depth: np.ndarray, index, layout_settings, extractor, s: DepthFitSettings,
              flags: list[str]) -> tuple[float, dict, object]:
    """Global factor c so that c × ``depth`` agrees with the objects' known sizes.

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
                                        scale_bounds=layout_settings.scale_bounds)
        pass_flags: list[str] = []
        log_c, per_p = consensus(votes, s, pass_flags)
        if log_c is None:
            break
        per, n_votes = per_p, len(votes)
        c *= float(np.exp(_clamp(log_c, s, pass_flags)))
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
                    pitch_cost=None) -> tuple[np.ndarray, dict]:
    """No depth: solve the camera from floor objects of known size and draw a depth map.

    ``sizes_for(ids) -> ((N, 3) sizes, [is_small])``. Returns (depth, camera record).
    """
    from scenewright.perception import PerceptionSettings
    from scenewright.perception.metrology import footings, place_boxes, solve_camera, synthesise_depth
    room = _room_ids(capture, PerceptionSettings().room_label_pattern)
    seg = np.where(np.isin(capture.seg, list(room)), 0, capture.seg) if room else capture.seg
    ids = [i for i in capture.instance_ids if i not in room]
    feet_by_id = footings(seg, ids)
    ids = [i for i in ids if i in feet_by_id]
    feet = [feet_by_id[i] for i in ids]
    sizes, small = sizes_for(ids)
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


def condition_depth(capture, index, layout_settings, extractor=None):
    """(capture with metric depth, record). See the module docstring."""
    from scenewright.library.categories import category_info
    from scenewright.methods.layout.labels import map_label
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
        c, per, _ = fit_scale(capture, depth, index, layout_settings, extractor, s, flags)
        record.update(scale=round(c, 5), shift=0.0)
        out = depth * c
    elif mode == "relative":
        if capture.depth_kind != "relative":       # metric values handed in as relative: depth up to affine
            capture = dataclasses.replace(capture, depth_kind="relative", depth_quantity="depth")
            record["quantity"] = "depth"
        pitch = None
        if s.shift_pitch_weight > 0:
            from scenewright.perception.lines import line_segments, pitch_from_lines
            pitch = pitch_from_lines(line_segments(capture.rgb, max_tilt_deg=90.0, seed=layout_settings.seed),
                                     capture.K)
            if pitch is not None:
                record["lines_pitch_deg"] = round(float(np.degrees(pitch)), 3)
        t, k, shape = fit_shift(capture, s, layout_settings.seed, flags, pitch)
        c, per, _ = fit_scale(capture, shape, index, layout_settings, extractor, s, flags)
        record.update(scale=round(c * k, 6), shift=round(t, 6),
                      mapping="depth = scale / (value + shift)" if capture.depth_quantity == "disparity"
                      else "depth = scale * (value + shift)")
        out = shape * c
    else:   # none
        categories: dict[int, str | None] = {}

        def category_sizes(ids):
            sizes, small = [], []
            for i in ids:
                cat = map_label(capture.labels.get(i, "")).category
                categories[i] = cat
                sizes.append(_reference_sizes(index, cat)[0])
                small.append(cat is not None and category_info(cat).role == "small")
            return np.array(sizes).reshape(-1, 3), small

        pitch_cost = None
        if s.vertical_lines_weight > 0:
            from scenewright.perception.lines import line_segments, manhattan_cost
            segs = line_segments(capture.rgb, max_tilt_deg=90.0, seed=layout_settings.seed)
            pitch_cost = manhattan_cost(segs, capture.K)
        cam_flags: list[str] = []
        depth, cam = metrology_depth(capture, category_sizes, s, cam_flags, pitch_cost)
        per = {}
        if s.passes > 1:
            # The assets picked at this scale give each object its own known size: solve again.
            votes, _, picked = size_votes(_with_depth(capture, depth), index, layout_settings.seed, extractor,
                                          layout_settings.retrieval, identify=True,
                                          scale_trust=layout_settings.scale_trust,
                                          scale_bounds=layout_settings.scale_bounds)

            def asset_sizes(ids):
                sizes, small = category_sizes(ids)
                for j, i in enumerate(ids):
                    if i in picked:
                        sizes[j] = picked[i]
                return sizes, small
            cam_flags = []
            depth, cam = metrology_depth(capture, asset_sizes, s, cam_flags, pitch_cost)
            _, per = consensus(votes, s, [])
        flags += cam_flags
        record.update(scale=None, shift=None, metrology=cam)
        out = depth
    record["objects"] = {str(k): v for k, v in per.items()}
    record["flags"] = flags
    return _with_depth(capture, out), record


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
