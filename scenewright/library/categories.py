"""The category taxonomy: what an asset is, where it goes in a room, how it may be scaled.

Sweet Home 3D's own categories ("Living room", "Kitchen", ...) say where a thing is
sold, not what it is, so each asset's category comes from its name by the ordered
rules below (first match wins). The table is data on purpose: the benchmark
generator, the layout method and the evaluator all read the same facts from it.

Roles (where the benchmark generator puts a thing, and what the layout method expects):
- ``wall``: stands on the floor with its back to a wall, facing into the room.
- ``table``: stands on the floor, free; chairs may stand around it.
- ``seat``: chairs and stools: around a table, facing it (or free).
- ``floor``: stands on the floor anywhere.
- ``small``: stands on top of a support (tables, desks, cabinets, nightstands).
Symmetry (for the symmetry-tolerant rotation error): ``none``, ``two`` (180°),
``four`` (90°) or ``radial`` (any yaw).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    role: str             # wall | table | seat | floor | small
    support: bool         # small things may stand on top of it
    scaling: str          # isotropic | anisotropic
    symmetry: str         # none | two | four | radial


CATEGORIES: dict[str, Category] = {c.name: c for c in [
    Category("bed", "wall", False, "anisotropic", "none"),
    Category("sofa", "wall", False, "anisotropic", "none"),
    Category("armchair", "floor", False, "isotropic", "none"),
    Category("chair", "seat", False, "isotropic", "none"),
    Category("stool", "seat", False, "isotropic", "radial"),
    Category("bench", "floor", False, "anisotropic", "two"),
    Category("dining_table", "table", True, "anisotropic", "two"),
    Category("coffee_table", "table", True, "anisotropic", "two"),
    Category("desk", "wall", True, "anisotropic", "none"),
    Category("nightstand", "wall", True, "isotropic", "none"),
    Category("wardrobe", "wall", False, "anisotropic", "none"),
    Category("cabinet", "wall", True, "anisotropic", "none"),
    Category("bookcase", "wall", False, "anisotropic", "none"),
    Category("tv_stand", "wall", True, "anisotropic", "none"),
    Category("appliance", "wall", False, "isotropic", "none"),
    Category("bathtub", "wall", False, "anisotropic", "none"),
    Category("toilet", "wall", False, "isotropic", "none"),
    Category("sink", "wall", False, "isotropic", "none"),
    Category("piano", "wall", False, "isotropic", "none"),
    Category("fireplace", "wall", False, "isotropic", "none"),
    Category("floor_lamp", "floor", False, "isotropic", "radial"),
    Category("large_plant", "floor", False, "isotropic", "radial"),
    Category("floor_object", "floor", False, "isotropic", "none"),
    Category("lamp", "small", False, "isotropic", "radial"),
    Category("plant", "small", False, "isotropic", "radial"),
    Category("vase", "small", False, "isotropic", "radial"),
    Category("tv", "small", False, "isotropic", "none"),
    Category("tableware", "small", False, "isotropic", "radial"),
    Category("book", "small", False, "isotropic", "none"),
    Category("electronics", "small", False, "isotropic", "none"),
    Category("decor", "small", False, "isotropic", "none"),
]}

# Left out of a library: people, vehicles, outdoor items, doors, windows, staircases,
# whole rooms, and things that hang from ceilings or walls (no floor or support below).
EXCLUDED_SH3D_CATEGORIES = {"Characters", "Vehicles", "Exterior", "Doors and windows", "Staircases"}
EXCLUDED_NAME = re.compile(
    r"ceiling|chandelier|pendant|hanging|fluorescent|track light|wall light|wall lamp|wall spot"
    r"|wall flat|street|lamppost|park light|porch|outdoor|curtain|fence|railing|living room|kitchen$"
    r"|shower door|shower head|hood|intercom|cctv|emergency sign|socket|air conditioning|chimney"
    r"|dart game|frame|clock|towel rack|paper towel|toilet paper|water heater|boiler|radiator"
    r"|rug|carpet|mat$|bathmat|doormat|sleeping bag|air mattress|bill \d|mezzanine|bunk|biplane"
    r"|opened convertible|island extension|corner|video projector|pallet|shovel|broom|mower"
    r"|switch|plug|smoke detector|tatami|antenna|dimmer"
    r"|upper|wall hanger|window blind|white ?board|shipping container|surveillance",
    re.IGNORECASE)

# (pattern on the lower-cased name, category). Order matters: first match wins.
NAME_RULES: list[tuple[str, str]] = [
    # names a later rule would misread ("Table fan" is no table, "Teapot" no pot)
    (r"brush|toilet roll|sunglasses|table tennis bat|xylophone", "decor"),
    (r"table fan|tablet|imac|iphone|ibook|speaker", "electronics"),
    (r"teapot|spice tower", "tableware"),
    (r"football table|pool table|table tennis|treadmill|ladder|\bsafe\b|water cooler|wood logs"
     r"|suitcase|trunc?k|shower stall", "floor_object"),
    (r"island bath", "bathtub"),
    (r"cooktop", "appliance"),
    (r"bedside|night ?stand|night table", "nightstand"),
    (r"\bbed\b|crib|futon$|cradle|day bed", "bed"),
    (r"armchair|arm chair|recliner|ottoman|puff|pouf", "armchair"),
    (r"sofa|couch|settee|loveseat", "sofa"),
    (r"stool", "stool"),
    (r"chair|seat", "chair"),
    (r"bench", "bench"),
    (r"coffee table|low table|side table|tea table", "coffee_table"),
    (r"desk(?! lamp)|dressing table|writing table|changing table", "desk"),
    (r"table", "dining_table"),
    (r"wardrobe|armoire|closet|clothes rack", "wardrobe"),
    (r"book ?case|shelves|shelf|shelving", "bookcase"),
    (r"tv stand|television cabinet|tv cabinet|media", "tv_stand"),
    (r"cabinet|dresser|drawer|chest(?! freezer)|cupboard|sideboard|buffet|vanity|commode|locker|island", "cabinet"),
    (r"fridge|refrigerator|freezer|oven|stove|cooker|washing machine|dryer|dishwasher|furnace", "appliance"),
    (r"bath|tub", "bathtub"),
    (r"toilet|wc|bidet|urinal|potty", "toilet"),
    (r"sink|basin|lavatory|washbasin", "sink"),
    (r"piano", "piano"),
    (r"fireplace", "fireplace"),
    (r"floor lamp|standing lamp|lantern|torch", "floor_lamp"),
    (r"lamp|light|candle", "lamp"),
    (r"ficus|yucca|bamboo|palm|christmas tree|large plant|tree", "large_plant"),
    (r"plant|cactus|orchid|flower|tulip|lily|bonsai|succulent|spathiphyllum|fern", "plant"),
    (r"vase|pottery|jar|pot\b", "vase"),
    (r"\btv\b|television|monitor|screen", "tv"),
    (r"book|newspaper|magazine", "book"),
    (r"cup|mug|glass|plate|bowl|bottle|teapot|kettle|jug|pan|tray|dish|cutlery|fork|knife|spoon"
     r"|creamer|shaker|salt|sugar|butter|milk|bread|cake|fruit|apple|salad|steak|chicken|hamburger"
     r"|hot dog|fries|sushi|yogurt|oil", "tableware"),
    (r"phone|radio|stereo|mp3|playstation|joystick|keyboard|dvd|camera|headphones|computer|laptop"
     r"|blender|mixer|toaster|coffee|microwave|scale|sandwich|fryer|grill|squeezer|iron", "electronics"),
    (r"aquarium|guitar|drum|football table|pool table|flipper|punching|bike|fitness|abdominal"
     r"|clothes horse|barrel|crate|basket|trash|bin|extinguisher|doll house|rocking horse", "floor_object"),
]
_COMPILED_RULES = [(re.compile(p), c) for p, c in NAME_RULES]


def is_excluded(name: str, sh3d_category: str | None = None) -> bool:
    """True for things a room library leaves out (see module docstring)."""
    if sh3d_category in EXCLUDED_SH3D_CATEGORIES:
        return True
    return bool(EXCLUDED_NAME.search(name))


def category_for_name(name: str, sh3d_category: str | None = None) -> str:
    """Library category of an asset from its display name (and Sweet Home 3D category)."""
    lowered = name.lower()
    for pattern, category in _COMPILED_RULES:
        if pattern.search(lowered):
            return category
    if sh3d_category == "Lights":
        return "lamp"
    return "decor"


def category_info(name: str) -> Category:
    """The :class:`Category` record; unknown names get a neutral floor object."""
    return CATEGORIES.get(name, Category(name, "floor", False, "isotropic", "none"))
