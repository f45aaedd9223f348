"""Identity, yaw and place of floor objects without depth: silhouettes on the solved floor.

With no depth, the map the layout method gets is drawn from boxes (:mod:`.depth_fit`), so
ICP against it says nothing about an object's shape or turn. What the image does say,
once the camera's pitch and height are solved: an asset of known size standing on the
floor at yaw ψ is seen at exactly one place where its lowest point lands on the mask's
lowest row (where the object meets the floor) and its sides on the mask's sides. So each
candidate asset of the label's category, at each of the room's four axis turns (a room is
a Manhattan world: furniture stands square to its walls; the turn comes from the image's
vanishing points, :func:`scenewright.perception.lines.manhattan_yaw`), is placed by that
contact (:func:`place_on_floor`), rendered, and scored by silhouette IoU, colour and
appearance against the mask (:func:`pose_on_floor`). The best (asset, yaw, place) wins.

The solved camera height carries the identified sizes' errors: with it k too high, a
true-size asset fits its mask only scaled by k. Each object's best pairs are therefore tried
on a scale grid; the floor objects' score curves summed peak at the scene's one scale
(:func:`scene_scale`), read finely about that vertex with a few more renders when an estimated
depth backs the scene (:func:`fine_scale_curve`), and the layout pipeline redoes the scene once at
that scale, each object trying its best assets there (:func:`shortlist_at`).

Geometry in the world frame of the observation (y up, floor y = ``base``), the camera's
OpenCV frame for pixels; metres, radians, pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenewright.geometry.transforms import rigid_inverse
from scenewright.methods.layout.retrieval import Hypothesis, placement_matrix


# The scene's scale grid in 3 % steps over 0.68–1.51 (28 scales), for `--set floor_pose.scales=[...]`.
FINE_SCALES: tuple[float, ...] = tuple(round(1.03 ** k, 3) for k in range(-13, 15))


@dataclass
class FloorPoseSettings:
    """No-depth placement of floor objects (``depth.mode=none``; recorded in scene.json)."""

    enabled: bool = True                 # off: the pose stage runs on the drawn box depth as for metric depth
    max_assets: int = 16                 # candidate assets per object (its category and the retrieval's picks)
    retrieval_first: int = 3             # … the retrieval's best first, then the rest by appearance
    axis_yaws: int = 4                   # turns tried: the room's axis + k·360°/axis_yaws
    free_yaws: int = 0                   # … and this many evenly spread turns besides (0: Manhattan only)
    newton_steps: int = 8                # placement solve iterations (pixel residuals → floor x/z)
    w_iou: float = 1.0                   # score = w_iou·IoU + w_colour·colour + w_prior·category prior
    w_colour: float = 1.0
    w_prior: float = 0.6
    w_appearance: float = 1.0            # … + this × the appearance cosine (asset's rendered views vs the crop)
    # the scene's scale grid, ~10 % steps. The summed curves' three-point vertex is only as fine as the
    # grid: FINE_SCALES (3 % steps) put the camera 1.3 % off instead of 1.9 % on the seed-0 mono bench
    # (trans 0.820 -> 0.857), but on held-out catalogs without depth trans fell 0.587 -> 0.529 (a stand-in's
    # curve peaks at another asset's size: read more finely, not more correctly) and it costs 3x the renders
    scales: tuple[float, ...] = (0.67, 0.74, 0.82, 0.9, 1.0, 1.1, 1.22, 1.35, 1.5)
    scale_top: int = 8                   # … tried on this many best (asset, yaw) pairs per object
    # Coarse to fine: after the summed curves' vertex k on ``scales``, each object's ``fine_scale_pairs`` best
    # (asset, yaw) pairs near k are placed again at k × each of these factors, and the scene's scale is the
    # vertex of those curves summed: a 3 % read of the camera height for 15 renders per object instead of a
    # 3 % grid over the whole range. Seed 0 mono: camera mean |error| 1.9 → 1.5 %, trans 0.831 → 0.853,
    # IoU-B 0.663 → 0.693, floating 1.1 → 0.5 per scene; held-out mono holds (docs/layout.md). () = off.
    fine_scale_steps: tuple[float, ...] = (0.94, 0.97, 1.0, 1.03, 1.06)
    fine_scale_pairs: int = 3            # … per object: near k its best few pairs make the curve (the grid's 8 span the range)
    fine_scale_on_estimate_only: bool = False   # on: only with an estimated or relative depth (without depth the
                                                # coarse vertex stands)
    # … without depth the fine read takes only the curves of objects whose best asset looks like them (appearance
    # cosine ≥ this), and needs rescale_min_objects of them, else the coarse vertex stands: a stand-in's curve
    # peaks at the stand-in's size, read more finely, not more rightly. Every curve read (0.0): held-out seed 1
    # none trans 0.590 -> 0.562; seed 0 none camera-height mean |error| 1.80 -> 1.35 % (docs/layout.md).
    fine_scale_min_appearance: float = 0.88
    # Off by default (both this and camera_refit): on seed 0 they raise trans 0.732 → 0.778 and F-S 85.7 →
    # 88.1, but on held-out catalogs (stand-in assets, as every real photo has) they lower trans 0.540 →
    # 0.470 and F-S 64.2 → 58.1 — they trust the identified assets' sizes (docs/layout.md).
    scale_by_rows: bool = False          # the scale pass: each (asset, yaw) rendered once, at the scale at which its
                                         # top row meets the mask's (bottom on the floor), instead of on the grid;
                                         # the scene's scale is the objects' median such scale (grid: its range)
    rank_scale_penalty: float = 2.0      # … the redo's assets: score − this × |log(implied scale / scene scale)|
    prune_width_log: float = 0.0         # mask's both sides seen: (asset, yaw) placements whose projected width is
                                         # off the mask's by more than this (|log ratio|) are not rendered (0 = off) …
    prune_keep_min: int = 8              # … keeping at least this many, the nearest in width
    rescale_min_objects: int = 2         # objects (bottom and top seen) needed to correct the scene's scale: one
                                         # object's curve alone is bumpy (each scale's best another asset or turn)
                                         # and not averaged by others — the metrology camera stays (seed 0 scene 0:
                                         # +15.5 % → −4.0 %, trans AUC of the scene 0.11 → 0.70; docs/layout.md)
    # One curve (fewer than rescale_min_objects) with an estimated or relative depth: the scene's scale is read
    # finely about the metrology camera (1.0 × fine_scale_steps, its vertex within them) when that object's best
    # asset looks like it (appearance cosine ≥ this; a stand-in's curve peaks at the stand-in's size: held-out
    # seed 1's scene 0, an armchair whose look-alike scores 0.80, read so put its camera 1.2 → 4.8 % low), and
    # the scene is redone there. Seed 0's scene 0 (its desk, 0.91): camera −4.0 → +0.1 %, scene IoU-B
    # 0.41 → 0.81, 2 → 0 floating (docs/layout.md). 1.0 = off (the metrology camera stays, the scene not redone).
    single_curve_min_appearance: float = 0.85
    # … without depth too (off: only with an estimated or relative depth). The read places that object about
    # the metrology camera, which needs no estimate: seed 0's no-depth scene 0 (its desk, appearance 0.91) camera
    # −4.0 → 0.0 %, scene trans 0.70 → 0.93, IoU-B 0.36 → 0.80, 2 → 0 floating; held-out seed 1's one
    # single-curve scene (its armchair a look-alike) stays below the appearance bar, unchanged (docs/layout.md)
    single_curve_on_estimate_only: bool = False
    single_curve_steps: int = 0          # one object's curve alone: its peak from a least-squares parabola through
                                         # the grid points within this many steps of its best (one curve is bumpy —
                                         # each scale's best is another asset or turn — and no other curve averages
                                         # the bumps out); 0 = the three-point vertex, as for several curves. Off:
                                         # seed 0's scene 0 camera +15.5 % → +3.2 %, but held-out scene 0 −5.4 → −9.5 %
                                         # (both held-out splits lose 0.02 translation; docs/layout.md); read only
                                         # with rescale_min_objects = 1
    reuse_metrology_retrieval: bool = True    # no depth, the pass whose scale is corrected: floor objects start from
                                         # the second metrology pass's retrieval instead of retrieving again (seed 0:
                                         # every pose the same, 11 % less CPU)
    redo_assets: int = 6                 # the scene redone at its corrected scale: each object's best assets …
    redo_scales: tuple[float, ...] = (1.0,)            # … at these scales (0.9, 1.0, 1.1 let a look-alike fit by its
                                                       # size: scenes 1–19 of seed 0 rot 0.858 → 0.884, trans 0.793 → 0.805)
    refine_steps_m: tuple[float, ...] = (0.08, 0.04)   # greedy slides of the winner on the floor (final pass)
    local_yaw_deg: float = 0.0           # ± turns tried around the winner (0: the room's axes only)
    inframe_rows: bool = True            # a side cut by the frame: rows of the samples inside it decide the place
    face_partners: bool = True           # seats turn to their table, nightstands to their bed's facing (cheap) …
    facing_margin: float = 0.3           # a chair may turn to its table, a nightstand to its bed's facing, at this cost
    support_levels: bool = True          # small things stand on the support's surface under their contact pixel
    camera_refit: bool = False           # the kept pass: the camera height refitted so the placed assets' top rows
                                         # meet their masks' (bottoms kept on the floor; the whole scene follows)
    camera_refit_px: float = 2.0         # … Cauchy scale of the top-row misfits (pixels)
    camera_refit_range: tuple[float, float] = (0.9, 1.1)   # … height factors searched (beyond: the bound)


def project(points_world: np.ndarray, K: np.ndarray, camera_from_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) world points → (u, v) pixel arrays (NaN at or behind the camera)."""
    p = points_world @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    z = p[:, 2]
    if (z > 1e-3).all():
        # every point ahead (the placement solve's case): the same quotients without np.where's
        # NaN branch and the error-state switches around it, a third of a solve step's time
        return K[0, 0] * p[:, 0] / z + K[0, 2], K[1, 1] * p[:, 1] / z + K[1, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 1e-3, K[0, 0] * p[:, 0] / z + K[0, 2], np.nan)
        v = np.where(z > 1e-3, K[1, 1] * p[:, 1] / z + K[1, 2], np.nan)
    return u, v


