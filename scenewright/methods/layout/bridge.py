"""Hand-over to part A: the scene graph (``scene_graph.build_scene_graph``) and the
layout optimisation (``optimize.optimize_layout``).

Until those land, :func:`_standin_settle` does the minimum so that results are
physically sensible: floor things stand on y = 0, small things rest on the top of
the support under them. It is private and goes away once part A's modules exist.
"""

from __future__ import annotations

import numpy as np

from scenewright.library.categories import category_info


def _world_points(h, index) -> np.ndarray:
    geom = index.geometry(h.asset_id)
    return (geom.points * h.scale) @ _rot(h.yaw).T + h.translation


def _rot(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _standin_settle(results, observation, index) -> list:
    """Floor objects to y = 0; small objects onto the highest support top under them."""
    from scenewright.scene import Relation
    relations = []
    placed = [r for r in results if r.chosen is not None]
    floor_y = 0.0 if observation.floor is not None else (
        float(observation.floor_guess.point[1]) if getattr(observation, "floor_guess", None) is not None else None)
    for r in placed:
        if category_info(r.chosen.category).role != "small" and floor_y is not None:
            r.chosen.translation[1] = floor_y
    for r in placed:
        h = r.chosen
        if category_info(h.category).role != "small":
            continue
        pts = _world_points(h, index)
        lo, hi = pts[:, [0, 2]].min(0), pts[:, [0, 2]].max(0)
        centre = (lo + hi) / 2
        best, best_top = None, -np.inf
        for other in placed:
            if other is r or not category_info(other.chosen.category).support:
                continue
            op = _world_points(other.chosen, index)
            near = np.all(np.abs(op[:, [0, 2]] - centre) < np.maximum((hi - lo) / 2, 0.05), 1)
            if not near.any():
                continue
            top = float(op[near, 1].max())
            if top <= h.translation[1] + 0.25 and top > best_top:
                best, best_top = other, top
        if best is not None:
            h.translation[1] = best_top
            relations.append(Relation(type="on", subject=int(r.obj.id), object=int(best.obj.id)))
        elif floor_y is not None and h.translation[1] < floor_y + 0.1:
            h.translation[1] = floor_y
    return relations


def run_graph_and_optimize(results, observation, index, settings, timer) -> tuple[list, list[str]]:
    """(relations, notes). Calls part A when present, the stand-in otherwise."""
    notes: list[str] = []
    try:
        from scenewright.methods.layout.scene_graph import build_scene_graph  # noqa: F401
        from scenewright.methods.layout.optimize import optimize_layout  # noqa: F401
        have_part_a = True
    except ImportError:
        have_part_a = False
    if not have_part_a:
        with timer("graph"):
            relations = _standin_settle(results, observation, index)
        notes.append("scene graph/optimisation: stand-in (part A not installed)")
        return relations, notes
    return _part_a(results, observation, index, settings, timer, notes)


def _part_a(results, observation, index, settings, timer, notes):
    raise NotImplementedError   # filled in when part A's interface lands
