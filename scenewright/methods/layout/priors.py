"""What a person-made room looks like: the layout method's priors on poses and places.

Each function takes the per-object working state of :mod:`.pipeline` (``ObjectResult``:
``obj`` the perception observation, ``category``, ``hypotheses`` best first, ``chosen``)
and re-ranks or moves its hypotheses; the pipeline decides when each runs.
Coordinates are the world frame of perception (metres, Y up, floor at y = 0).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from scenewright.geometry.boxes import OrientedBox
from scenewright.library.categories import category_info
from scenewright.methods.layout.pose import (PoseSettings, front, is_partial, prefer_facing, prefer_room_facing,
                                             prefer_yaw, turned_about_middle)


def fallback_box(obj, capture, observation, small: bool = False) -> tuple[OrientedBox | None, int | None]:
    """A box for an object without usable depth points (a handful of pixels, depth holes).

    A thing whose mask's bottom rests on another instance (:func:`resting_on`): the ray through
    the bottom-centre of its mask at that instance's depth just under it (a laptop on a desk is
    where the desk is under it; the floor far behind the desk, where that ray meets it, is not).
    Other floor things: the ray through the bottom-centre of the mask meets the floor (y = 0).
    Small things (and rooms without a floor): the ray through the mask's centre at the
    median depth measured just around the mask (what the thing stands on or in front of),
    else of the whole image. The size is set by the caller (catalog median).
    Returns (box whose centre is the point found, the supporting instance's id or None); (None,
    None) for an empty mask.
    """
    ys, xs = np.nonzero(obj.mask)
    if len(ys) == 0:
        return None, None
    K = np.asarray(capture.K, float)
    wfc = np.asarray(observation.world_from_camera, float)
    depth = observation.depth if getattr(observation, "depth", None) is not None else capture.depth
    origin = wfc[:3, 3]
    support = resting_on(obj.mask, capture.seg, depth, int(obj.id)) if capture.seg is not None else None
    if support is not None:
        support_id, z = support
        u, v = float(xs.mean()), float(ys.max()) + 1.0          # the bottom edge of the lowest row
        ray = wfc[:3, :3] @ np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
        return OrientedBox(centre=origin + ray * z, size=np.array([0.1, 0.1, 0.1]), yaw=0.0), support_id
    ring = ndimage.binary_dilation(obj.mask, iterations=6) & ~obj.mask
    around = depth[ring] if depth is not None else np.array([])
    around = around[np.isfinite(around)]
    if len(around):
        z = float(np.median(around))
    elif depth is not None and np.isfinite(depth).any():
        z = float(np.nanmedian(depth))
    else:
        z = 3.0
    use_floor = observation.floor is not None and not small
    u, v = float(xs.mean()), float(ys.max() if use_floor else ys.mean())
    ray = wfc[:3, :3] @ np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
    point = origin + ray * z
    if use_floor and ray[1] < -1e-3:
        s = -origin[1] / ray[1]
        if 0 < s < 4 * z:
            point = origin + ray * s
    return OrientedBox(centre=point, size=np.array([0.1, 0.1, 0.1]), yaw=0.0), None


def resting_on(mask: np.ndarray, seg: np.ndarray, depth: np.ndarray | None, own_id: int,
               below_px: int = 4, min_share: float = 0.5) -> tuple[int, float] | None:
    """(id, depth) of the instance a mask rests on: the one under most of the mask's bottom
    columns (within ``below_px`` rows under each column's lowest pixel, at least ``min_share`` of
    the columns), and the median of its depth there (else over its whole mask). None when the
    mask's bottom meets the room (0), the image's bottom edge, or an instance without depth."""
    if depth is None:
        return None
    h = mask.shape[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    if len(cols) == 0:
        return None
    lowest = h - 1 - np.argmax(mask[::-1, cols], axis=0)          # each column's lowest mask row
    rows = lowest[:, None] + np.arange(1, below_px + 1)[None, :]   # (C, below_px) rows under it
    inside = rows < h
    under = np.where(inside, seg[np.minimum(rows, h - 1), cols[:, None]], 0)
    under = np.where(under == own_id, 0, under)
    first = np.array([u[u > 0][0] if np.any(u > 0) else 0 for u in under])
    if not np.any(first > 0):
        return None
    ids, counts = np.unique(first[first > 0], return_counts=True)
    k = int(np.argmax(counts))
    if counts[k] < min_share * len(cols):
        return None
    support = int(ids[k])
    below = (under == support) & inside
    z = depth[np.minimum(rows, h - 1)[below], np.broadcast_to(cols[:, None], rows.shape)[below]]
    z = z[np.isfinite(z)]
    if not len(z):
        z = depth[(seg == support) & np.isfinite(depth)]
    if not len(z):
        return None
    return support, float(np.median(z))


def face_tables(results: list, scorer, settings: PoseSettings) -> None:
    """Seats near a table (within 1 m of its box) turn to face it when that costs little."""
    tables = [r for r in results if r.hypotheses and category_info(r.hypotheses[0].category).role == "table"]
    if not tables:
        return
    for r in results:
        if not r.hypotheses or category_info(r.hypotheses[0].category).role != "seat":
            continue
        xz = r.hypotheses[0].translation[[0, 2]]
        best, best_gap = None, 1.0
        for t in tables:
            box = t.obj.box
            gap = np.linalg.norm(xz - t.hypotheses[0].translation[[0, 2]]) - 0.5 * max(box.size[0], box.size[2])
            if gap < best_gap:
                best, best_gap = t, gap
        if best is not None:
            r.hypotheses = prefer_facing(r.hypotheses, best.hypotheses[0].translation[[0, 2]], r.obj, scorer,
                                         settings)


def face_room(results: list, observation, scorer, settings: PoseSettings) -> None:
    """Wall furniture near a wall (centre within half its size + 0.3 m) faces into the room."""
    walls = list(getattr(observation, "walls", []) or [])
    if not walls:
        return
    for r in results:
        if not r.hypotheses or category_info(r.hypotheses[0].category).role != "wall":
            continue
        h = r.hypotheses[0]
        reach = 0.5 * max(r.obj.box.size[0], r.obj.box.size[2]) + 0.3
        dists = [abs(float(np.dot(h.translation - np.asarray(w.point, float), np.asarray(w.normal, float))))
                 for w in walls]
        k = int(np.argmin(dists))
        if dists[k] < reach:
            r.hypotheses = prefer_room_facing(r.hypotheses, np.asarray(walls[k].normal, float), r.obj, scorer,
                                              settings)


def face_room_focus(results: list, scorer, settings: PoseSettings) -> None:
    """Border-cut wall furniture with no wall seen near it faces the room's focus.

    A cabinet seen from its side, or a bed from its head end, looks the same turned 180°, and
    the wall its back stands against is often outside the picture. The room's furniture is
    in front of it, though: when the best hypothesis' front points away from the centroid of
    the other (non-small) objects, the same box turned to face that centroid (turned about
    its middle, so it covers what the best covered) is rendered, and wins if it scores within
    ``room_focus_margin`` of the best.
    """
    if not settings.room_focus or scorer is None:
        return
    placed = [(r, r.hypotheses[0].translation[[0, 2]]) for r in results
              if r.hypotheses and category_info(r.hypotheses[0].category).role != "small"]
    for r in results:
        if not r.hypotheses or category_info(r.hypotheses[0].category).role != "wall" or not is_partial(r.obj):
            continue
        best = r.hypotheses[0]
        if best.extra.get("facing_prior") or "render" not in best.extra:   # a wall seen near it decided
            continue
        others = [xz for q, xz in placed if q is not r]
        if len(others) < settings.room_focus_objects:
            continue
        to_focus = np.mean(others, axis=0) - best.translation[[0, 2]]
        dist = float(np.linalg.norm(to_focus))
        if dist < 0.5:
            continue
        to_focus = to_focus / dist
        if float(front(best.yaw) @ to_focus) > -0.5:      # not turned away from the room
            continue
        base = best.score - best.extra["render"]["render"]
        step = np.radians(settings.local_yaw_deg)
        trials = [turned_about_middle(best, scorer.index, np.pi + k * step) for k in (0, -1, 1)]
        for h, res in zip(trials, scorer.score(r.obj, trials)):
            h.extra["render"] = res
            h.score = res["render"] + base
        pick = max(trials, key=lambda h: h.score)
        if pick.score >= best.score - settings.room_focus_margin:
            pick.extra["facing_prior"] = True
            r.hypotheses = [pick] + r.hypotheses


def room_yaw_for_radial(category: str, xz: np.ndarray, bottom: float, supports: list[tuple],
                        tables: list[tuple], camera_xz: np.ndarray) -> float | None:
    """The yaw (radians) a round thing takes in a person-made room, or None.

    ``supports``: (box OrientedBox, yaw) of things that carry small objects; ``tables``:
    (xz (2,), footprint area) of coffee/dining tables; ``camera_xz`` (2,). A small thing
    is turned like the support under it (the highest top below its bottom, within 0.3 m);
    a floor thing faces the room's focus — the largest table, else the camera (which looks
    into the room from its edge).
    """
    role = category_info(category).role
    if role == "small":
        under = [(box.top, yaw) for box, yaw in supports
                 if box.contains_xz(xz[None], margin=0.05)[0] and -0.3 < bottom - box.top < 0.3]
        if not under:
            return None
        return float(max(under)[1])
    if role == "floor":
        if tables:
            focus = max(tables, key=lambda t: t[1])[0]
        else:
            focus = camera_xz
        d = np.asarray(focus, float) - xz
        if np.linalg.norm(d) < 0.2:
            return None
        return float(np.arctan2(d[0], d[1]))
    return None


def radial_yaws(results: list, wfc: np.ndarray, scorer, settings: PoseSettings,
                 index) -> None:
    """Round things (a round shape: vases, bowls, some lamps) take the yaw of the room around them:
    any yaw looks the same, a person-made room's prior decides. A plant whose leaves show its
    yaw keeps the one its render chose."""
    supports, tables = [], []
    for r in results:
        if not r.hypotheses or r.obj.box is None:
            continue
        info = category_info(r.hypotheses[0].category)
        if info.support:
            supports.append((r.obj.box, float(r.hypotheses[0].yaw)))
        if r.hypotheses[0].category in ("coffee_table", "dining_table"):
            tables.append((r.hypotheses[0].translation[[0, 2]], float(r.obj.box.size[0] * r.obj.box.size[2])))
    for r in results:
        if not r.hypotheses or r.obj.box is None:
            continue
        h = r.hypotheses[0]
        if category_info(h.category).symmetry != "radial" or index.symmetry(h.asset_id) != "radial":
            continue
        yaw = room_yaw_for_radial(h.category, h.translation[[0, 2]], float(r.obj.box.bottom), supports,
                                  tables, np.asarray(wfc, float)[[0, 2], 3])
        if yaw is not None:
            r.hypotheses = prefer_yaw(r.hypotheses, yaw, r.obj, scorer, settings)


def cut_end_shift(points_xz: np.ndarray, centre_xz: np.ndarray, tangent: np.ndarray, length: float,
                  cut_plus: bool, cut_minus: bool, margin: float = 0.1) -> float:
    """Shift (metres, along ``tangent`` (2,)) that puts a wall object's visible end where it is seen.

    ``points_xz`` (N, 2): observed points; ``length``: the asset's extent along the wall.
    Only one end may be cut by the image border (``cut_plus``: the +tangent end): the other,
    visible, end pins the object and the catalog length places the rest beyond the border.
    0 when nothing is cut, both are, or the visible part is already as long as the asset.
    """
    if cut_plus == cut_minus or len(points_xz) < 10:
        return 0.0
    proj = (np.asarray(points_xz, float) - centre_xz) @ tangent
    lo, hi = np.percentile(proj, [2, 98])
    if length < hi - lo + margin:
        return 0.0
    return float(lo + length / 2) if cut_plus else float(hi - length / 2)


def anchor_cut_end(r, observation, capture, wfc: np.ndarray, index) -> None:
    """A border-cut wall object (bed, bookcase...) against a wall: its visible end pins it."""
    h, obj = r.chosen, r.obj
    if not getattr(obj, "truncated", False) or category_info(h.category).role != "wall" \
            or obj.points is None or len(obj.points) < 10:
        return
    walls = list(getattr(observation, "walls", []) or [])
    front_xz = np.array([np.sin(h.yaw), np.cos(h.yaw)])
    best = None
    for w in walls:
        n = np.asarray(w.normal, float)[[0, 2]]
        n = n / max(np.linalg.norm(n), 1e-9)
        dist = abs(float(np.dot(h.translation - np.asarray(w.point, float), np.asarray(w.normal, float))))
        if float(front_xz @ n) > 0.9 and dist < 1.0 and (best is None or dist < best[0]):
            best = (dist, n)
    if best is None:
        return
    n = best[1]
    tangent = np.array([-n[1], n[0]])
    size = index.sizes[index.row[h.asset_id]] * np.asarray(h.scale, float)
    length = float(size[0])
    c = h.translation[[0, 2]]
    proj = (obj.points[:, [0, 2]] - c) @ tangent
    lo, hi = np.percentile(proj, [2, 98])
    cam_from_world = np.linalg.inv(wfc)
    seen_y = float(np.median(obj.points[:, 1]))

    def outside(s_along: float) -> bool:
        # At the height where it was seen: an object cut by the bottom border has its
        # mid-height out of view at both ends.
        p = np.array([c[0] + tangent[0] * s_along, seen_y, c[1] + tangent[1] * s_along])
        q = cam_from_world[:3, :3] @ p + cam_from_world[:3, 3]
        if q[2] <= 1e-3:
            return True
        u, v = (np.asarray(capture.K, float) @ q)[:2] / q[2]
        return not (0 <= u < capture.width and 0 <= v < capture.height)

    shift = cut_end_shift(obj.points[:, [0, 2]], c, tangent, length, outside(hi + 0.15), outside(lo - 0.15))
    if shift != 0.0:
        h.translation = h.translation + np.array([tangent[0], 0.0, tangent[1]]) * shift
        r.notes.append("cut_end_anchored")


def support_height(r, observation) -> float | None:
    """The floor's height for things that stand on the floor (None: small things, or no floor).

    An unknown label counts as floor-standing when its box reaches down near the floor.
    """
    floor = observation.floor if observation.floor is not None else getattr(observation, "floor_guess", None)
    if floor is None:
        return None
    y = float(np.asarray(floor.point, float)[1])
    if r.category is not None:
        return None if category_info(r.category).role == "small" else y
    return y if r.obj.box.centre[1] - r.obj.box.size[1] / 2 - y < 0.3 else None