def floor_point(u: float, v: float, K: np.ndarray, world_from_camera: np.ndarray, base: float) -> np.ndarray | None:
    """World point where pixel (u, v)'s ray meets the plane y = ``base``; None above the horizon."""
    ray = np.linalg.inv(K) @ np.array([u, v, 1.0])
    d = world_from_camera[:3, :3] @ ray
    c = world_from_camera[:3, 3]
    if d[1] >= -1e-9 or c[1] <= base:
        return None
    return c + d * (base - c[1]) / d[1]


@dataclass
class Footprint:
    """What the mask pins: ``v_bottom`` (its lowest row edge, where the object meets its support,
    None when hidden or cut), ``v_top`` (None when cut), ``u_left``/``u_right`` (None when cut)."""

    v_bottom: float | None
    v_top: float | None
    u_left: float | None
    u_right: float | None


def footprint_of(footing, width: int, border_px: int = 1) -> Footprint:
    """:class:`Footprint` from a :class:`scenewright.perception.metrology.Footing` of an image
    ``width`` pixels wide (each side on its own: a mask cut on the left still shows its right side)."""
    left_in, right_in = footing.u_left > border_px, footing.u_right < width - border_px
    left, right = left_in and not footing.left_hidden, right_in and not footing.right_hidden
    if not (left or right):
        # a hidden side still says more than none (a sofa cut by the border, its other end behind a table)
        left, right = left_in, right_in
    return Footprint(v_bottom=footing.v_bottom if footing.bottom_ok else None,
                     v_top=footing.v_top if footing.top_ok else None,
                     u_left=footing.u_left if left else None,
                     u_right=footing.u_right if right else None)


def outline_points(points: np.ndarray) -> np.ndarray:
    """The vertices of the convex hull of ``points`` (N, 3): under a perspective projection (points in
    front of the camera) the extreme rows and columns of the points are those of these vertices, so
    placing by them is placing by all (a tenth of the samples, a tenth of the work)."""
    pts = np.asarray(points, float)
    if len(pts) < 8:
        return pts
    from scipy.spatial import ConvexHull, QhullError
    try:
        return pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):       # flat or degenerate samples: all of them
        return pts


