"""Choosing an asset for a requested object: its category, then its attributes.

What an asset looks like is measured, not guessed from its category: its colour is the
median colour of its rendered views (``Library.views``: what a person sees), named by the
nearest colour word in CIE Lab; its materials are the material words of its name; its size
is where its footprint area ranks among the assets of its category (0 smallest, 1 largest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from scenewright.text.vocabulary import COLOURS, MATERIAL_FAMILY, MATERIALS

# A colour request is met when the asset's colour is within this CIE76 ΔE of the named colour,
# or the named colour is the nearest (or second nearest) colour word to it.
COLOUR_DELTA_E = 30.0
# Size words pick from this share of the category's assets (smallest or largest).
SIZE_SHARE = 0.4
_WOOD_HUE = (15.0, 45.0)         # degrees: browns and tans read as wood when the name is silent


def _lab(rgb) -> np.ndarray:
    from skimage.color import rgb2lab
    return rgb2lab(np.asarray(rgb, float).reshape(1, -1, 3) / 255.0).reshape(-1, 3)


_COLOUR_NAMES = sorted(COLOURS)
_COLOUR_LAB = _lab([COLOURS[c] for c in _COLOUR_NAMES])


def colour_names(rgb) -> list[str]:
    """Colour words nearest first for an sRGB colour (3,)."""
    d = np.linalg.norm(_COLOUR_LAB - _lab(rgb)[0], axis=1)
    return [_COLOUR_NAMES[i] for i in np.argsort(d, kind="stable")]


def colour_distance(rgb, word: str) -> float:
    """CIE76 ΔE between an sRGB colour and a colour word ("dark " / "light " prefixes ignored)."""
    base = word.split()[-1]
    return float(np.linalg.norm(_lab(rgb)[0] - _lab(COLOURS[base])[0]))


@dataclass
class AssetLook:
    """Measured appearance of one asset."""

    asset_id: str
    rgb: tuple[int, int, int]          # median colour of its rendered views
    colours: list[str]                 # colour words, nearest first
    materials: list[str]               # material families from the name (+ wood from a brown hue)
    size_rank: float                   # 0 = smallest footprint of its category, 1 = largest

    def to_json(self) -> dict:
        return {"rgb": list(self.rgb), "colours": self.colours[:2], "materials": self.materials,
                "size_rank": round(self.size_rank, 3)}


def material_family(word: str) -> str:
    return MATERIAL_FAMILY.get(word, word)


class AssetLooks:
    """Appearance of the library's assets, measured on first use and kept for the process."""

    def __init__(self, lib):
        self.lib = lib
        self._looks: dict[str, AssetLook] = {}
        self._rank: dict[str, float] = {}
        by_cat: dict[str, list] = {}
        for r in lib.records:
            by_cat.setdefault(r.category, []).append(r)
        for recs in by_cat.values():
            areas = np.array([r.width * r.depth for r in recs])
            order = np.argsort(np.argsort(areas, kind="stable"), kind="stable")
            for r, k in zip(recs, order):
                self._rank[r.asset_id] = float(k / max(len(recs) - 1, 1))

    def look(self, record) -> AssetLook:
        if record.asset_id in self._looks:
            return self._looks[record.asset_id]
        rgb = (128, 128, 128)
        try:
            views = self.lib.views(record.asset_id)
            pix = views.rgb[: min(8, len(views.rgb))][views.mask[: min(8, len(views.rgb))]]
            if len(pix):
                rgb = tuple(int(v) for v in np.median(pix, axis=0))
        except Exception:        # an asset without views: neutral grey, said in its look
            pass
        words = set(re.findall(r"[a-z]+", record.name.lower()))
        materials = sorted({material_family(w) for w in words if w in MATERIALS})
        from skimage.color import rgb2hsv
        h, s, v = rgb2hsv(np.array(rgb, float).reshape(1, 1, 3) / 255.0)[0, 0]
        if not materials and _WOOD_HUE[0] <= h * 360 <= _WOOD_HUE[1] and s > 0.25 and 0.2 < v < 0.85:
            materials = ["wood"]
        look = AssetLook(record.asset_id, rgb, colour_names(rgb), materials, self._rank.get(record.asset_id, 0.5))
        self._looks[record.asset_id] = look
        return look


def attribute_matches(look: AssetLook, attributes: dict) -> dict[str, bool]:
    """Which requested attributes an asset meets: ``{"colour:red": True, "material:wood": False,
    "size:+1": True}`` (styles are not measurable on a mesh and are not scored)."""
    out = {}
    for c in attributes.get("colour", []):
        base = c.split()[-1]
        out[f"colour:{c}"] = base in look.colours[:2] or colour_distance(look.rgb, c) <= COLOUR_DELTA_E
    for m in attributes.get("material", []):
        out[f"material:{m}"] = material_family(m) in look.materials
    size = attributes.get("size", 0)
    if size:
        out[f"size:{size:+d}"] = look.size_rank >= 1 - SIZE_SHARE if size > 0 else look.size_rank <= SIZE_SHARE
    return out


def choose_asset(records, attributes: dict, looks: AssetLooks, rng: np.random.Generator,
                 name_scores: np.ndarray | None = None):
    """Pick the record best meeting ``attributes`` among ``records`` (one category).

    Score = attributes met + 0.5 × the name's similarity to the phrase (``name_scores``, (N,)
    cosines or None) + a random share below one attribute's worth, so different seeds give
    different assets whenever several meet the request equally.
    Returns (record, {attribute: met}).
    """
    wants = bool(attributes.get("colour") or attributes.get("material") or attributes.get("size"))
    scores = np.zeros(len(records))
    met_all = []
    for i, r in enumerate(records):
        met = attribute_matches(looks.look(r), attributes) if wants else {}
        met_all.append(met)
        scores[i] = sum(met.values())
    if name_scores is not None:
        scores += 0.5 * np.asarray(name_scores, float)
    scores += rng.uniform(0.0, 0.45, len(records))
    best = int(np.argmax(scores))
    return records[best], met_all[best]
