"""Words → library categories and room types, by sentence-embedding similarity.

Each category is represented by several texts: its own name, the words the benchmark's
labeller uses for it (``bench.themes.SYNONYMS``) and the names of the library's assets
filed under it ("Bedside table", "Winchester sofa", "Futon couch"). A phrase goes to the
category of its most similar text (cosine of all-MiniLM-L6-v2 embeddings), so words the
categories never use ("settee", "nightstand", "somewhere to sleep") land where a person
would put them, and a library with other assets brings its own vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from scenewright.bench.themes import SYNONYMS, label_from_name
from scenewright.text.vocabulary import ROOM_TYPES

# Below this cosine a phrase names nothing the library holds.
MIN_OBJECT_SIMILARITY = 0.58
MIN_ROOM_SIMILARITY = 0.6
# Parts of the room itself, which the library does not furnish: a phrase nearer to one of
# these than to any category is recorded as a room feature, not turned into furniture.
ROOM_FEATURES = ["window", "door", "wall", "floor", "ceiling", "rug", "carpet", "curtains", "painting",
                 "picture on the wall", "mirror", "gallery wall", "natural light", "sunlight", "view",
                 "wallpaper", "parquet", "stairs"]
# A category's score: this share of its best text's cosine, the rest from its second best, so a
# word shared by two categories ("lamp": table lamp and floor lamp) goes to the one whose
# assets are called that.
BEST_WEIGHT = 0.8
# Short descriptions of what a category is for ("a place to sit" is a seat, not a word in a name).
CATEGORY_GLOSS = {
    "bed": "a place to sleep", "sofa": "a seat for several people", "chair": "a place to sit",
    "armchair": "a comfortable seat with arms", "dining_table": "a table to eat at",
    "desk": "a table to work at", "wardrobe": "a place to hang clothes", "bookcase": "a place to keep books",
    "large_plant": "a big potted plant standing on the floor", "floor_lamp": "a tall lamp standing on the floor",
    "tv": "a screen to watch films", "appliance": "a kitchen appliance", "nightstand": "a small table by the bed",
}


@dataclass
class Match:
    """Best category for a phrase: ``score`` its cosine, ``via`` the text it matched,
    ``runner_up`` (category, score) of the next category."""

    phrase: str
    category: str | None
    score: float
    via: str
    runner_up: tuple[str, float] | None

    def to_json(self) -> dict:
        return {"phrase": self.phrase, "category": self.category, "score": round(self.score, 4),
                "via": self.via, "runner_up": None if self.runner_up is None
                else [self.runner_up[0], round(self.runner_up[1], 4)]}


class CategoryMatcher:
    """Nearest-text matching of phrases to the library's categories and to room types."""

    def __init__(self, encoder, categories: dict[str, list[str]]):
        """``categories``: category → asset names in the library (only categories with assets)."""
        self.encoder = encoder
        texts, owners = [], []
        for cat in sorted(categories):
            words = {cat.replace("_", " "), *SYNONYMS.get(cat, [])}
            if cat in CATEGORY_GLOSS:
                words.add(CATEGORY_GLOSS[cat])
            words |= {label_from_name(n) for n in categories[cat] if label_from_name(n)}
            for w in sorted(words):
                texts.append(w)
                owners.append(cat)
        self.texts, self.owners = texts, np.array(owners)
        self.categories = sorted(categories)
        self.vectors = encoder.encode_stored(texts)
        room_texts = [(rt, w) for rt, spec in ROOM_TYPES.items() for w in spec["words"]]
        self.room_owners = [rt for rt, _ in room_texts]
        self.room_texts = [w for _, w in room_texts]
        self.room_vectors = encoder.encode(self.room_texts)
        self.feature_vectors = encoder.encode(ROOM_FEATURES)

    @classmethod
    def from_library(cls, lib, encoder) -> "CategoryMatcher":
        names: dict[str, list[str]] = {}
        for r in lib.records:
            names.setdefault(r.category, []).append(r.name)
        return cls(encoder, names)

    def match(self, phrase: str) -> Match:
        """The category a phrase names; ``category`` None when nothing is similar enough or
        the phrase is nearer a part of the room (window, rug) than any category."""
        v = self.encoder.encode([phrase])[0]
        sims = self.vectors @ v
        scored = []
        for cat in self.categories:
            own = np.sort(sims[self.owners == cat])[::-1]
            second = own[1] if len(own) > 1 else own[0]
            best_text = int(np.flatnonzero(self.owners == cat)[np.argmax(sims[self.owners == cat])])
            scored.append((BEST_WEIGHT * own[0] + (1 - BEST_WEIGHT) * second, float(own[0]), cat, best_text))
        scored.sort(key=lambda t: -t[0])
        _, score, cat, text = scored[0]
        runner = (scored[1][2], scored[1][1]) if len(scored) > 1 else None
        feature = float((self.feature_vectors @ v).max())
        ok = score >= MIN_OBJECT_SIMILARITY and score > feature
        return Match(phrase, cat if ok else None, score, self.texts[text], runner)

    def room_type(self, phrase: str) -> tuple[str | None, float]:
        """(room type, cosine) of a phrase naming a room; (None, cosine) below the threshold."""
        text = re.sub(r"\b(a|an|the)\b", " ", phrase).strip()
        if not text:
            return None, 0.0
        sims = self.room_vectors @ self.encoder.encode([text])[0]
        best = int(np.argmax(sims))
        score = float(sims[best])
        return (self.room_owners[best] if score >= MIN_ROOM_SIMILARITY else None), score