def place_on_floor(points: np.ndarray, yaw: float, scale, fp: Footprint, K: np.ndarray,
                   world_from_camera: np.ndarray, base: float, start_xz: np.ndarray,
                   steps: int = 8, frame_width: int | None = None,
                   outline: np.ndarray | None = None) -> np.ndarray | None:
    """Floor position (3,) (y = ``base``) of an asset so its projection meets the mask's extremes.

    ``points`` (N, 3) the asset's surface samples in its own frame (y up from its bottom),
    placed by R_y(``yaw``)·diag(``scale``). Two residuals, solved by Newton steps with a
    numeric Jacobian on the floor's x/z: vertical — the lowest projected row on ``fp.v_bottom``
    (else the highest on ``fp.v_top``); horizontal — the projected span's middle on the mask's
    (else the seen side on its side). None when neither row is known.
    ``frame_width``: with a side cut by the frame, the lowest (highest) row seen is that of the
    samples inside the frame, not of the whole asset (a bookcase's near corner beyond the border
    is lower than anything seen): the solution is refined with the rows of the samples that
    project inside, kept only when it fits those rows better.
    ``outline``: :func:`outline_points` of ``points`` when known (the extremes of the whole asset
    come from them; the rows inside the frame still from every sample).
    """
    if fp.v_bottom is None and fp.v_top is None:
        return None
    cfw = rigid_inverse(world_from_camera)
    turn = (placement_matrix(yaw, scale, np.zeros(3))[:3, :3]).T
    hull = (outline_points(points) if outline is None else np.asarray(outline, float)) @ turn
    local = []           # every sample turned: only a side cut by the frame reads them
    # The solve's residual reads only the projected span's extreme columns and one extreme row, so
    # the hull's pixels are not formed: fl(a + c) is monotone in a, hence min/max of the columns
    # plus the principal point equal the min/max of (f·x/z) plus it, the same doubles as
    # project()'s every-point-ahead branch (a point at or behind the camera fails the step, as there).
    rotate, shift = cfw[:3, :3].T, cfw[:3, 3]
    fx, cx, fy, cy = K[0, 0], K[0, 2], K[1, 1], K[1, 2]
    by_bottom = fp.v_bottom is not None
    both_sides = fp.u_left is not None and fp.u_right is not None
    mask_middle = 0.5 * (fp.u_left + fp.u_right) if both_sides else None

    def horizontal(u_lo, u_hi):
        if both_sides:
            return 0.5 * (u_lo + u_hi) - mask_middle
        if fp.u_right is not None:
            return u_hi - fp.u_right
        if fp.u_left is not None:
            return u_lo - fp.u_left
        return 0.0

    def residual(xz):
        p = (hull + np.array([xz[0], base, xz[1]])) @ rotate + shift
        z = p[:, 2]
        if not (z > 1e-3).all():
            return None
        columns = fx * p[:, 0] / z
        u_lo, u_hi = columns.min() + cx, columns.max() + cx
        if not (np.isfinite(u_lo) and np.isfinite(u_hi)):
            return None
        rows = fy * p[:, 1] / z
        rv = rows.max() + cy - fp.v_bottom if by_bottom else rows.min() + cy - fp.v_top
        return np.array([horizontal(u_lo, u_hi), rv])

    def residual_inside(xz):
        # a side cut by the frame: the rows of the samples that project inside it
        if not local:
            local.append(points @ turn)
        u, v = project(local[0] + np.array([xz[0], base, xz[1]]), K, cfw)
        if not np.all(np.isfinite(u)):
            return None
        rows = v[(u >= 0) & (u <= frame_width)]
        if len(rows) == 0:
            return None
        rv = rows.max() - fp.v_bottom if by_bottom else rows.min() - fp.v_top
        return np.array([horizontal(u.min(), u.max()), rv])

    xz = _newton(residual, np.asarray(start_xz, float).copy(), steps)
    if xz is None:
        return None
    side_cut = (fp.u_left is None) != (fp.u_right is None)
    if frame_width is not None and side_cut:
        r0 = residual_inside(xz)
        refined = _newton(residual_inside, xz.copy(), steps) if r0 is not None else None
        r1 = residual_inside(refined) if refined is not None else None
        if r1 is not None and np.abs(r1).sum() < np.abs(r0).sum():
            xz = refined
    return np.array([xz[0], base, xz[1]])


def _newton(residual, xz: np.ndarray, steps: int) -> np.ndarray | None:
    """Damped Newton steps on the floor's x/z driving ``residual(xz) -> (2,)`` (pixels) to zero."""
    r = residual(xz)
    if r is None:
        return None
    eps = 0.01
    for _ in range(steps):
        if np.abs(r).max() < 0.25:
            break
        J = np.zeros((2, 2))
        for k in range(2):
            d = np.zeros(2)
            d[k] = eps
            rk = residual(xz + d)
            if rk is None:
                return None
            J[:, k] = (rk - r) / eps
        try:
            step = -np.linalg.lstsq(J, r, rcond=None)[0]
        except np.linalg.LinAlgError:
            return None
        # Damped: never more than a metre at once (a far object's Jacobian is small).
        n = np.linalg.norm(step)
        if n > 1.0:
            step *= 1.0 / n
        for _ in range(6):
            r_new = residual(xz + step)
            if r_new is not None and np.abs(r_new).sum() < np.abs(r).sum():
                break
            step *= 0.5
        else:
            break
        xz, r = xz + step, r_new
    return xz


def support_level(points_world: np.ndarray, u: float, v: float, K: np.ndarray, world_from_camera: np.ndarray,
                  bin_m: float = 0.02, min_share: float = 0.02, reach_m: float = 0.05) -> float | None:
    """Height (world y) of the support's horizontal surface that pixel (u, v) lands on, or None.

    ``points_world`` (N, 3) the placed support's surface samples. A horizontal surface shows as a
    peak of the samples' heights (≥ ``min_share`` of them in one ``bin_m`` band); from the highest
    down, the first whose plane the pixel's ray meets within ``reach_m`` of that band's samples
    (on the floor's x/z) is the one a thing whose lowest row is ``v`` stands on. Its height matters:
    a vanity's counter is 9 cm below its mirror's top, and a contact ray at a grazing 8° turns
    9 cm of height into 0.6 m of distance.
    """
    pts = np.asarray(points_world, float)
    if len(pts) < 16:
        return None
    y = pts[:, 1]
    lo, hi = float(y.min()), float(y.max())
    edges = np.arange(lo, hi + bin_m, bin_m)
    if len(edges) < 2:
        return None
    which = np.clip(np.digitize(y, edges) - 1, 0, len(edges) - 2)
    counts = np.bincount(which, minlength=len(edges) - 1)
    # the bottom band is where the support stands, not a surface to stand on
    bands = [b for b in np.nonzero(counts >= min_share * len(pts))[0] if edges[b] > lo + bin_m]
    for b in sorted(bands, reverse=True):
        band = pts[which == b]
        level = float(band[:, 1].max())
        hit = floor_point(u, v, K, world_from_camera, level)
        if hit is None:
            continue
        near = np.min(np.hypot(band[:, 0] - hit[0], band[:, 2] - hit[2]))
        if near <= reach_m:
            return level
    return None


def candidate_yaws(room_yaw: float | None, settings: FloorPoseSettings) -> list[float]:
    """The room's axis turns (+ evenly spread free turns); without a room yaw, 8 even turns."""
    yaws = []
    if room_yaw is not None:
        yaws += [room_yaw + k * 2 * np.pi / settings.axis_yaws for k in range(settings.axis_yaws)]
    n_free = settings.free_yaws if room_yaw is not None else max(settings.free_yaws, 8)
    yaws += [k * 2 * np.pi / n_free for k in range(n_free)]
    return [float((y + np.pi) % (2 * np.pi) - np.pi) for y in yaws]


