"""Room themes and the words people use for things: data, read by the layout and the labeller.

A theme lists what a room of that kind holds, in the order the generator tries to
furnish it: each entry is ``(category, min, max, probability)`` — with that
probability the room gets between min and max of the category (as long as the
library has such assets and the object budget lasts). Entries name library
categories (``scenewright.library.categories``); their placement role comes from there.
"""

from __future__ import annotations

import re

import numpy as np

THEMES: dict[str, list[tuple[str, int, int, float]]] = {
    # Small things follow their support, so even a room of four objects shows something on a table.
    "living": [
        ("sofa", 1, 1, 0.95), ("coffee_table", 1, 1, 0.9), ("vase", 1, 1, 0.6), ("book", 1, 1, 0.3),
        ("plant", 1, 1, 0.3), ("decor", 1, 1, 0.3), ("dining_table", 1, 1, 0.45),
        ("chair", 2, 4, 1.0),          # only around a table placed above
        ("tableware", 1, 2, 0.5), ("tv_stand", 1, 1, 0.5), ("tv", 1, 1, 0.9),
        ("armchair", 1, 2, 0.6), ("bookcase", 1, 1, 0.5), ("cabinet", 1, 1, 0.4), ("lamp", 1, 1, 0.5),
        ("floor_lamp", 1, 1, 0.4), ("large_plant", 1, 1, 0.4), ("piano", 1, 1, 0.1),
    ],
    "bedroom": [
        ("bed", 1, 1, 1.0), ("nightstand", 1, 2, 0.9), ("lamp", 1, 2, 0.8), ("wardrobe", 1, 1, 0.7),
        ("desk", 1, 1, 0.4), ("chair", 1, 1, 1.0), ("book", 1, 1, 0.4), ("electronics", 1, 1, 0.3),
        ("cabinet", 1, 1, 0.5), ("vase", 1, 1, 0.3), ("decor", 1, 1, 0.3), ("plant", 1, 1, 0.3),
        ("armchair", 1, 1, 0.3),
        ("large_plant", 1, 1, 0.3), ("floor_lamp", 1, 1, 0.2),
    ],
    "dining": [
        ("dining_table", 1, 1, 1.0), ("chair", 2, 6, 1.0), ("tableware", 1, 3, 0.9), ("vase", 1, 1, 0.6),
        ("cabinet", 1, 1, 0.7), ("lamp", 1, 1, 0.3), ("plant", 1, 1, 0.3), ("bookcase", 1, 1, 0.3),
        ("large_plant", 1, 1, 0.5), ("floor_lamp", 1, 1, 0.2), ("appliance", 1, 1, 0.15),
    ],
    "office": [
        ("desk", 1, 1, 1.0), ("chair", 1, 1, 1.0), ("electronics", 1, 2, 0.8), ("lamp", 1, 1, 0.6),
        ("book", 1, 2, 0.6), ("bookcase", 1, 2, 0.8), ("cabinet", 1, 1, 0.6), ("tv", 1, 1, 0.3),
        ("plant", 1, 1, 0.3), ("decor", 1, 1, 0.3), ("dining_table", 1, 1, 0.25), ("armchair", 1, 1, 0.3),
        ("large_plant", 1, 1, 0.4), ("floor_lamp", 1, 1, 0.3), ("sofa", 1, 1, 0.15),
    ],
}

