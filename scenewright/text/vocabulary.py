"""Words of the prompt grammar: numbers, attributes, relation phrases and room types (data).

Object words are *not* listed here: what a noun means is decided by the sentence embedding
against the library's categories and asset names (:mod:`scenewright.text.match`). The closed
word classes below are the grammar around the nouns — counts, colours, materials, styles,
size words, the relation phrases and the room types with their defaults.
"""

from __future__ import annotations

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "pair": 2, "couple": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "dozen": 12, "several": 3, "few": 3, "some": 2, "many": 6, "lots": 6, "hundred": 100,
    "fifty": 50, "twenty": 20, "thirty": 30, "forty": 40,
}
# Words that only determine (no count).
DETERMINERS = {"the", "this", "that", "its", "their", "his", "her", "my", "our", "your", "of", "each",
               "every", "both", "another", "other", "also", "plus", "just", "only"}

# Colour words and the sRGB they name (what a person would call the rendered asset).
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20), "white": (235, 235, 235), "grey": (128, 128, 128), "gray": (128, 128, 128),
    "red": (180, 30, 30), "green": (50, 130, 60), "blue": (40, 70, 170), "yellow": (220, 200, 40),
    "orange": (220, 120, 30), "brown": (110, 70, 40), "beige": (210, 190, 150), "pink": (220, 140, 170),
    "purple": (110, 50, 130), "cream": (240, 230, 200), "navy": (25, 35, 90), "teal": (30, 120, 120),
}
MATERIALS = {"wood", "wooden", "oak", "walnut", "pine", "glass", "leather", "fabric", "metal", "metallic",
             "steel", "iron", "marble", "stone", "velvet", "rattan", "wicker", "plastic", "chrome",
             "bamboo", "upholstered", "cushioned"}
# Materials that name one another (the asset name says "oak", the prompt "wooden").
MATERIAL_FAMILY = {"wooden": "wood", "oak": "wood", "walnut": "wood", "pine": "wood", "metallic": "metal",
                   "steel": "metal", "iron": "metal", "chrome": "metal", "cushioned": "fabric",
                   "upholstered": "fabric", "velvet": "fabric", "wicker": "rattan", "stone": "marble"}
STYLES = {"modern", "rustic", "vintage", "classic", "minimalist", "industrial", "scandinavian",
          "contemporary", "traditional", "antique", "retro", "cozy", "cosy", "elegant", "stylish",
          "comfortable", "simple", "luxurious", "bohemian", "japanese"}
# Size words: +1 larger than usual, -1 smaller.
SIZES = {"small": -1, "little": -1, "tiny": -1, "compact": -1, "narrow": -1, "low": -1, "short": -1,
         "large": 1, "big": 1, "huge": 1, "wide": 1, "long": 1, "tall": 1, "king": 1, "queen": 1,
         "double": 1, "spacious": 1, "grand": 1, "giant": 1, "oversized": 1}
# Words that shade a colour, kept with it.
SHADES = {"light", "dark", "pale", "bright"}

# Relation phrases, longest first (the parser tries them in this order).
RELATION_PHRASES: list[tuple[str, str]] = [
    ("in front of", "in_front_of"), ("on top of", "on"), ("next to", "next_to"), ("close to", "next_to"),
    ("beside", "next_to"), ("alongside", "next_to"), ("near", "next_to"), ("by", "next_to"),
    ("facing", "facing"), ("opposite", "facing"), ("across from", "facing"), ("looking at", "facing"),
    ("around", "around"), ("surrounding", "around"),
    ("between", "between"), ("on", "on"), ("upon", "on"), ("atop", "on"),
]
WALL_PHRASE = r"(?:against|along|by|on|next to) (?:the |a |one |an? )?(?:\w+ )?wall"
CORNER_PHRASE = r"in (?:the |a |one )?(?:\w+ )?corner"
RELATION_KINDS = ("on", "next_to", "in_front_of", "facing", "against_wall", "in_corner", "around", "between")

# Room types: the words for them, a default size (width × depth, m) and what they hold unless
# the prompt says otherwise: (category, count, relation to an earlier default or None).
ROOM_TYPES: dict[str, dict] = {
    "bedroom": {"words": ["bedroom", "guest room", "sleeping room", "master bedroom"], "size": (4.0, 3.8),
                "defaults": [("bed", 1, None), ("nightstand", 2, ("next_to", "bed")),
                             ("wardrobe", 1, None), ("lamp", 1, ("on", "nightstand"))]},
    "living": {"words": ["living room", "lounge", "sitting room", "family room", "den"], "size": (5.0, 4.2),
               "defaults": [("sofa", 1, None), ("coffee_table", 1, ("in_front_of", "sofa")),
                            ("armchair", 1, ("facing", "coffee_table")), ("tv_stand", 1, None),
                            ("tv", 1, ("on", "tv_stand")), ("large_plant", 1, None)]},
    "dining": {"words": ["dining room", "dining area", "eating area"], "size": (4.5, 4.0),
               "defaults": [("dining_table", 1, None), ("chair", 4, ("around", "dining_table")),
                            ("cabinet", 1, None), ("vase", 1, ("on", "dining_table"))]},
    "office": {"words": ["office", "study", "home office", "workroom", "study room"], "size": (3.8, 3.5),
               "defaults": [("desk", 1, None), ("chair", 1, ("in_front_of", "desk")),
                            ("bookcase", 1, None), ("lamp", 1, ("on", "desk"))]},
    "kitchen": {"words": ["kitchen", "kitchenette"], "size": (4.2, 3.6),
                "defaults": [("appliance", 1, None), ("cabinet", 2, None), ("sink", 1, None),
                             ("dining_table", 1, None), ("chair", 2, ("around", "dining_table"))]},
    "bathroom": {"words": ["bathroom", "washroom", "restroom", "toilet room"], "size": (3.2, 2.8),
                 "defaults": [("bathtub", 1, None), ("toilet", 1, None), ("sink", 1, None)]},
    "kids": {"words": ["kids room", "children's room", "nursery", "playroom"], "size": (4.0, 3.6),
             "defaults": [("bed", 1, None), ("desk", 1, None), ("chair", 1, ("in_front_of", "desk")),
                          ("bookcase", 1, None)]},
    "studio": {"words": ["studio", "studio apartment", "loft"], "size": (6.0, 4.5),
               "defaults": [("bed", 1, None), ("sofa", 1, None), ("dining_table", 1, None),
                            ("chair", 2, ("around", "dining_table")), ("wardrobe", 1, None)]},
}
# Room size words scale the default size.
ROOM_SCALE = {-1: 0.8, 1: 1.3}
MIN_ROOM_M, MAX_ROOM_M = 1.5, 20.0
MAX_OBJECTS = 40
