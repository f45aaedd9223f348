"""Free-text labels ("couch", "office chair", "night stand") → library categories.

A label goes through, in order: the maintained synonym table (whole phrase), the
library's own naming rules (``library.categories.NAME_RULES``, the same rules that
name the assets), the synonym table token by token (the head noun, usually the
last word, first), and string similarity (``difflib``) against every known word, so
typos still land. A label nothing recognises maps to ``None``: retrieval then ranks
the whole library on geometry alone — an unknown label is never an error.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from scenewright.library.categories import CATEGORIES, NAME_RULES

# Phrase or word → category. Data on purpose: extend it when a label is misread.
SYNONYMS: dict[str, str] = {
    # seating
    "couch": "sofa", "sofa": "sofa", "settee": "sofa", "loveseat": "sofa", "love seat": "sofa",
    "sectional": "sofa", "divan": "sofa", "chesterfield": "sofa", "sofa bed": "sofa",
    "armchair": "armchair", "arm chair": "armchair", "easy chair": "armchair",
    "lounge chair": "armchair", "club chair": "armchair", "recliner": "armchair",
    "wingback": "armchair", "ottoman": "armchair", "pouf": "armchair", "pouffe": "armchair",
    "beanbag": "armchair", "bean bag": "armchair",
    "chair": "chair", "dining chair": "chair", "office chair": "chair", "desk chair": "chair",
    "kitchen chair": "chair", "side chair": "chair", "seat": "chair", "rocking chair": "chair",
    "stool": "stool", "bar stool": "stool", "barstool": "stool", "footstool": "stool",
    "tabouret": "stool",
    "bench": "bench", "pew": "bench",
    # beds
    "bed": "bed", "double bed": "bed", "single bed": "bed", "crib": "bed", "cot": "bed",
    "futon": "bed", "mattress": "bed", "bunk": "bed",
    # tables
    "table": "dining_table", "dining table": "dining_table", "kitchen table": "dining_table",
    "dinner table": "dining_table", "round table": "dining_table",
    "coffee table": "coffee_table", "side table": "coffee_table", "end table": "coffee_table",
    "low table": "coffee_table", "tea table": "coffee_table", "cocktail table": "coffee_table",
    "desk": "desk", "writing desk": "desk", "office desk": "desk", "computer desk": "desk",
    "dressing table": "desk", "vanity table": "desk", "workstation": "desk",
    # storage
    "nightstand": "nightstand", "night stand": "nightstand", "bedside table": "nightstand",
    "night table": "nightstand", "bedside cabinet": "nightstand", "bedside": "nightstand",
    "wardrobe": "wardrobe", "closet": "wardrobe", "armoire": "wardrobe", "clothes rack": "wardrobe",
    "cabinet": "cabinet", "cupboard": "cabinet", "dresser": "cabinet", "chest of drawers": "cabinet",
    "drawers": "cabinet", "sideboard": "cabinet", "buffet": "cabinet", "credenza": "cabinet",
    "commode": "cabinet", "locker": "cabinet", "storage": "cabinet", "drawer": "cabinet",
    "bookcase": "bookcase", "bookshelf": "bookcase", "book shelf": "bookcase", "shelf": "bookcase",
    "shelves": "bookcase", "shelving": "bookcase", "rack": "bookcase", "etagere": "bookcase",
    "tv stand": "tv_stand", "tv unit": "tv_stand", "tv cabinet": "tv_stand",
    "media console": "tv_stand", "entertainment center": "tv_stand", "console": "tv_stand",
    # appliances and fixtures
    "fridge": "appliance", "refrigerator": "appliance", "freezer": "appliance", "oven": "appliance",
    "stove": "appliance", "cooker": "appliance", "washing machine": "appliance",
    "washer": "appliance", "dryer": "appliance", "dishwasher": "appliance", "range": "appliance",
    "bathtub": "bathtub", "bath": "bathtub", "tub": "bathtub", "jacuzzi": "bathtub",
    "toilet": "toilet", "wc": "toilet", "bidet": "toilet", "lavatory": "toilet",
    "sink": "sink", "basin": "sink", "washbasin": "sink",
    "piano": "piano", "keyboard instrument": "piano", "fireplace": "fireplace", "hearth": "fireplace",
    # lights, plants, small things
    "floor lamp": "floor_lamp", "standing lamp": "floor_lamp", "lantern": "floor_lamp",
    "torchiere": "floor_lamp",
    "lamp": "lamp", "table lamp": "lamp", "desk lamp": "lamp", "light": "lamp", "candle": "lamp",
    "plant": "plant", "potted plant": "plant", "flower": "plant", "flowers": "plant",
    "cactus": "plant", "houseplant": "plant", "succulent": "plant", "orchid": "plant",
    "tree": "large_plant", "large plant": "large_plant", "palm": "large_plant",
    "ficus": "large_plant", "indoor tree": "large_plant",
    "vase": "vase", "pot": "vase", "jar": "vase", "urn": "vase",
    "tv": "tv", "television": "tv", "monitor": "tv", "screen": "tv", "display": "tv",
    "book": "book", "books": "book", "magazine": "book", "newspaper": "book",
    "cup": "tableware", "mug": "tableware", "glass": "tableware", "plate": "tableware",
    "bowl": "tableware", "bottle": "tableware", "teapot": "tableware", "kettle": "tableware",
    "dish": "tableware", "tray": "tableware", "fruit bowl": "tableware",
    "laptop": "electronics", "computer": "electronics", "phone": "electronics",
    "radio": "electronics", "speaker": "electronics", "microwave": "electronics",
    "toaster": "electronics", "printer": "electronics", "coffee machine": "electronics",
    "decoration": "decor", "ornament": "decor", "sculpture": "decor", "statue": "decor",
    "figurine": "decor", "decor": "decor", "clock": "decor", "box": "decor",
    "basket": "floor_object", "trash can": "floor_object", "bin": "floor_object",
    "guitar": "floor_object", "aquarium": "floor_object", "bicycle": "floor_object",
}

# Categories that are easily confused for one another: retrieval also looks there.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "chair": ("stool", "armchair"),
    "stool": ("chair",),
    "armchair": ("chair", "sofa"),
    "sofa": ("armchair", "bench", "bed"),
    "bench": ("sofa", "coffee_table"),
    "bed": ("sofa",),
    "dining_table": ("coffee_table", "desk"),
    "coffee_table": ("dining_table", "nightstand"),
    "desk": ("dining_table", "cabinet"),
    "nightstand": ("cabinet", "coffee_table"),
    "cabinet": ("nightstand", "tv_stand", "wardrobe", "bookcase"),
    "tv_stand": ("cabinet",),
    "wardrobe": ("cabinet", "bookcase"),
    "bookcase": ("cabinet", "wardrobe"),
    "appliance": ("cabinet",),
    "lamp": ("floor_lamp", "vase"),
    "floor_lamp": ("lamp",),
    "plant": ("large_plant", "vase"),
    "large_plant": ("plant",),
    "vase": ("plant", "tableware"),
    "tableware": ("vase", "decor"),
    "tv": ("electronics",),
    "electronics": ("tv", "decor"),
    "book": ("decor",),
    "decor": ("tableware", "electronics", "vase"),
    "floor_object": ("decor",),
    "sink": ("cabinet",),
    "toilet": ("sink",),
}

# Neighbours that differ mostly by size: a generic label ("plant", "lamp") says little
# about which one it is, so the neighbour is searched almost as readily.
SIZE_SIBLINGS = {("plant", "large_plant"), ("large_plant", "plant"), ("lamp", "floor_lamp"),
                 ("floor_lamp", "lamp")}

_RULES = [(re.compile(p), c) for p, c in NAME_RULES]


@dataclass(frozen=True)
class LabelMatch:
    """Result of :func:`map_label`: ``category`` is None when nothing matched."""

    label: str
    category: str | None
    confidence: float     # 1 exact phrase, 0.9 naming rule, 0.8 token, ≤ 0.8 fuzzy, 0 none
    how: str              # "synonym" | "rule" | "token" | "fuzzy" | "unknown"


def normalise(label: str) -> str:
    """Lower case, separators to spaces, instance suffixes ("chair_2", "chair #3") and plurals' noise dropped."""
    text = label.lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"[#()\[\],.;:/]", " ", text)
    text = re.sub(r"\b\d+\b", " ", text)
    return " ".join(text.split())


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ves"):
        return word[:-3] + "f"
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxh":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=1)
def _vocabulary() -> dict[str, str]:
    vocab = dict(SYNONYMS)
    for name in CATEGORIES:
        vocab.setdefault(name.replace("_", " "), name)
    return vocab