# What people call things: a capture's labels are free text, so the benchmark uses
# several words per category (and sometimes the asset's own name).
SYNONYMS: dict[str, list[str]] = {
    "bed": ["bed", "double bed", "single bed"],
    "sofa": ["sofa", "couch", "settee"],
    "armchair": ["armchair", "easy chair", "lounge chair"],
    "chair": ["chair", "dining chair", "seat"],
    "stool": ["stool", "bar stool"],
    "bench": ["bench"],
    "dining_table": ["table", "dining table", "kitchen table"],
    "coffee_table": ["coffee table", "low table", "side table"],
    "desk": ["desk", "writing desk", "work desk"],
    "nightstand": ["nightstand", "bedside table", "night table"],
    "wardrobe": ["wardrobe", "closet", "armoire"],
    "cabinet": ["cabinet", "dresser", "sideboard", "chest of drawers"],
    "bookcase": ["bookcase", "bookshelf", "shelves"],
    "tv_stand": ["tv stand", "tv cabinet", "media console"],
    "appliance": ["fridge", "appliance"],
    "bathtub": ["bathtub", "tub"],
    "toilet": ["toilet"],
    "sink": ["sink", "washbasin"],
    "piano": ["piano", "upright piano"],
    "fireplace": ["fireplace"],
    "floor_lamp": ["floor lamp", "standing lamp", "lamp"],
    "large_plant": ["plant", "potted plant", "indoor tree"],
    "floor_object": ["object", "box"],
    "lamp": ["lamp", "table lamp", "desk lamp"],
    "plant": ["plant", "potted plant", "houseplant"],
    "vase": ["vase", "flower vase", "pot"],
    "tv": ["tv", "television", "screen"],
    "tableware": ["bowl", "dish", "tableware"],
    "book": ["book", "books", "stack of books"],
    "electronics": ["device", "computer", "gadget"],
    "decor": ["decoration", "ornament"],
}


# Labels that state a size, and the footprints they fit: (short side min, short side max,
# long side min), metres, the object's extents across the floor. A person calls a bed
# "double" only when it is one (mattress standards start at 1.35 m; a single is 0.9-1.0 m
# plus its frame); a 1.0 m hospital bed labelled "double bed" would be a wrong label, and
# the layout method reads these words as a minimum footprint.
SIZED_LABELS: dict[str, tuple[float, float, float]] = {
    "double bed": (1.35, float("inf"), 1.8),
    "single bed": (0.8, 1.2, 1.8),
}


def label_fits_footprint(label: str, footprint: tuple[float, float] | None) -> bool:
    """Whether a label's size words (``SIZED_LABELS``) agree with a footprint (two extents
    across the floor, metres, any order); a label without size words fits everything."""
    if label not in SIZED_LABELS or footprint is None:
        return True
    short, long = sorted(float(v) for v in footprint)
    lo, hi, long_min = SIZED_LABELS[label]
    return lo <= short <= hi and long >= long_min


def label_from_name(name: str) -> str:
    """A label a person might write from an asset's catalog name: words split at camelCase,
    lower case, no digits or punctuation ("bedsideTable2" → "bedside table")."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    text = re.sub(r"[^A-Za-z]+", " ", text).lower()
    return " ".join(w for w in text.split() if len(w) > 1)


def _category_words(category: str) -> set[str]:
    words = set(category.split("_"))
    for synonym in SYNONYMS.get(category, []):
        words.update(synonym.split())
    return words - {"of", "table"} if category not in ("dining_table", "coffee_table") else words


def pick_label(rng: np.random.Generator, category: str, name: str, p_name: float = 0.4,
               footprint: tuple[float, float] | None = None) -> str:
    """A free-text label: with probability ``p_name`` the asset's own name, when it reads as
    words a person would use for the thing (it shares a word with the category's synonyms:
    "osaka chair", "glass dining table"); else a synonym of the category — the plain one
    (the first) when the drawn synonym states a size the object's ``footprint`` (its two
    extents across the floor, metres) does not have. The random draws are the same whatever
    the footprint, so a scene's other choices do not depend on it."""
    words = label_from_name(name)
    use_name = rng.random() < p_name
    synonyms = SYNONYMS.get(category, [category.replace("_", " ")])
    choice = synonyms[int(rng.integers(len(synonyms)))]
    if use_name and len(words) <= 30 and set(words.split()) & _category_words(category):
        return words
    return choice if label_fits_footprint(choice, footprint) else synonyms[0]