def world_room_yaw(camera_room_yaw: float, world_from_camera: np.ndarray) -> float:
    """The room axis' yaw in the world (turn of an object's +Z onto it) from its yaw ψ in the
    camera's horizontal frame (``cos ψ·right + sin ψ·horizontal forward``)."""
    R = np.asarray(world_from_camera, float)[:3, :3]
    right = R[:, 0].copy()
    fwd = R[:, 2].copy()
    right[1] = 0.0
    fwd[1] = 0.0
    right /= max(np.linalg.norm(right), 1e-9)
    fwd /= max(np.linalg.norm(fwd), 1e-9)
    d = np.cos(camera_room_yaw) * right + np.sin(camera_room_yaw) * fwd
    return float(np.arctan2(d[0], d[2]))


def placement_points(index, asset_id: str, n: int = 1024, extremes: int = 128) -> np.ndarray:
    """(M, 3) surface samples of an asset for placing it: an even subsample of the library's
    samples plus its lowest and highest ones (a chair's feet are a few samples of thousands;
    the lowest row of its mask is where they touch the floor). Cached on ``index`` (bounded)."""
    def make() -> np.ndarray:
        pts = np.asarray(index.library.samples(asset_id)[0], float)
        if len(pts) == 0:
            pts = np.asarray(index.geometry(asset_id).points, float)
        step = max(1, len(pts) // n)
        order = np.argsort(pts[:, 1])
        return np.concatenate([pts[::step], pts[order[:extremes]], pts[order[-extremes:]]])
    return index.derived(f"placement_points/{n}/{extremes}", asset_id, make)


def placement_outline(index, asset_id: str) -> np.ndarray:
    """:func:`outline_points` of :func:`placement_points` (cached on ``index``)."""
    return index.derived("placement_outline", asset_id, lambda: outline_points(placement_points(index, asset_id)))


def floor_candidates(r, index, settings: FloorPoseSettings, appearance=None) -> list[Hypothesis]:
    """Assets to try for result ``r``: its retrieval hypotheses and the rest of its category —
    the retrieval's ``retrieval_first`` best first, then the others by ``appearance(asset_id)``
    (best first; each candidate's value kept in ``extra["floor_appearance"]``) — at most ``max_assets``."""
    seen, out = set(), []
    for h in r.hypotheses:
        if h.asset_id not in seen:
            seen.add(h.asset_id)
            out.append(h)
    if r.category is not None:
        for j in np.nonzero(index.categories == r.category)[0]:
            a = str(index.ids[j])
            if a not in seen and index.usable(a):
                seen.add(a)
                out.append(Hypothesis(asset_id=a, category=r.category, yaw=0.0, scale=np.ones(3),
                                      translation=np.zeros(3), prior=1.0))
    if appearance is not None:
        for h in out:
            h.extra["floor_appearance"] = float(appearance(h.asset_id))
        head = out[: settings.retrieval_first]
        out = head + sorted(out[settings.retrieval_first:], key=lambda h: -h.extra["floor_appearance"])
    return out[: settings.max_assets]


def _trial(h: Hypothesis, yaw: float, t: np.ndarray, scale: float = 1.0) -> Hypothesis:
    v = Hypothesis(asset_id=h.asset_id, category=h.category, yaw=float(yaw), scale=np.full(3, float(scale)),
                   translation=np.asarray(t, float), geometry=h.geometry, appearance=h.appearance,
                   size=h.size, prior=h.prior, score=h.score, chamfer_m=h.chamfer_m)
    v.extra["yaws"] = [(float(yaw), np.full(3, float(scale)), np.asarray(t, float), 0.0)]
    v.extra["retrieval_score"] = h.extra.get("retrieval_score", h.score)
    v.extra["floor_pose"] = True
    v.extra["floor_appearance"] = h.extra.get("floor_appearance", 0.0)
    return v


def pose_on_floor(r, footing, index, scorer, world_from_camera: np.ndarray, K: np.ndarray, width: int,
                  base: float, room_yaw: float | None, settings: FloorPoseSettings,
                  assets: list[str] | None = None, fp: Footprint | None = None,
                  polish: bool = True, appearance=None, implied_scales: bool = False) -> list[Hypothesis]:
    """Hypotheses for a floor object, best first (``r.hypotheses`` unchanged when nothing could be placed).

    ``scorer``: a :class:`scenewright.methods.layout.pose.RenderScorer` (its depth term is
    meaningless here and should be weighted 0). ``width``: the image's. ``base``: the floor's
    height (world y). ``assets``: only these (a group adopting one asset), else the candidates
    of :func:`floor_candidates`. ``fp``: what the mask pins, when not :func:`footprint_of` the
    footing (a thing standing on another object: its lowest row is where it meets that one's top).
    ``polish``: small turns and slides of the winner (off in a pass whose scale is to be corrected).
    ``appearance(asset_id) -> float``: how much the asset's rendered views look like the crop.
    ``implied_scales`` (the pass whose scale is to be corrected, with ``settings.scale_by_rows``): each
    (asset, yaw) is rendered once at :func:`implied_scale` instead of at 1 and on the scale grid; the
    best keeps every trial's (asset, scale, score) for :func:`shortlist_at` and, when the mask's bottom
    and top are both seen, its own scale (``extra["implied_scale"]``) for :func:`scene_scale`.
    """
    fp = fp or footprint_of(footing, width)
    frame = width if settings.inframe_rows else None
    cands = floor_candidates(r, index, settings, appearance)
    if assets is not None:
        known = {h.asset_id: h for h in cands}
        cands = [known.get(a) or Hypothesis(asset_id=a, category=str(index.categories[index.row[a]]), yaw=0.0,
                                            scale=np.ones(3), translation=np.zeros(3),
                                            prior=1.0 if index.categories[index.row[a]] == r.category else 0.5)
                 for a in assets]
    if not cands or (fp.v_bottom is None and fp.v_top is None):
        return r.hypotheses
    u_mid = 0.5 * (footing.u_left + footing.u_right)
    start = floor_point(u_mid, fp.v_bottom if fp.v_bottom is not None else footing.v_bottom, K,
                        world_from_camera, base)
    if start is None:
        start = r.hypotheses[0].translation if r.hypotheses else None
    if start is None:
        return r.hypotheses
    start_xz = np.asarray(start, float)[[0, 2]]
    if appearance is not None:
        for h in cands:
            if "floor_appearance" not in h.extra:
                h.extra["floor_appearance"] = float(appearance(h.asset_id))
    seen = fp.v_bottom is not None and fp.v_top is not None
    by_rows = implied_scales and bool(settings.scales)
    trials = []
    for h in cands:
        pts = placement_points(index, h.asset_id)
        if len(pts) < 8:
            continue
        outline = placement_outline(index, h.asset_id)
        for yaw in candidate_yaws(room_yaw, settings):
            t = place_on_floor(pts, yaw, np.ones(3), fp, K, world_from_camera, base, start_xz, settings.newton_steps,
                               frame, outline)
            if t is None or not np.all(np.isfinite(t)):
                continue
            if by_rows and seen:
                sc, t = implied_scale(pts, outline, yaw, fp, K, world_from_camera, base, t[[0, 2]], settings, frame)
                trials.append(_trial(h, yaw, t, sc))
                trials[-1].extra["implied_scale"] = sc
            else:
                trials.append(_trial(h, yaw, t))
    if not trials:
        return r.hypotheses
    trials = _pruned_by_width(trials, index, fp, K, world_from_camera, settings)
    _score(r.obj, trials, scorer, settings)
    trials.sort(key=lambda h: -h.score)
    if by_rows:
        best = trials[0]
        best.extra["placed_score"] = float(best.score)
        best.extra["scale_trials"] = [(h.asset_id, float(h.scale[0]), float(h.score)) for h in trials]
        if not seen:
            best.extra.pop("implied_scale", None)
        return [best] + trials[1:21]
    # The scene's scale rests on the camera height: with it wrong by k, a true-size asset fits
    # its mask only scaled by k. The best pairs, re-placed at each scale of a grid: the best
    # score per scale is this object's curve (when its bottom and top are both seen); the
    # curves of all floor objects summed give the scene's one scale (:func:`scene_scale`).
    curve, rank, pairs = None, None, None
    if settings.scales and settings.scale_top > 0:
        scaled = placed_at_scales(trials[: settings.scale_top], [sc for sc in settings.scales if abs(sc - 1.0) >= 1e-6],
                                  fp, index, K, world_from_camera, base, settings, frame)
        _score(r.obj, scaled, scorer, settings)
        # each grid-tried pair's score per scale: which pairs to place again near the scene's scale
        pairs = {(h.asset_id, round(h.yaw, 6)): (h, {1.0: float(h.score)}) for h in trials[: settings.scale_top]}
        for h in scaled:
            pairs[(h.asset_id, round(h.yaw, 6))][1][float(h.scale[0])] = float(h.score)
        curve, rank = {}, {}
        for sc in settings.scales:
            at = [h for h in trials + scaled if abs(float(h.scale[0]) - sc) < 1e-6]
            if at:
                at.sort(key=lambda h: -h.score)
                curve[float(sc)] = float(at[0].score)
                rank[float(sc)] = list(dict.fromkeys([h.asset_id for h in at] + [h.asset_id for h in trials]))
        trials = sorted(trials + scaled, key=lambda h: -h.score)
    best = trials[0]
    pts = placement_points(index, best.asset_id)
    scale = float(best.scale[0])
    best.extra["placed_score"] = float(best.score)      # before the slides: comparable with the others' scores
    if polish:
        best = _polish(r.obj, best, pts, scale, fp, K, world_from_camera, base, scorer, settings, frame)
    best.extra["scale_curve"] = curve if seen else None
    best.extra["scale_rank"] = rank
    best.extra["scale_pairs"] = list(pairs.values()) if (pairs and seen) else None
    rest = [h for h in trials if h is not best]
    return [best] + rest[:20]


def _pruned_by_width(trials: list[Hypothesis], index, fp: Footprint, K: np.ndarray, world_from_camera: np.ndarray,
                     settings: FloorPoseSettings) -> list[Hypothesis]:
    """``trials`` without those whose projected width is off the mask's (both sides seen) by more than
    ``settings.prune_width_log`` (log ratio), at least ``prune_keep_min`` kept (the nearest in width): a
    placement whose bottom (and top) rows fit but whose sides cannot is not worth a render."""
    if settings.prune_width_log <= 0 or fp.u_left is None or fp.u_right is None or len(trials) <= settings.prune_keep_min:
        return trials
    seen = max(fp.u_right - fp.u_left, 1.0)
    cfw = rigid_inverse(world_from_camera)
    off = []
    for h in trials:
        m = placement_matrix(h.yaw, h.scale, h.translation)
        u, _ = project(placement_outline(index, h.asset_id) @ m[:3, :3].T + m[:3, 3], K, cfw)
        width = float(np.nanmax(u) - np.nanmin(u)) if np.isfinite(u).any() else 0.0
        off.append(abs(np.log(max(width, 1.0) / seen)))
    off = np.asarray(off)
    keep = off <= settings.prune_width_log
    keep[np.argsort(off, kind="stable")[: settings.prune_keep_min]] = True
    return [h for h, k in zip(trials, keep) if k]


def implied_scale(pts: np.ndarray, outline: np.ndarray, yaw: float, fp: Footprint, K: np.ndarray,
                  world_from_camera: np.ndarray, base: float, start_xz: np.ndarray, settings: FloorPoseSettings,
                  frame: int | None = None, iterations: int = 6, tol_px: float = 0.25) -> tuple[float, np.ndarray]:
    """(scale, floor position) at which an asset turned by ``yaw`` and placed on the floor by its mask's
    bottom (:func:`place_on_floor`) has its highest row on the mask's top ``fp.v_top`` — secant steps in
    log scale (the top row falls monotonically as the asset grows), within the range of
    ``settings.scales``. Without depth the camera's height is only known up to that scale: the asset
    that fits at scale s says the scene is s times too small, with no render needed to find s."""
    lo, hi = np.log(min(settings.scales)), np.log(max(settings.scales))
    cfw = rigid_inverse(world_from_camera)
    probe = Hypothesis(asset_id="", category=None, yaw=float(yaw), scale=np.ones(3), translation=np.zeros(3))
    last = {"xz": np.asarray(start_xz, float)}

    def miss(log_s: float):
        probe.scale = np.full(3, float(np.exp(log_s)))
        # each step starts where the last landed: a few per cent of scale moves it little
        t = place_on_floor(pts, yaw, probe.scale, fp, K, world_from_camera, base, last["xz"], settings.newton_steps,
                           frame, outline)
        if t is None or not np.all(np.isfinite(t)):
            return None, None
        last["xz"] = t[[0, 2]]
        top = _top_row(pts, probe, t, K, cfw, frame if frame is not None else 10 ** 9)
        return (top - fp.v_top if np.isfinite(top) else None), t

    x0, (m0, t0) = 0.0, miss(0.0)
    if m0 is None:
        return 1.0, np.array([start_xz[0], base, start_xz[1]], float)
    best = (abs(m0), x0, t0)
    x1 = float(np.clip(0.1 if m0 < 0 else -0.1, lo, hi))
    m1, t1 = miss(x1)
    for _ in range(iterations):
        if m1 is None:
            break
        if abs(m1) < best[0]:
            best = (abs(m1), x1, t1)
        if abs(m1) < tol_px or abs(m1 - m0) < 1e-9:
            break
        x2 = float(np.clip(x1 - m1 * (x1 - x0) / (m1 - m0), lo, hi))
        if abs(x2 - x1) < 1e-5:
            break
        x0, m0 = x1, m1
        x1 = x2
        m1, t1 = miss(x1)
    if m1 is not None and abs(m1) < best[0]:
        best = (abs(m1), x1, t1)
    return float(np.exp(best[1])), best[2]


def _polish(obj, best: Hypothesis, pts: np.ndarray, scale: float, fp: Footprint, K, world_from_camera, base: float,
            scorer, settings: FloorPoseSettings, frame: int | None = None) -> Hypothesis:
    """Small turns (re-placed) and small slides of the winner, improvements only."""
    if settings.local_yaw_deg > 0:
        local = []
        for s in (-1, 1):
            yaw = best.yaw + s * np.radians(settings.local_yaw_deg)
            t = place_on_floor(pts, yaw, np.full(3, scale), fp, K, world_from_camera, base, best.translation[[0, 2]],
                               settings.newton_steps, frame)
            if t is not None:
                local.append(_trial(best, yaw, t, scale))
        _score(obj, local, scorer, settings)
        best = max([best] + local, key=lambda h: h.score)
    for step in settings.refine_steps_m:
        moves = [_trial(best, best.yaw, best.translation + np.array([dx, 0.0, dz]), scale)
                 for dx, dz in ((step, 0), (-step, 0), (0, step), (0, -step))]
        _score(obj, moves, scorer, settings)
        top = max(moves, key=lambda h: h.score)
        if top.score > best.score + 1e-3:
            best = top
    return best


def _top_row(pts: np.ndarray, h: Hypothesis, t: np.ndarray, K: np.ndarray, camera_from_world: np.ndarray,
             width: int) -> float:
    """Highest image row of an asset's samples placed at ``t`` (those inside the frame); NaN if none is."""
    m = placement_matrix(h.yaw, h.scale, t)
    u, v = project(pts @ m[:3, :3].T + m[:3, 3], K, camera_from_world)
    inside = np.isfinite(v) & (u >= 0) & (u <= width)
    return float(v[inside].min()) if inside.any() else float("nan")


def with_camera_height(world_from_camera: np.ndarray, height: float) -> np.ndarray:
    """``world_from_camera`` moved straight up or down to ``height`` above the floor (y = 0)."""
    m = np.array(world_from_camera, float)
    m[1, 3] = height
    return m


def refit_camera_height(placed: list, index, K: np.ndarray, world_from_camera: np.ndarray, width: int,
                        settings: FloorPoseSettings) -> tuple[float | None, dict]:
    """The factor the camera height is off by, from identified floor objects of known size.

    ``placed``: (hypothesis, footing) of floor objects standing on the floor (y = 0) whose mask's
    bottom and top are both seen. The scale pass (:func:`scene_scale`) compares silhouettes on a
    coarse grid; what pins the height finely is each asset's top row: with its bottom kept on the
    mask's lowest row (:func:`place_on_floor`), a camera too low by 2 % leaves the top of a 1 m
    thing 2 px off at 100 px. The factor f (camera height × f, the scene scaled with it about the
    camera's foot) minimises the Cauchy loss (``camera_refit_px``) of those misfits over
    ``camera_refit_range``: a grid, then a bounded search around its best. Returns (f or None when
    no object qualifies, record with the factor, the objects and their misfits before → after).
    """
    K = np.asarray(K, float)
    wfc = np.asarray(world_from_camera, float)
    h0 = float(wfc[1, 3])
    items = []
    for h, footing in placed:
        if not (footing.bottom_ok and footing.top_ok) or abs(float(h.translation[1])) > 1e-3:
            continue
        pts = placement_points(index, h.asset_id)
        if len(pts) >= 8:
            items.append((h, footing, footprint_of(footing, width), pts))
    if not items or h0 <= 0:
        return None, {"objects": 0}
    foot = np.array([wfc[0, 3], 0.0, wfc[2, 3]])

    def misfits(f: float) -> np.ndarray:
        w = with_camera_height(wfc, h0 * f)
        cfw = rigid_inverse(w)
        out = []
        for h, footing, fp, pts in items:
            start = (foot + f * (np.asarray(h.translation, float) - foot))[[0, 2]]
            t = place_on_floor(pts, h.yaw, h.scale, fp, K, w, 0.0, start, settings.newton_steps, width,
                               placement_outline(index, h.asset_id))
            out.append(np.nan if t is None else _top_row(pts, h, t, K, cfw, width) - footing.v_top)
        return np.asarray(out, float)

    def loss(log_f: float) -> float:
        r = misfits(float(np.exp(log_f))) / settings.camera_refit_px
        return float(np.sum(np.where(np.isfinite(r), np.log1p(r ** 2), 25.0)))

    lo, hi = np.log(settings.camera_refit_range[0]), np.log(settings.camera_refit_range[1])
    grid = np.linspace(lo, hi, 21)
    values = [loss(x) for x in grid]
    j = int(np.argmin(values))
    from scipy.optimize import minimize_scalar
    step = grid[1] - grid[0]
    res = minimize_scalar(loss, bounds=(max(lo, grid[j] - step), min(hi, grid[j] + step)), method="bounded",
                          options={"xatol": 1e-4})
    log_f = float(res.x) if res.fun <= values[j] else float(grid[j])
    f = float(np.exp(log_f))
    before, after = misfits(1.0), misfits(f)
    record = {"factor": round(f, 5), "objects": len(items),
              "top_row_misfit_px": {str(int(fo.id)): [round(float(b), 2), round(float(a), 2)]
                                    for (_, fo, _, _), b, a in zip(items, before, after)}}
    return f, record


def rescale_about_camera(hyps: list[Hypothesis], world_from_camera: np.ndarray, factor: float) -> None:
    """Every hypothesis moved as the scene scaled by ``factor`` about the camera's foot on the floor
    (the floor stays y = 0, every pixel's ray keeps its direction); sizes stay (assets keep theirs)."""
    wfc = np.asarray(world_from_camera, float)
    foot = np.array([wfc[0, 3], 0.0, wfc[2, 3]])
    for h in hyps:
        h.translation = foot + factor * (np.asarray(h.translation, float) - foot)


def placed_at_scales(hyps: list[Hypothesis], scales: list[float], fp: Footprint, index, K: np.ndarray,
                     world_from_camera: np.ndarray, base: float, settings: FloorPoseSettings,
                     frame: int | None = None) -> list[Hypothesis]:
    """Each of ``hyps`` (asset, yaw) scaled uniformly by each of ``scales`` and stood on the floor at its
    footprint (:func:`place_on_floor`, from its own x/z): the unscored trials, hypothesis by hypothesis,
    scale by scale; a scale that cannot be placed is left out."""
    out = []
    for h in hyps:
        pts = placement_points(index, h.asset_id)
        for sc in scales:
            t = place_on_floor(pts, h.yaw, np.full(3, sc), fp, K, world_from_camera, base,
                               h.translation[[0, 2]], settings.newton_steps, frame,
                               placement_outline(index, h.asset_id))
            if t is not None and np.all(np.isfinite(t)):
                out.append(_trial(h, h.yaw, t, sc))
    return out


def fine_scale_curve(obj, h: Hypothesis, fp: Footprint, index, scorer, K: np.ndarray, world_from_camera: np.ndarray,
                     base: float, k: float, settings: FloorPoseSettings, frame: int | None = None) -> dict | None:
    """One floor object's score curve over the scales ``k`` × ``settings.fine_scale_steps``: its
    ``fine_scale_pairs`` grid-tried (asset, yaw) pairs (``h.extra["scale_pairs"]`` of :func:`pose_on_floor`)
    best at the grid scale nearest ``k``, each placed on the floor (:func:`place_on_floor`) at every such scale
    and scored (those scales within the grid's range only); the curve is the best score per scale. None
    without grid-tried pairs or when a scale could not be placed."""
    pairs = h.extra.get("scale_pairs")
    if not pairs or not settings.fine_scale_steps:
        return None

    def near_k(scores: dict) -> float:
        nearest = min(scores, key=lambda sc: abs(np.log(sc / k)))
        return scores[nearest]

    chosen = sorted(pairs, key=lambda p: -near_k(p[1]))[: max(1, settings.fine_scale_pairs)]
    # within the grid's range, as the coarse vertex is: past its ends no coarse curve says where the peak lies
    lo, hi = min(settings.scales), max(settings.scales)
    fine = [float(k * f) for f in settings.fine_scale_steps if lo - 1e-9 <= k * f <= hi + 1e-9]
    trials = placed_at_scales([pair for pair, _ in chosen], fine, fp, index, K, world_from_camera, base, settings, frame)
    _score(obj, trials, scorer, settings)
    curve = {}
    for t in trials:
        sc = float(t.scale[0])
        curve[sc] = max(curve.get(sc, -np.inf), float(t.score))
    return curve if len(curve) == len(fine) else None


def scene_scale(hyps: list[Hypothesis | None], settings: FloorPoseSettings) -> float | None:
    """The factor the whole scene is too large by (camera height and every distance): the
    scale at which the floor objects together fit their masks best — their score curves over
    the scale grid summed, then the vertex of a parabola through the best grid point and its
    neighbours (log scale); one object's curve alone: the vertex of a least-squares parabola
    through the points within ``single_curve_steps`` of its best. None when fewer than
    ``rescale_min_objects`` objects have a curve."""
    implied = [h.extra["implied_scale"] for h in hyps if h is not None and h.extra.get("implied_scale")]
    curves = [hyps[i].extra["scale_curve"] for i in with_scale_curve(hyps)]
    if not curves and implied:       # scale_by_rows: the objects' own scales, their median (log)
        if len(implied) < max(1, settings.rescale_min_objects):
            return None
        return float(np.exp(np.median(np.log(implied))))
    return curves_vertex(curves, settings)


def with_scale_curve(hyps: list[Hypothesis | None]) -> list[int]:
    """The indices in ``hyps`` of the floor objects whose best placement has a scale curve (what the
    scene's scale rests on)."""
    return [i for i, h in enumerate(hyps) if h is not None and h.extra.get("scale_curve")]


def single_curve_to_read(curved: list[Hypothesis], settings: FloorPoseSettings) -> bool:
    """Whether the one floor object with a scale curve (``curved``: the best placements that have one,
    :func:`with_scale_curve`) may set the scene's scale on its own (read finely about 1.0): too few
    curves for :func:`scene_scale` — exactly one — and its best asset looks like the object
    (``extra["floor_appearance"]`` ≥ ``single_curve_min_appearance``: a stand-in's curve peaks at the
    stand-in's size, not the camera's error)."""
    if len(curved) != 1 or len(curved) >= max(1, settings.rescale_min_objects) or not settings.fine_scale_steps:
        return False
    return curved[0].extra.get("floor_appearance", 0.0) >= settings.single_curve_min_appearance


def curves_to_read_finely(curved: list[Hypothesis], on_estimate: bool, settings: FloorPoseSettings) -> list[int]:
    """The indices in ``curved`` (the best placements with a scale curve, :func:`with_scale_curve`) whose curves
    the fine read about the coarse vertex takes: every one with an estimated or relative depth; without depth
    those whose best asset looks like the object (``extra["floor_appearance"]`` ≥ ``fine_scale_min_appearance``:
    a stand-in's curve peaks at the stand-in's size), none when fewer than ``rescale_min_objects`` do (the coarse
    vertex stands) or when the fine read is off (no steps, or ``fine_scale_on_estimate_only`` without depth)."""
    if not settings.fine_scale_steps or not (on_estimate or not settings.fine_scale_on_estimate_only):
        return []
    if on_estimate:
        return list(range(len(curved)))
    read = [i for i, h in enumerate(curved) if h.extra.get("floor_appearance", 0.0) >= settings.fine_scale_min_appearance]
    return read if len(read) >= max(1, settings.rescale_min_objects) else []


def curves_vertex(curves: list[dict], settings: FloorPoseSettings, min_objects: int | None = None) -> float | None:
    """The scale at which score curves ({scale: score}) summed peak (:func:`scene_scale`); None when
    fewer than ``min_objects`` (default ``rescale_min_objects``) curves or no scale common to all."""
    if len(curves) < max(1, settings.rescale_min_objects if min_objects is None else min_objects):
        return None
    grid = sorted(set.intersection(*[set(c) for c in curves]))
    if not grid:
        return None
    xs = np.log(np.array(grid))
    ys = np.array([sum(c[g] for c in curves) for g in grid])
    j = int(np.argmax(ys))
    if len(curves) == 1 and settings.single_curve_steps > 0:
        lo, hi = max(0, j - settings.single_curve_steps), min(len(xs), j + settings.single_curve_steps + 1)
        if hi - lo >= 4:                 # more points than a parabola's three: a fit, not an interpolation
            a, b, _ = np.polyfit(xs[lo:hi], ys[lo:hi], 2)
            if a < 0:
                return float(np.exp(np.clip(-b / (2 * a), xs[lo], xs[hi - 1])))
    if 0 < j < len(xs) - 1:
        (x0, x1, x2), (y0, y1, y2) = xs[j - 1:j + 2], ys[j - 1:j + 2]
        den = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
        b = (x2 ** 2 * (y0 - y1) + x1 ** 2 * (y2 - y0) + x0 ** 2 * (y1 - y2)) / den
        if a < 0:
            return float(np.exp(np.clip(-b / (2 * a), x0, x2)))
    return float(np.exp(xs[j]))


def placement_disagrees(translation: np.ndarray, seen_points: np.ndarray | None, world_from_camera: np.ndarray,
                        share: float, min_points: int = 20, allowance_m: float = 0.0) -> bool:
    """Whether a floor placement (``translation`` (3,), world) lies farther, on the floor (x/z), from
    the median of the object's ``seen_points`` (N, 3, world, from a depth map) than ``share`` of
    that median's distance from the camera plus ``allowance_m`` (e.g. half the placed asset's
    footprint: the points seen of a bed from its foot lie far from its centre). False without
    enough points or with ``share`` ≤ 0."""
    if share <= 0 or seen_points is None or len(seen_points) < min_points:
        return False
    seen = np.median(np.asarray(seen_points, float)[:, [0, 2]], axis=0)
    camera = np.asarray(world_from_camera, float)[[0, 2], 3]
    placed = np.asarray(translation, float)[[0, 2]]
    return bool(np.linalg.norm(placed - seen) > share * np.linalg.norm(seen - camera) + allowance_m)


def surface_misfit(surface_world: np.ndarray, seen_points: np.ndarray | None, world_from_camera: np.ndarray,
                   min_points: int = 20) -> float | None:
    """How far a placed asset's surface is from where a depth map sees the object: the median over
    ``seen_points`` (N, 3, world) of the distance to the nearest of ``surface_world`` (M, 3, the
    placed asset's surface samples), as a share of the points' median distance from the camera.
    A bed seen from its foot has its points on its surface (a few % from the estimate's leftover
    warp) though their median lies ~1 m from its centre; a contact row misread puts the surface
    a large share of the distance away. None without enough points."""
    if seen_points is None or len(seen_points) < min_points or len(surface_world) == 0:
        return None
    from scipy.spatial import cKDTree
    seen = np.asarray(seen_points, float)
    if len(seen) > 2000:              # an even subsample: the median needs no more
        seen = seen[:: len(seen) // 2000 + 1]
    nearest, _ = cKDTree(np.asarray(surface_world, float)).query(seen)
    camera = np.asarray(world_from_camera, float)[:3, 3]
    reach = float(np.median(np.linalg.norm(seen - camera, axis=1)))
    return float(np.median(nearest)) / max(reach, 1e-6)


def shortlist_at(h: Hypothesis, k: float, n: int, rank_scale_penalty: float = 2.0) -> list[str] | None:
    """The ``n`` assets that fitted best at the grid scale nearest ``k`` (None without a ranking); with
    implied scales (``extra["scale_trials"]``), by score less ``rank_scale_penalty`` × |log(scale / k)|
    (an asset that fits only far from the scene's scale is not the one seen)."""
    tried = h.extra.get("scale_trials")
    if tried:
        order = sorted(tried, key=lambda a: -(a[2] - rank_scale_penalty * abs(np.log(a[1] / k))))
        return list(dict.fromkeys(a for a, _, _ in order))[:n]
    rank = h.extra.get("scale_rank")
    if not rank:
        return None
    near = min(rank, key=lambda sc: abs(np.log(sc / k)))
    return rank[near][:n]


def _score(obj, trials: list[Hypothesis], scorer, settings: FloorPoseSettings) -> None:
    if not trials:
        return
    for h, res in zip(trials, scorer.score(obj, trials)):
        h.extra["render"] = res
        h.score = (settings.w_iou * res["iou"] + settings.w_colour * res["colour"] + settings.w_prior * h.prior
                   + settings.w_appearance * h.extra.get("floor_appearance", 0.0))


def prefer_floor_facing(hyps: list[Hypothesis], cos, margin: float) -> list[Hypothesis]:
    """``hyps`` with the best turned to face where ``cos(yaw, translation)`` says when that costs little.

    Without depth, a chair's silhouette over a table or a nightstand's box looks much the same at
    two axis turns. When the best's front is off (cos ≤ 0.5), the best-scoring placement of the
    same asset (at the same scale when there is one) with cos > 0.7 wins if its score is within
    ``margin`` of the best's score before its slides (``extra["placed_score"]``)."""
    if not hyps or not hyps[0].extra.get("floor_pose"):
        return hyps
    best = hyps[0]
    if cos(best.yaw, best.translation) > 0.5:
        return hyps
    same = [h for h in hyps[1:] if h.asset_id == best.asset_id and cos(h.yaw, h.translation) > 0.7]
    at_scale = [h for h in same if np.allclose(h.scale, best.scale)]
    options = at_scale or same
    if not options:
        return hyps
    pick = max(options, key=lambda h: h.score)
    if pick.score < best.extra.get("placed_score", best.score) - margin:
        return hyps
    pick.extra["turned_to_face"] = True
    return [pick] + [h for h in hyps if h is not pick]


def face_partners(results: list, index, settings: FloorPoseSettings) -> None:
    """No depth: seats within 1 m of a table face it; nightstands within 1 m of a bed face as it does."""
    from scenewright.library.categories import category_info

    def front(yaw: float) -> np.ndarray:
        return np.array([np.sin(yaw), np.cos(yaw)])

    def gap(a: Hypothesis, b: Hypothesis) -> float:
        size = np.asarray(index.sizes[index.row[b.asset_id]], float) * np.asarray(b.scale, float)
        return float(np.linalg.norm(a.translation[[0, 2]] - b.translation[[0, 2]]) - 0.5 * max(size[0], size[2]))

    def nearest_on_footprint(b: Hypothesis, xz: np.ndarray) -> np.ndarray:
        """The point of ``b``'s footprint rectangle nearest ``xz`` (a chair at a table's corner faces
        the side it is at, not the table's centre); its centre when ``xz`` is over it."""
        size = np.asarray(index.sizes[index.row[b.asset_id]], float) * np.asarray(b.scale, float)
        c, s_ = np.cos(b.yaw), np.sin(b.yaw)
        axes = np.array([[c, s_], [-s_, c]])              # columns: the object's x and z on the floor's x/z (R_y)
        local = axes.T @ (xz - b.translation[[0, 2]])
        clamped = np.clip(local, -0.5 * size[[0, 2]], 0.5 * size[[0, 2]])
        if np.allclose(clamped, local):
            return b.translation[[0, 2]]
        return b.translation[[0, 2]] + axes @ clamped

    placed = [r for r in results if r.hypotheses and r.hypotheses[0].extra.get("floor_pose")]
    tables = [r.hypotheses[0] for r in placed if category_info(r.hypotheses[0].category).role == "table"]
    beds = [r.hypotheses[0] for r in placed if r.hypotheses[0].category == "bed"]
    for r in placed:
        h = r.hypotheses[0]
        role = category_info(h.category).role
        if role == "seat" and tables:
            near = min(tables, key=lambda t: gap(h, t))
            if gap(h, near) < 1.0:
                def cos(yaw, t, table=near):
                    d = nearest_on_footprint(table, np.asarray(t, float)[[0, 2]]) - np.asarray(t, float)[[0, 2]]
                    return float(front(yaw) @ d / max(np.linalg.norm(d), 1e-6))
                r.hypotheses = prefer_floor_facing(r.hypotheses, cos, settings.facing_margin)
        elif h.category == "nightstand" and beds:
            near = min(beds, key=lambda b: gap(h, b))
            if gap(h, near) < 1.0:
                facing = front(near.yaw)
                r.hypotheses = prefer_floor_facing(r.hypotheses, lambda yaw, t, f=facing: float(front(yaw) @ f),
                                                   settings.facing_margin)
