"""Extent fit: when no library asset is the object, the nearest one stretched to what was seen.

Retrieval keeps the catalog size unless the observed box clearly disagrees (a dead zone,
half trust): right for an exact asset, wrong for an object the library does not hold — a
desk 30 % wider than any desk in the library keeps the width of the closest one, and its
centre lands where that narrower desk fits the points. Here, when the best rendered
hypothesis fits poorly (silhouette IoU below a gate, or no asset looks like it: retrieval's
``shape_only``), the few best assets are scaled anisotropically to the observed box (in the asset's own axes), with their
proportions kept within the range the category's catalog spans, re-placed by ICP and
rendered; the observed box's own proportions are tried too (a small cost: they stand in for
a badly fitting asset). Render-and-compare picks; the original best stays when it still wins.

Sizes are (3,) width, height, depth in metres; yaws in radians about world +Y.
"""

from __future__ import annotations

import math

import numpy as np

from scenewright.library.categories import category_info
from scenewright.methods.layout.retrieval import Hypothesis, Query, RetrievalSettings, geometric_fit
from scenewright.methods.layout.pose import is_partial

PROPORTION_SLACK = math.log(1.2)     # beyond the category's own span of proportions


def category_proportions(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of log(width / height) and log(depth / height) over catalog ``sizes`` (N, 3),
    widened by ``PROPORTION_SLACK`` (and to at least ± log 1.5 around a single asset)."""
    sizes = np.maximum(np.asarray(sizes, float).reshape(-1, 3), 1e-3)
    logs = np.log(sizes[:, [0, 2]] / sizes[:, 1:2])
    lo, hi = logs.min(0), logs.max(0)
    mid = (lo + hi) / 2
    half = np.maximum((hi - lo) / 2, math.log(1.5) - PROPORTION_SLACK)
    return mid - half - PROPORTION_SLACK, mid + half + PROPORTION_SLACK


def extent_scales(asset_extent: np.ndarray, yaw_rel: float, box_size: np.ndarray, partial: bool,
                  proportions: tuple[np.ndarray, np.ndarray] | None,
                  bounds: tuple[float, float] = (0.5, 2.0), height_seen: bool = False,
                  grow_only: np.ndarray | None = None, shrink_only_below: np.ndarray | None = None,
                  clear_shrink: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(within the category's proportions, the observed box's own) (3,) scales of an asset.

    ``asset_extent`` (3,) w, h, d of the asset; ``yaw_rel`` the asset's yaw relative to the
    box axes; ``box_size`` (3,) observed x, height, z. Near 45° the box axes do not follow
    the asset's, so the footprint scales as one (area ratio). A ``partial`` view only ever
    grows the asset (its box is a lower bound), across only when ``height_seen`` (a side cut
    leaves the height whole). ``grow_only`` (3,) bool: axes whose seen extent is a lower bound
    whatever the view (see :func:`along_view`). ``shrink_only_below`` (3,) bool: axes that shrink
    only when the seen extent is under ``clear_shrink`` of the asset's, else are only grown (a
    line-of-sight axis a flat top measures: the points' trimmed quantiles fall a few per cent
    short of a thing seen whole). Each scale clamped to ``bounds``.
    """
    w, h, d = np.maximum(np.asarray(asset_extent, float), 1e-3)
    bx, by, bz = np.maximum(np.asarray(box_size, float), 1e-3)
    c, s = abs(math.cos(yaw_rel)), abs(math.sin(yaw_rel))
    if min(c, s) > math.sin(math.radians(25)):
        # diagonal: the footprint's area decides one scale for both sides
        ex, ez = c * w + s * d, s * w + c * d
        f = math.sqrt(bx * bz / (ex * ez))
        ratio = np.array([f, by / h, f])
    elif s > c:             # asset x runs along box z
        ratio = np.array([bz / w, by / h, bx / d])
    else:
        ratio = np.array([bx / w, by / h, bz / d])
    if partial:
        ratio = np.where([True, not height_seen, True], np.maximum(ratio, 1.0), ratio)
    if grow_only is not None:
        ratio = np.where(grow_only, np.maximum(ratio, 1.0), ratio)
    if shrink_only_below is not None:
        ratio = np.where(shrink_only_below & (ratio >= clear_shrink), np.maximum(ratio, 1.0), ratio)
    box = np.clip(ratio, *bounds)
    if proportions is None:
        return box, box
    dims = np.array([w, h, d]) * box
    lo, hi = proportions
    logs = np.log(dims[[0, 2]] / dims[1])
    clipped = np.clip(logs, lo, hi)
    dims[[0, 2]] = dims[1] * np.exp(clipped)
    within = np.clip(dims / np.array([w, h, d]), *bounds)
    return within, box


def extent_along(points: np.ndarray, yaw: float, height: float, trim: float = 0.002) -> np.ndarray:
    """(3,) observed extent of world ``points`` (N, 3) along the axes of an asset turned by ``yaw``:
    its x, ``height``, its z (``trim``/``1 - trim`` quantiles, as the observed box is measured).

    The observed box's own yaw is the minimum-area rectangle of what was seen, which for a thing
    seen on two faces, or on one face and a bit of its top, can lie anywhere up to 45° from the
    thing's axes; measured along the asset's axes, the stretch follows the asset's own sides."""
    xz = np.asarray(points, float).reshape(-1, 3)[:, [0, 2]]
    c, s = math.cos(yaw), math.sin(yaw)
    along_x = xz @ np.array([c, -s])         # asset x in world (x, z): R_y(yaw) e_x
    along_z = xz @ np.array([s, c])          # asset z: R_y(yaw) e_z
    q = np.quantile(np.stack([along_x, along_z], 1), [trim, 1 - trim], axis=0)
    return np.array([q[1, 0] - q[0, 0], height, q[1, 1] - q[0, 1]])


# A thing's seen top: its points within this of the highest one (metres).
TOP_BAND_M = 0.03


def flat_top_spans(points: np.ndarray, yaw: float, band_m: float = TOP_BAND_M, share: float = 0.8,
                   min_points: int = 20) -> np.ndarray:
    """(3,) bool: the asset axes (x, height, z) at ``yaw`` along which the seen points of the
    object's top (within ``band_m`` of the highest) span at least ``share`` of what all its seen
    points span. A flat top seen from above (a table's, a cabinet's) shows the thing's whole
    depth there, whichever way the line of sight runs; a round top (a pouf's, a shade's) or a
    backrest shows only a strip of it."""
    pts = np.asarray(points, float).reshape(-1, 3)
    out = np.zeros(3, bool)
    if share <= 0 or len(pts) < min_points:
        return out
    top = pts[pts[:, 1] >= pts[:, 1].max() - band_m]
    if len(top) < min_points:
        return out
    whole = extent_along(pts, yaw, 0.0)
    upper = extent_along(top, yaw, 0.0)
    out[[0, 2]] = upper[[0, 2]] >= share * np.maximum(whole[[0, 2]], 1e-6)
    return out


def along_view(query: Query, yaw: float, max_angle_deg: float, flat_top_share: float = 0.0) -> np.ndarray:
    """(3,) bool: the asset axes (x, height, z) at ``yaw`` that run within ``max_angle_deg`` of the
    horizontal line of sight to the object. Along it only the near side of a thing is seen (the
    front half of a round lamp shade, a pot, a pouf): the seen extent there is a lower bound, and
    a stand-in is not made shallower by it — unless the object is furniture (not ``query.small``: a
    lamp's shade or a pot narrows to its top, which then says nothing of the widest part) whose top
    is seen whole (``query.top_seen``, nothing nearer above it) and flat, spanning ``flat_top_share``
    of the seen extent along that axis (:func:`flat_top_spans`; 0 turns this off): then the top
    shows the far side."""
    v = np.asarray(query.t0, float)[[0, 2]] - np.asarray(query.cam_pos, float)[[0, 2]]
    n = float(np.linalg.norm(v))
    if n < 1e-6 or max_angle_deg <= 0:
        return np.zeros(3, bool)
    v /= n
    c, s = math.cos(yaw), math.sin(yaw)
    cos_x, cos_z = abs(c * v[0] - s * v[1]), abs(s * v[0] + c * v[1])
    limit = math.cos(math.radians(max_angle_deg))
    along = np.array([cos_x > limit, False, cos_z > limit])
    if (along.any() and flat_top_share > 0 and not query.small and query.top_seen
            and query.cam_pos[1] > query.points[:, 1].max()):
        along &= ~flat_top_spans(query.points, yaw, share=flat_top_share)
    return along


def extent_trials(query: Query, hyps: list[Hypothesis], index, retrieval: RetrievalSettings, n_assets: int,
                  box_cost: float, bounds: tuple[float, float] = (0.5, 2.0),
                  asset_axes: bool = False, view_angle_deg: float = 0.0,
                  flat_top_share: float = 0.0, clear_shrink: float = 0.9) -> list[Hypothesis]:
    """The best yaw of each of the ``n_assets`` best assets in ``hyps``, scaled to the observed
    extent (both ways of :func:`extent_scales`) and re-placed by translation ICP.

    Each trial carries ``extra["extent_fit"]`` ("category" or "box"), ``extra["extent_cost"]``
    and ``extra["retrieval_score"]`` with the geometry term of its own fit.
    """
    out: list[Hypothesis] = []
    if len(query.points) < 3:
        return out
    seen: set[str] = set()
    for h in hyps:
        if h.asset_id in seen:
            continue
        seen.add(h.asset_id)
        if len(seen) > n_assets:
            break
        geom = index.geometry(h.asset_id)
        catalog = index.sizes[index.row[h.asset_id]]      # the mesh's own box (samples may miss its extremes)
        rows = index.categories == h.category
        proportions = category_proportions(index.sizes[rows]) if np.any(rows) else None
        # The box's axes are the extent's: the yaw square to them nearest the hypothesis' (a
        # locally refined yaw of a nearly square table would stretch it askew), and the hypothesis' own.
        snapped = query.yaw + round((h.yaw - query.yaw) / (math.pi / 2)) * (math.pi / 2)
        yaws = [snapped] + ([h.yaw] if abs(math.remainder(h.yaw - snapped, 2 * math.pi)) > math.radians(2) else [])
        # a round thing (a floor lamp, a plant) seen from one side shows its near half, top or not
        top_share = 0.0 if category_info(h.category).symmetry == "radial" else flat_top_share

        def scales_at(yaw: float) -> tuple[np.ndarray, np.ndarray]:
            if asset_axes:
                return extent_scales(catalog, 0.0, extent_along(query.points, yaw, query.box_size[1]),
                                     query.partial, proportions, bounds, height_seen=query.height_seen,
                                     grow_only=along_view(query, yaw, view_angle_deg, top_share),
                                     shrink_only_below=along_view(query, yaw, view_angle_deg),
                                     clear_shrink=clear_shrink)
            return extent_scales(catalog, yaw - query.yaw, query.box_size, query.partial, proportions, bounds,
                                 height_seen=query.height_seen)
        for yaw in yaws:
            within, box = scales_at(yaw)
            kinds = [("category", within, 0.0)]
            if np.max(np.abs(np.log(box / within))) > 0.02:
                kinds.append(("box", box, box_cost))
            out += _placed(query, h, geom, yaw, kinds, retrieval, scales_at)
    return out


def _placed(query: Query, h: Hypothesis, geom, yaw: float, kinds, retrieval: RetrievalSettings,
            scales_at=None) -> list[Hypothesis]:
    """``h``'s asset at ``yaw`` under each (kind, (3,) scale, cost) of ``kinds``, re-placed by ICP.

    ``scales_at(yaw) -> (within, box)`` stretches the asset at its other yaws too: each trial's
    ``extra["yaws"]`` (the alternatives the facing priors render) then holds the asset stretched to
    the same observed box at every geometric yaw, re-placed by ICP, best first. Without it a seat
    or a wall cabinet turned to face its table or the room fell back to the catalog size (a
    0.53 m tv stand became its 1.6 m stand-in again)."""
    alternatives = [float(y) for y, *_ in h.extra.get("yaws", [])]
    out = []
    for kind, scale, cost in kinds:
        t, cham = geometric_fit(geom, query.points, query.cam_pos, np.array([yaw]), scale[None],
                                np.asarray(h.translation, float), retrieval, fix_y=query.fix_y,
                                view=query.view)
        v = Hypothesis(asset_id=h.asset_id, category=h.category, yaw=yaw, scale=scale, translation=t[0],
                       geometry=float(np.exp(-cham[0] / retrieval.sigma_m)), appearance=h.appearance,
                       size=h.size, prior=h.prior, chamfer_m=float(cham[0]))
        base = h.extra.get("retrieval_score", h.score)
        v.extra["retrieval_score"] = base + retrieval.w_geometry * (v.geometry - h.geometry)
        v.extra["yaws"] = h.extra.get("yaws", [])
        if scales_at is not None and alternatives:
            v.extra["yaws"] = _stretched_yaws(query, geom, alternatives, scales_at, kind, t[0], retrieval)
        v.extra["extent_fit"] = kind
        v.extra["extent_cost"] = cost
        if h.extra.get("shape_only"):
            v.extra["shape_only"] = True
        out.append(v)
    return out


def _stretched_yaws(query: Query, geom, yaws: list[float], scales_at, kind: str, t0: np.ndarray,
                    retrieval: RetrievalSettings) -> list[tuple]:
    """[(yaw, (3,) scale, (3,) translation, chamfer)] best first: the asset at each of ``yaws``
    stretched (``kind``: "category" or "box" of :func:`extent_scales`) and re-placed by ICP from ``t0``."""
    pick = 0 if kind == "category" else 1
    scales = np.array([scales_at(y)[pick] for y in yaws])
    ts, cham = geometric_fit(geom, query.points, query.cam_pos, np.array(yaws), scales, t0, retrieval,
                             fix_y=query.fix_y, view=query.view)
    order = np.argsort(cham, kind="stable")
    return [(yaws[i], scales[i], ts[i], float(cham[i])) for i in order]


def fit_extent(obj, query: Query | None, hyps: list[Hypothesis], index, scorer, pose, retrieval: RetrievalSettings,
               w_category: float) -> list[Hypothesis]:
    """``hyps`` with the best extent-fitted trial in front when the best hypothesis fits poorly
    and the trial scores higher (``pose``: :class:`.pose.PoseSettings`; ``scorer`` renders)."""
    if not hyps or scorer is None or query is None or not pose.extent_fit:
        return hyps
    best = hyps[0]
    r = best.extra.get("render") or {}
    if r.get("iou", 0.0) >= pose.extent_fit_iou and not best.extra.get("shape_only"):
        return hyps
    trials = extent_trials(query, hyps, index, retrieval, pose.extent_fit_assets, pose.extent_box_cost,
                           asset_axes=pose.extent_asset_axes, view_angle_deg=pose.extent_view_lower_bound_deg,
                           flat_top_share=pose.extent_flat_top_share,
                           clear_shrink=pose.extent_flat_top_clear_shrink)
    if not trials:
        return hyps
    partial = is_partial(obj)        # a partial object's render score already pays for walls
    for h, res in zip(trials, scorer.score(obj, trials)):
        h.extra["render"] = res
        h.score = (res["render"] + pose.w_retrieval * h.extra["retrieval_score"] + w_category * h.prior
                   - h.extra["extent_cost"])
        if not partial:
            # A stretched asset's back is as unseen as a border-cut object's: not through a wall.
            pen, cost = scorer.room_cost(obj, h, guessed_extent=True)
            if cost > 0:
                h.extra["render"]["through_wall_m"] = pen
                h.score -= cost
    pick = max(trials, key=lambda h: h.score)
    best_cost = 0.0 if partial else scorer.room_cost(obj, best, guessed_extent=True)[1]
    if pick.score > best.score - best_cost:
        return [pick] + hyps
    return hyps


def cover_seen(h: Hypothesis, points: np.ndarray, catalog_lo: np.ndarray, catalog_hi: np.ndarray,
               max_growth: float, slack: float = 1.03, trim: float = 0.01) -> bool:
    """Stretch a partial view's stand-in ``h`` (in place) along its own x and z so that it spans
    at least what was seen of the object there; True when it changed.

    A view cut by the border or hidden in part shows less than the object, never more: the seen
    extent is a lower bound. A stand-in chosen by render-and-compare at its catalog size may still
    be shorter than that (a 1.67 m sofa for a couch seen 1.91 m long before the border cuts it: the
    stretched trials' surfaces fit the depth worse). Each axis whose asset extent is below the seen
    one (``trim``/``1 - trim`` quantiles) by more than ``slack`` grows to it, at most by
    ``max_growth``, centred on the seen span. ``catalog_lo``, ``catalog_hi`` (3,): the asset's box
    in its own frame (unscaled); ``points`` (N, 3) world points of the object."""
    pts = np.asarray(points, float).reshape(-1, 3)
    if max_growth <= 1.0 or len(pts) < 10:
        return False
    c, s = math.cos(h.yaw), math.sin(h.yaw)
    axes = {0: np.array([c, 0.0, -s]), 2: np.array([s, 0.0, c])}     # asset x and z in the world
    scale = np.asarray(h.scale, float).copy()
    t = np.asarray(h.translation, float).copy()
    changed = False
    for k, a in axes.items():
        seen = pts @ a
        lo, hi = np.quantile(seen, [trim, 1 - trim])
        length = (catalog_hi[k] - catalog_lo[k]) * scale[k]
        if length <= 1e-6 or hi - lo <= slack * length:
            continue
        grow = min((hi - lo) / length, max_growth)
        scale[k] *= grow
        # the asset's span along a: t·a + scale·[lo_k, hi_k]; centred on the seen span's middle
        middle_now = float(t @ a) + scale[k] * (catalog_lo[k] + catalog_hi[k]) / 2
        t = t + a * ((lo + hi) / 2 - middle_now)
        changed = True
    if changed:
        h.scale, h.translation = scale, t
    return changed


def depth_to_wall(h: Hypothesis, points: np.ndarray, catalog_lo: np.ndarray, catalog_hi: np.ndarray, walls,
                  max_gap_m: float = 0.1, max_angle_deg: float = 15.0, bounds: tuple[float, float] = (0.75, 1.33),
                  grow_only: bool = False, shrink_only: bool = False, slack: float = 0.03,
                  trim: float = 0.01) -> bool:
    """Set a stand-in ``h`` (in place) against a wall to the depth the room shows: from the wall
    behind it to the seen front; True when it changed.

    A stand-in keeps its own depth, which the object's need not share (a 0.48 m bedside table for a
    0.41 m one): set flush to the wall, its front stands out into the room, and its centre lies
    half the difference nearer. When its back is within ``max_gap_m`` of a wall (``walls``: planes
    with normals into the room) and it faces that wall's normal within ``max_angle_deg``, the wall
    and the front of the seen points (``points`` (N, 3) world, ``1 - trim`` quantile along the
    normal) bound its depth: the asset's z scale changes to it (within ``bounds``; not when within
    ``slack`` of 1; only growing with ``grow_only``, for a view whose front may lie past the frame;
    only shrinking with ``shrink_only``, for an asset that looks like the object: one the room shows
    shallower stands a little off its wall, which setting it flush closes), and its back goes to the
    wall (where setting it flush would put it). ``catalog_lo``, ``catalog_hi`` (3,): the asset's box in
    its own frame (unscaled)."""
    pts = np.asarray(points, float).reshape(-1, 3)
    if len(pts) < 10 or not walls:
        return False
    scale = np.asarray(h.scale, float).copy()
    front = np.array([math.sin(h.yaw), 0.0, math.cos(h.yaw)])
    lo, hi = np.asarray(catalog_lo, float), np.asarray(catalog_hi, float)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    c, s = math.cos(h.yaw), math.sin(h.yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    world = (corners * scale) @ rot.T + np.asarray(h.translation, float)
    best = None
    for w in walls:
        n = np.array([w.normal[0], 0.0, w.normal[2]])
        n /= max(np.linalg.norm(n), 1e-12)
        if float(front @ n) < math.cos(math.radians(max_angle_deg)):
            continue
        back = float(((world - np.asarray(w.point, float)) @ n).min())
        if abs(back) <= max_gap_m and (best is None or abs(back) < abs(best[1])):
            best = (n, back, w)
    if best is None:
        return False
    n, back, w = best
    offset = float(np.asarray(w.point, float) @ n)
    seen_front = float(np.quantile(pts @ n - offset, 1 - trim))
    now_depth = float((world @ n - offset).max()) - back
    if now_depth <= 1e-3 or seen_front <= 0.0:
        return False
    ratio = seen_front / now_depth
    if grow_only:
        ratio = max(ratio, 1.0)
    if shrink_only:
        ratio = min(ratio, 1.0)
    ratio = float(np.clip(ratio, *bounds))
    if abs(ratio - 1.0) <= slack:
        return False
    scale[2] *= ratio
    # z scales about the asset's origin; then the back goes to the wall, along its normal
    world = (corners * scale) @ rot.T + np.asarray(h.translation, float)
    h.scale = scale
    h.translation = np.asarray(h.translation, float) - n * float((world @ n - offset).min())
    return True


def cap_seen_height(h: Hypothesis, seen_top_y: float, catalog_lo: np.ndarray, catalog_hi: np.ndarray,
                    slack: float = 1.2, margin_m: float = 0.05) -> bool:
    """Lower a placed asset ``h`` (in place: its y scale, its bottom kept) whose top stands above
    ``seen_top_y`` by more than ``slack`` × the seen height + ``margin_m`` to that height; True when
    it changed.

    The caller asks only where the picture sees past the asset's upper part (the room behind
    where it would stand: ``pipeline._above_seen_would_show``), so a taller thing would have been
    seen there. A tv stand's nearest cousins are a 1.6 m tv cabinet and a 2.25 m vanity with a
    mirror, whose extent fit stops at half the catalog height; the seen 0.53 m top says how tall it
    is. ``catalog_lo``, ``catalog_hi`` (3,): the asset's box in its own frame (unscaled)."""
    height, seen = _height_and_top(h, catalog_lo, catalog_hi, seen_top_y)
    if seen <= 1e-3 or height <= slack * seen + margin_m:
        return False
    _stretch_height(h, seen / height, catalog_lo)
    return True


def fit_seen_top(h: Hypothesis, seen_top_y: float, catalog_lo: np.ndarray, catalog_hi: np.ndarray,
                 min_change_m: float, max_change: float) -> bool:
    """Set a placed asset ``h``'s height (in place: its y scale, its bottom kept) so that its top is at
    ``seen_top_y``, when the two differ by more than ``min_change_m`` and by at most ``max_change`` of
    its height; True when it changed. The caller asks only for a flat top seen from above on a flat
    topped asset (``pipeline._flat_top_seen``): there the seen top is the thing's, which is what the
    things standing on it rest on. ``catalog_lo``, ``catalog_hi`` (3,): the asset's box in its own
    frame (unscaled)."""
    height, seen = _height_and_top(h, catalog_lo, catalog_hi, seen_top_y)
    if height <= 1e-3 or seen <= 1e-3:
        return False
    change = abs(seen - height)
    if change <= min_change_m or change > max_change * height:
        return False
    _stretch_height(h, seen / height, catalog_lo)
    return True


def _height_and_top(h: Hypothesis, catalog_lo: np.ndarray, catalog_hi: np.ndarray, top_y: float) -> tuple[float, float]:
    """(placed asset ``h``'s height, ``top_y`` above its bottom), metres."""
    lo, hi = float(catalog_lo[1]), float(catalog_hi[1])
    scale_y = float(np.asarray(h.scale, float)[1])
    bottom = float(np.asarray(h.translation, float)[1]) + lo * scale_y
    return (hi - lo) * scale_y, float(top_y) - bottom


def _stretch_height(h: Hypothesis, factor: float, catalog_lo: np.ndarray) -> None:
    """Multiply placed asset ``h``'s y scale by ``factor`` (in place), its bottom kept."""
    scale = np.asarray(h.scale, float).copy()
    t = np.asarray(h.translation, float).copy()
    lo = float(catalog_lo[1])
    bottom = t[1] + lo * scale[1]
    scale[1] *= factor
    t[1] = bottom - lo * scale[1]
    h.scale, h.translation = scale, t

