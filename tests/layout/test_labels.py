"""The label → category mapper: synonyms, naming rules, typos, unknown words."""

import pytest

from scenewright.library.categories import CATEGORIES
from scenewright.methods.layout.labels import (NEIGHBOURS, SYNONYMS, candidate_categories,
                                               map_label, normalise)

TABLE = [
    ("couch", "sofa"), ("Sofa", "sofa"), ("loveseat", "sofa"), ("sofa_2", "sofa"),
    ("office chair", "chair"), ("Dining Chair #3", "chair"), ("chairs", "chair"),
    ("armchair", "armchair"), ("recliner", "armchair"), ("bar stool", "stool"),
    ("night stand", "nightstand"), ("bedside table", "nightstand"), ("nightstand", "nightstand"),
    ("coffee table", "coffee_table"), ("coffe table", "coffee_table"), ("side table", "coffee_table"),
    ("dining table", "dining_table"), ("kitchen table", "dining_table"), ("writing desk", "desk"),
    ("bookshelves", "bookcase"), ("book shelf", "bookcase"), ("TV stand", "tv_stand"),
    ("television", "tv"), ("fridge", "appliance"), ("floor lamp", "floor_lamp"),
    ("table lamp", "lamp"), ("potted plant", "plant"), ("ficus tree", "large_plant"),
    ("double bed", "bed"), ("wardrobe", "wardrobe"), ("chest of drawers", "cabinet"),
    ("big comfy couch", "sofa"), ("small wooden stool", "stool"), ("chiar", "chair"),
    ("red mug", "tableware"), ("flower vase", "vase"), ("stack of books", "book"),
    ("pedestal vase lamp", "lamp"), ("work desk", "desk"), ("chest", "cabinet"),
]


@pytest.mark.parametrize("label,category", TABLE)
def test_synonym_table(label, category):
    m = map_label(label)
    assert m.category == category, (label, m)
    assert 0 < m.confidence <= 1


@pytest.mark.parametrize("label", ["", "zzqxv", "thingamajig", "42", "___"])
def test_unknown_labels_map_to_none_not_an_error(label):
    m = map_label(label)
    assert m.category is None and m.how == "unknown" and m.confidence == 0


def test_none_label():
    assert map_label(None).category is None


def test_every_target_is_a_library_category():
    assert set(SYNONYMS.values()) <= set(CATEGORIES)
    for cat, nbs in NEIGHBOURS.items():
        assert cat in CATEGORIES and set(nbs) <= set(CATEGORIES)


def test_every_category_name_maps_to_itself():
    for name in CATEGORIES:
        assert map_label(name).category == name
        assert map_label(name.replace("_", " ")).category == name


def test_normalise():
    assert normalise("Dining_Chair-2 (left)") == "dining chair left"


def test_candidate_categories():
    available = {"chair", "stool", "sofa", "dining_table"}
    assert candidate_categories("chair", available) == [("chair", 1.0), ("stool", 0.5)]
    assert candidate_categories("armchair", available) == [("chair", 0.5), ("sofa", 0.5)]
    assert candidate_categories("plant", {"plant", "large_plant", "vase"}) == [
        ("plant", 1.0), ("large_plant", 0.9), ("vase", 0.5)]
    # unknown label or a category the library lacks: search everything, low prior
    everything = candidate_categories(None, available)
    assert {c for c, _ in everything} == available and all(w < 0.5 for _, w in everything)
    assert candidate_categories("piano", available) == everything