@lru_cache(maxsize=4096)
def map_label(label: str | None) -> LabelMatch:
    """Map one free-text label to a library category (never raises)."""
    raw = label or ""
    text = normalise(raw)
    if not text:
        return LabelMatch(raw, None, 0.0, "unknown")
    vocab = _vocabulary()
    for candidate in (text, " ".join(_singular(w) for w in text.split())):
        if candidate in vocab:
            return LabelMatch(raw, vocab[candidate], 1.0, "synonym")
    # A near-exact phrase (one typo: "coffe table") before the rules, which would
    # read only "table" in it.
    close = difflib.get_close_matches(text, list(vocab), n=1, cutoff=0.88)
    if close:
        return LabelMatch(raw, vocab[close[0]], 0.85, "fuzzy")
    words = [_singular(w) for w in text.split()]
    # The head noun of an English noun phrase is its last word ("flower vase" is a vase):
    # the last bigram or word in the table decides before the naming rules, which were
    # written for catalog names and match anywhere in the text.
    if words and (words[-1] in vocab or (len(words) > 1 and f"{words[-2]} {words[-1]}" in vocab)):
        key = f"{words[-2]} {words[-1]}" if len(words) > 1 and f"{words[-2]} {words[-1]}" in vocab else words[-1]
        return LabelMatch(raw, vocab[key], 0.85, "token")
    for pattern, category in _RULES:
        if pattern.search(text):
            return LabelMatch(raw, category, 0.9, "rule")
    for i in range(len(words) - 1, -1, -1):
        if i > 0 and f"{words[i - 1]} {words[i]}" in vocab:
            return LabelMatch(raw, vocab[f"{words[i - 1]} {words[i]}"], 0.8, "token")
        if words[i] in vocab:
            return LabelMatch(raw, vocab[words[i]], 0.8, "token")
    best, best_ratio = None, 0.0
    keys = list(vocab)
    for query in [text] + words[::-1]:
        for key in difflib.get_close_matches(query, keys, n=1, cutoff=0.75):
            ratio = difflib.SequenceMatcher(None, query, key).ratio()
            if ratio > best_ratio:
                best, best_ratio = key, ratio
    if best is not None:
        return LabelMatch(raw, vocab[best], round(0.8 * best_ratio, 3), "fuzzy")
    return LabelMatch(raw, None, 0.0, "unknown")


