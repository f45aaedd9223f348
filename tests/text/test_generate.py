"""Furnishing rooms from requests on a real library: relations hold on the output geometry,
nothing interpenetrates or floats, everything is inside, seats and beds can be reached."""

from __future__ import annotations

import numpy as np
import pytest

from scenewright.errors import InputError
from scenewright.text.generate import GenerateSettings
from scenewright.text.score import differ, layout_signature, score_scene

PROMPTS = [
    "a bedroom with a bed, two nightstands next to the bed and a lamp on each nightstand",
    "a dining room with a table and four chairs around it and a vase on the table",
    "a grey sofa against the wall facing a tv, a coffee table in front of the sofa, a plant in the corner",
    "a desk between two bookcases and a chair in front of the desk",
    "two armchairs facing each other",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_rooms_meet_their_requests_and_are_plausible(engine, prompt):
    gen = engine.make_scene(engine.parse(prompt), GenerateSettings(seed=0))
    sc = score_scene(gen, engine.looks, engine.lib)
    assert all(sc["recall"]) and all(sc["counts"]), sc
    assert sc["relations"] and all(sc["relations"]), gen.info["requested_relations"]
    assert sc["interpenetrating_pairs"] == 0 and sc["floating"] == 0 and sc["outside_room"] == 0
    assert sc["walkable"]


def test_seeds_give_different_rooms_and_a_seed_gives_one(engine):
    req = engine.parse("a living room with a sofa, a coffee table and two armchairs")
    a = layout_signature(engine.make_scene(req, GenerateSettings(seed=0)).scene)
    again = layout_signature(engine.make_scene(req, GenerateSettings(seed=0)).scene)
    b = layout_signature(engine.make_scene(req, GenerateSettings(seed=1)).scene)
    assert not differ(a, again, min_move_m=1e-9)
    assert differ(a, b)


def test_a_moved_object_breaks_its_relation(engine):
    """The relation check reads geometry: pulling the nightstand away from the bed fails it."""
    from scenewright.geometry.room import Room
    from scenewright.text.check import check_relations
    gen = engine.make_scene(engine.parse("a nightstand next to the bed"), GenerateSettings(seed=0))
    stand = next(i for i in gen.scene.instances if i.category == "nightstand")
    bed = next(i for i in gen.scene.instances if i.category == "bed")
    room = Room(gen.info["room"]["width"], gen.info["room"]["depth"])
    rel = [("next_to", stand.id, bed.id, None)]
    assert check_relations(gen.scene.instances, rel, room)[0]["holds"]
    bed.world_from_object = bed.world_from_object.copy()
    d = stand.world_from_object[[0, 2], 3] - bed.world_from_object[[0, 2], 3]
    bed.world_from_object[[0, 2], 3] -= 2.0 * d / np.linalg.norm(d)
    assert not check_relations(gen.scene.instances, rel, room)[0]["holds"]


def test_too_much_for_a_small_room_is_refused(engine):
    req = engine.parse("three beds, two wardrobes and a sofa in a 2x2 m room")
    with pytest.raises(InputError, match=r"^prompt: cannot fit"):
        engine.make_scene(req, GenerateSettings(seed=0, attempts=3))


def test_attributes_choose_matching_assets(engine):
    from scenewright.text.assets import attribute_matches
    for colour in ("black", "white"):
        gen = engine.make_scene(engine.parse(f"a {colour} chair"), GenerateSettings(seed=0))
        chair = next(i for i in gen.scene.instances if i.category == "chair")
        look = engine.looks.look(engine.lib.record(chair.asset_id))
        # the chosen asset is the one of the category nearest the colour
        from scenewright.text.assets import colour_distance
        best = min(colour_distance(engine.looks.look(r).rgb, colour) for r in engine.pool.by_category["chair"])
        assert colour_distance(look.rgb, colour) == pytest.approx(best)
        assert attribute_matches(look, {"colour": [colour]}) == chair.extra["attributes_met"]
