"""Scoring a generated room against its request, with code: what the benchmark and tests report.

``score_scene(generated, looks)`` → recall (requested categories present), count accuracy
(requests whose instance count is exact), relation satisfaction (requested instance relations
that hold on the output geometry, :mod:`scenewright.text.check`), attribute match (requested
colour / material / size words the chosen assets meet, :mod:`scenewright.text.assets`), and
plausibility (interpenetrating pairs and floating objects by
:func:`scenewright.evaluate.plausibility.check_plausibility`, objects outside the room, the
walk from the door to every seat and bed).
"""

from __future__ import annotations

import numpy as np

from scenewright.evaluate.plausibility import check_plausibility
from scenewright.text.assets import attribute_matches


def score_scene(generated, looks, lib) -> dict:
    scene, request, info = generated.scene, generated.request, generated.info
    asked = [o for o in request.objects if o.source == "prompt"]
    present = {i.category for i in scene.instances}
    per_request = {}
    for inst in scene.instances:
        per_request.setdefault(inst.extra.get("request"), []).append(inst)
    recall = [o.category in present for o in asked]
    counts = [len(per_request.get(o.id, [])) == o.count for o in asked]
    attrs = []
    for o in asked:
        for inst in per_request.get(o.id, []):
            attrs += list(attribute_matches(looks.look(lib.record(inst.asset_id)), o.attributes).values())
    rel = [c["holds"] for c in info["requested_relations"]]
    meshes = {i.id: i.world_mesh() for i in scene.instances}
    plaus = check_plausibility(meshes, 0.0, categories={i.id: i.category for i in scene.instances})
    return {"recall": recall, "counts": counts, "relations": rel, "attributes": attrs,
            "interpenetrating_pairs": plaus["n_interpenetrating_pairs"], "floating": plaus["n_floating"],
            "outside_room": len(info["outside_room"]), "walkable": bool(info["walkable"]["ok"]),
            "objects": len(scene.instances)}


def layout_signature(scene) -> dict[int, tuple[str, np.ndarray]]:
    """instance id → (asset id, floor position (2,)) for diversity across seeds."""
    return {i.id: (i.asset_id, np.asarray(i.world_from_object, float)[[0, 2], 3]) for i in scene.instances}


def differ(a, b, min_move_m: float = 0.25) -> bool:
    """Two rooms for one request differ when an asset changed or an object moved ≥ ``min_move_m``."""
    if set(a) != set(b):
        return True
    return any(a[k][0] != b[k][0] or np.linalg.norm(a[k][1] - b[k][1]) >= min_move_m for k in a)