# Size words that fix a bed's footprint: mattress standards, metres (short side, long
# side), kept a little under the smallest national standard. An occluded "double bed"
# seen as a small box is still a double bed, never a crib.
BED_SIZE_WORDS = {"double": (1.35, 1.9), "full": (1.35, 1.9), "queen": (1.5, 2.0), "king": (1.8, 2.0)}


def label_min_footprint(label: str | None) -> tuple[float, float] | None:
    """Smallest plausible footprint (short, long side; metres) a label states, or None.

    Only size words of bed labels ("double bed", "king size bed") say anything: a
    "double" elsewhere ("double wardrobe") is not a standard size.
    """
    if map_label(label).category != "bed":
        return None
    sizes = [BED_SIZE_WORDS[w] for w in normalise(label or "").split() if w in BED_SIZE_WORDS]
    return max(sizes) if sizes else None


def candidate_categories(category: str | None, available: set[str] | dict,
                         on_floor: bool | None = None, role_prior: float = 1.0) -> list[tuple[str, float]]:
    """Categories to search, with a prior weight: the category itself 1, its neighbours 0.5.

    ``available`` are the categories the library holds. An unknown or absent category
    searches everything available (weight 0.3), so the best geometric match still wins;
    ``on_floor`` (where such an object stands, when known) multiplies the weight of the
    categories whose role says otherwise — things that stand on furniture (role ``small``)
    for an object on the floor, the rest for one above it — by ``role_prior``.
    """
    available = set(available)
    out: list[tuple[str, float]] = []
    if category in available:
        out.append((category, 1.0))
    for nb in NEIGHBOURS.get(category or "", ()):
        if nb in available:
            out.append((nb, 0.9 if (category, nb) in SIZE_SIBLINGS else 0.5))
    if not out:
        def weight(c: str) -> float:
            if on_floor is None or c not in CATEGORIES:
                return 0.3
            return 0.3 * (role_prior if (CATEGORIES[c].role == "small") == on_floor else 1.0)
        out = [(c, weight(c)) for c in sorted(available)]
    return out
