"""Prompt → structured request: room type and size, objects with counts and attributes, relations.

A small grammar does the reading around the nouns — counts ("two", "a pair of", "for four"),
attribute words (colour, material, style, size), relation phrases ("next to", "in front of",
"facing", "against the wall", "in the corner", "around", "between", "on") and references
("it", "the sofa", "each nightstand") — and the sentence embedding decides what each noun
phrase is (:class:`scenewright.text.match.CategoryMatcher`). Room types bring defaults
(:data:`scenewright.text.vocabulary.ROOM_TYPES`) that anything the prompt says overrides.

Bad prompts raise :class:`scenewright.errors.InputError` whose message starts with ``prompt:``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from scenewright.errors import InputError
from scenewright.library.categories import category_info
from scenewright.text.vocabulary import (COLOURS, CORNER_PHRASE, DETERMINERS, MATERIALS, MAX_OBJECTS,
                                         MAX_ROOM_M, MIN_ROOM_M, NUMBER_WORDS, RELATION_PHRASES,
                                         ROOM_SCALE, ROOM_TYPES, SHADES, SIZES, STYLES, WALL_PHRASE)

# A room phrase wins over an object reading when its cosine is at least this.
ROOM_PHRASE_MIN = 0.75
PLURAL_DEFAULT = 2               # "armchairs" without a number
SEATS_AROUND_DEFAULT = 4         # "chairs around the table" without a number
PRONOUNS = {"it", "them", "one", "ones", "they", "each other", "one another"}


@dataclass
class ObjectRequest:
    """One requested kind of object: ``count`` instances of ``category``."""

    id: int
    phrase: str
    category: str
    count: int
    attributes: dict = field(default_factory=dict)   # colour [names], material [words], style [words], size -1/0/+1
    source: str = "prompt"                           # prompt | default (room type)
    match: dict | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class RelationRequest:
    """``subject`` (an ObjectRequest id) stands in relation ``type`` to ``object`` (and ``object2``
    for between). ``each``: one subject per object instance ("a lamp on each nightstand")."""

    type: str
    subject: int
    object: int | None = None
    object2: int | None = None
    each: bool = False
    source: str = "prompt"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class SceneRequest:
    prompt: str
    room_type: str | None
    room_size: tuple[float, float]
    room_size_source: str                    # prompt | room type | default | --room
    objects: list[ObjectRequest]
    relations: list[RelationRequest]
    unmatched: list[dict] = field(default_factory=list)   # phrases that name nothing in the library
    excluded: list[str] = field(default_factory=list)     # categories the prompt said to leave out
    notes: list[str] = field(default_factory=list)

    def object(self, oid: int) -> ObjectRequest:
        return next(o for o in self.objects if o.id == oid)

    def to_json(self) -> dict:
        return {"prompt": self.prompt, "room_type": self.room_type, "room_size": list(self.room_size),
                "room_size_source": self.room_size_source,
                "objects": [o.to_json() for o in self.objects],
                "relations": [r.to_json() for r in self.relations],
                "unmatched": self.unmatched, "excluded": self.excluded, "notes": self.notes}

    def total_objects(self) -> int:
        return sum(o.count for o in self.objects)


_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:m|metres?|meters?)?\s*(?:x|by|×|\*)\s*(\d+(?:\.\d+)?)\s*"
                      r"(?:m\b|metres?|meters?)?")
_HEAD_RE = re.compile(r"\b(?:with|featuring|containing|that has|which has|having|including|furnished with"
                      r"|where there (?:is|are)|there (?:is|are))\b|:")
_NEGATION_RE = re.compile(r"\b(?:without|no|not|except|but no)\s+(?:a |an |any |the )?([a-z' -]+?)"
                          r"(?=,|;|\.|\band\b|\bwith\b|\bbut\b|$)")
_ONLY_RE = re.compile(r"\b(?:only|just|nothing else|nothing more|empty|bare)\b")
_FOR_N_RE = re.compile(r"\bfor (\d+|" + "|".join(k for k in NUMBER_WORDS if len(k) > 2) + r")(?: people| persons| guests)?\b")
_EXTRA_RELATIONS = [("on either side of", "next_to"), ("on each side of", "next_to"),
                    ("on both sides of", "next_to"), ("either side of", "next_to"), ("at the foot of", "in_front_of"),
                    ("at", "at")]


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word)


@dataclass
class _Phrase:
    words: list[str]
    count: int | None
    plural: bool
    each: bool
    definite: bool
    attributes: dict
    noun: str


def _read_phrase(text: str) -> _Phrase | None:
    """Count, attributes and the noun of a noun phrase ("two dark grey leather sofas")."""
    text = re.sub(r"[^a-z0-9' ]+", " ", text.lower())
    words = [w for w in text.split() if w]
    count, each, definite = None, False, False
    colours, materials, styles, size = [], [], [], 0
    noun: list[str] = []
    for i, w in enumerate(words):
        n = _number(w)
        if n is not None and not noun:
            if w in ("a", "an") and count is not None:
                continue
            count = n if count is None or w not in ("pair", "couple", "dozen") else count * n if w == "dozen" else n
            continue
        if w in ("each", "every"):
            each = True
            continue
        if w in ("the", "this", "that", "its", "their", "both"):
            definite = True
            if w == "both":
                count = 2
            continue
        if w in DETERMINERS or w in ("set", "group", "pair", "couple", "of", "lots", "with", "some"):
            continue
        if w in SHADES and i + 1 < len(words) and words[i + 1] in COLOURS:
            continue
        if w in COLOURS:
            colours.append(("dark " if i and words[i - 1] == "dark" else "light " if i and words[i - 1] in ("light", "pale") else "") + w)
            continue
        if w in MATERIALS:
            materials.append(w)
            continue
        if w in STYLES:
            styles.append(w)
            continue
        if w in SIZES and noun == []:
            size = SIZES[w]
            continue
        noun.append(w)
    noun_text = " ".join(noun)
    if not noun_text and not materials:
        if count is None and not definite:
            return None
    last = noun[-1] if noun else ""
    plural = bool(last) and (last.endswith("s") and not last.endswith(("ss", "us", "is"))) or last in ("people",)
    if not noun_text and materials:          # "a wooden one" — keep the material as the noun
        noun_text = " ".join(materials)
    return _Phrase(words, count, plural, each, definite,
                   {"colour": colours, "material": materials, "style": styles, "size": size}, noun_text)


class _Parser:
    def __init__(self, prompt: str, matcher, room: tuple[float, float] | None):
        self.prompt = prompt
        self.matcher = matcher
        self.room_flag = room
        self.objects: list[ObjectRequest] = []
        self.relations: list[RelationRequest] = []
        self.unmatched: list[dict] = []
        self.notes: list[str] = []
        self.room_type: str | None = None
        self.room_score = 0.0
        self.room_size_word = 0
        self.last: int | None = None

    def object(self, oid: int) -> ObjectRequest:
        return next(o for o in self.objects if o.id == oid)

    # -- mentions --------------------------------------------------------------------
    def mention(self, text: str, role: str) -> tuple[int | None, bool]:
        """ObjectRequest id for a noun phrase (new or referred to), and its ``each`` flag.
        ``role``: subject | object."""
        bare = re.sub(r"[^a-z ]+", " ", text.lower()).split()
        if " ".join(w for w in bare if w not in ("the", "of")) in PRONOUNS:
            return self.last, "each" in bare
        phrase = _read_phrase(text)
        if phrase is None:
            return None, False
        if phrase.noun in PRONOUNS or (not phrase.noun and phrase.definite):
            return self.last, phrase.each
        m = self.matcher.match(phrase.noun)
        size_word = next((w for w in phrase.words if w in SIZES), None)
        if size_word and phrase.noun:            # "large plant" names a kind of its own
            sized = self.matcher.match(f"{size_word} {phrase.noun}")
            if sized.category is not None and sized.score > m.score:
                m = sized
        rt, rscore = self.matcher.room_type(phrase.noun)
        if rt is not None and rscore >= ROOM_PHRASE_MIN and rscore > m.score:
            self._set_room(rt, rscore, phrase.attributes["size"])
            return None, False
        if m.category is None:
            self.unmatched.append({"phrase": phrase.noun, **m.to_json()})
            return None, False
        if (phrase.definite or phrase.each) and phrase.count is None:
            for o in reversed(self.objects):        # "the sofa": the one already mentioned
                if o.category == m.category:
                    self._merge_attributes(o, phrase.attributes)
                    return o.id, phrase.each
        count = phrase.count
        if count is None:
            count = PLURAL_DEFAULT if phrase.plural else 1
            explicit = False
        else:
            explicit = True
        oid = len(self.objects) + 1
        self.objects.append(ObjectRequest(oid, " ".join(phrase.words), m.category, count, phrase.attributes,
                                          match=m.to_json()))
        self.objects[-1].match["count_given"] = explicit
        self.objects[-1].match["plural"] = phrase.plural
        return oid, phrase.each

    @staticmethod
    def _merge_attributes(o: ObjectRequest, attrs: dict) -> None:
        for k in ("colour", "material", "style"):
            o.attributes[k] = sorted(set(o.attributes.get(k, [])) | set(attrs.get(k, [])))
        if attrs.get("size"):
            o.attributes["size"] = attrs["size"]

    def _set_room(self, room_type: str, score: float, size_word: int) -> None:
        if score > self.room_score:
            self.room_type, self.room_score = room_type, score
        if size_word:
            self.room_size_word = size_word

    # -- clauses ---------------------------------------------------------------------
    def clause(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        # the wall and corner phrases name no object
        wall = re.search(WALL_PHRASE, text)
        corner = re.search(CORNER_PHRASE, text)
        for m in (wall, corner):
            if m:
                text = (text[:m.start()] + " " + text[m.end():]).strip()
        parts = self._split_relations(text)
        subject_text = parts[0][1]
        subject, _ = self.mention(subject_text, "subject")
        if subject is not None:
            self.last = subject
        if subject is None and parts[0][1].strip() == "" and self.last is not None:
            subject = self.last
        prev_object = None
        for k, (kind, obj_text) in enumerate(parts[1:]):
            if subject is None:
                break
            who = subject
            if k > 0 and prev_object is not None and (kind == "on" or parts[k][0] == "on"):
                who = prev_object            # "facing a tv on a stand", "a lamp on the nightstand next to the bed"
            if kind == "between":
                a_text, _, b_text = obj_text.partition(" & ")
                a, _ = self.mention(a_text, "object")
                b, _ = self.mention(b_text, "object") if b_text else (None, False)
                if a is not None and b is None and self.object(a).count >= 2:
                    b = a                    # "between two bookcases"
                if a is not None and b is not None:
                    self.relations.append(RelationRequest("between", who, a, b))
                else:
                    self.notes.append(f"'between {obj_text.replace(' & ', ' and ')}' names no two objects; ignored")
                prev_object = a
                continue
            obj, each = self.mention(obj_text, "object")
            if obj is None:
                self.notes.append(f"'{kind.replace('_', ' ')} {obj_text.strip()}': no object to relate to; ignored")
                continue
            if obj == who:
                if self.object(who).count >= 2 and kind in ("facing", "next_to"):
                    self.relations.append(RelationRequest(kind, who, who))   # "two sofas facing each other"
                continue
            if kind == "at":
                kind = "around" if category_info(self.object(who).category).role in ("seat",) \
                    or self.object(who).category in ("armchair", "sofa", "bench") else "next_to"
            self.relations.append(RelationRequest(kind, who, obj, each=each))
            prev_object = obj
        if subject is not None:
            if wall:
                self.relations.append(RelationRequest("against_wall", subject))
            if corner:
                self.relations.append(RelationRequest("in_corner", subject))
            self.last = subject

    @staticmethod
    def _split_relations(text: str) -> list[tuple[str | None, str]]:
        """[(None, subject text), (kind, object text), ...] split at relation phrases."""
        phrases = sorted(RELATION_PHRASES + _EXTRA_RELATIONS, key=lambda p: -len(p[0]))
        pattern = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in phrases) + r")\b")
        kinds = dict(phrases)
        parts: list[tuple[str | None, str]] = []
        pos, kind = 0, None
        for m in pattern.finditer(text):
            parts.append((kind, text[pos:m.start()]))
            kind, pos = kinds[m.group(1)], m.end()
        parts.append((kind, text[pos:]))
        return parts


def _clauses(text: str) -> list[str]:
    """Split the content part of a prompt into clauses: at punctuation, 'and', 'with', 'in a …'."""
    def pair(m: re.Match) -> str:
        # "between the bed and the wardrobe" names two; "between two bookcases and a chair …" one pair
        first = _read_phrase(m.group(1))
        if first is not None and ((first.count or 1) >= 2 or first.plural):
            return m.group(0)
        return f"between {m.group(1)} & "

    text = re.sub(r"\bbetween ([^,;.]+?) and ", pair, text)
    text = re.sub(r"(?<!front )(?<!side )(?<!sides )(?<!top )(?<!foot )\bof (?:the|a|an|my|our) ", ", ", text)      # "in a corner of the living room"
    text = re.sub(r"\bas well as\b|\balong with\b|\bplus\b|\bthen\b", ",", text)
    text = re.sub(r"\bin (?!front of|the corner|a corner|one corner|the \w+ corner)(?:a |an |the |my |our )", ", ", text)
    pieces = re.split(r"[,;.]|\band\b|\bwith\b|\bwhile\b|\bwhich\b", text)
    return [p.strip() for p in pieces if p.strip()]


def parse_request(prompt: str, matcher, room: tuple[float, float] | None = None,
                  available: set[str] | None = None) -> SceneRequest:
    """Read ``prompt`` into a :class:`SceneRequest`.

    ``matcher``: a :class:`~scenewright.text.match.CategoryMatcher`; ``room``: (width, depth) m
    from ``--room`` (wins over the prompt); ``available``: categories the library can furnish
    (a requested category outside it is an error naming it).
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt: empty; describe a room, e.g. \"a bedroom with a double bed\"")
    if len(prompt) > 2000:
        raise InputError(f"prompt: {len(prompt)} characters; at most 2000")
    text = prompt.lower().replace("×", "x").replace("-", " ").replace("’", "'")
    parser = _Parser(prompt, matcher, room)
    size = None
    m = _SIZE_RE.search(text)
    if m:
        size = (float(m.group(1)), float(m.group(2)))
        text = text[:m.start()] + " " + text[m.end():]
    only = bool(_ONLY_RE.search(text))
    excluded_phrases = [g.strip() for g in _NEGATION_RE.findall(text)]
    text = _NEGATION_RE.sub(" ", text)
    seats_for = None
    f = _FOR_N_RE.search(text)
    if f:
        seats_for = _number(f.group(1))
        text = text[:f.start()] + " " + text[f.end():]
    head_match = _HEAD_RE.search(text)
    if head_match:
        head, tail = text[:head_match.start()], text[head_match.end():]
        phrase = _read_phrase(head)
        if phrase is not None and phrase.noun:
            rt, score = matcher.room_type(phrase.noun)
            obj = matcher.match(phrase.noun)
            if rt is not None and score >= obj.score:
                parser._set_room(rt, score, phrase.attributes["size"])
            else:
                parser.clause(head)
    else:
        tail = text
    for c in _clauses(tail):
        parser.clause(c)
    excluded = []
    for p in excluded_phrases:
        ph = _read_phrase(p)
        if ph is not None and ph.noun:
            mm = matcher.match(ph.noun)
            if mm.category:
                excluded.append(mm.category)
    if seats_for is not None:
        seats = [o for o in parser.objects if category_info(o.category).role == "seat" or o.category in ("chair", "stool")]
        if seats:
            seats[-1].count = seats_for
        else:
            parser.notes.append(f"'for {seats_for}': no seats mentioned; {seats_for} chairs added")
            parser.objects.append(ObjectRequest(len(parser.objects) + 1, f"seating for {seats_for}", "chair",
                                                seats_for, {"colour": [], "material": [], "style": [], "size": 0}))
    # chairs around a table without a number: a table's worth
    for r in parser.relations:
        o = parser.object(r.subject)
        if r.type == "around" and o.match and not o.match.get("count_given") and o.match.get("plural"):
            o.count = SEATS_AROUND_DEFAULT
    objects = [o for o in parser.objects if o.category not in excluded]
    kept = {o.id for o in objects}
    relations = [r for r in parser.relations if r.subject in kept and (r.object is None or r.object in kept)
                 and (r.object2 is None or r.object2 in kept)]
    # "a lamp on each nightstand": one per nightstand
    for r in relations:
        if r.each and r.object is not None:
            o = next(x for x in objects if x.id == r.subject)
            o.count = max(o.count, next(x for x in objects if x.id == r.object).count)
    request = SceneRequest(prompt, parser.room_type, (0.0, 0.0), "default", objects, relations,
                           parser.unmatched, sorted(set(excluded)), parser.notes)
    if parser.room_type and not only:
        _add_defaults(request, ROOM_TYPES[parser.room_type]["defaults"], available)
    _room_size(request, size, room, parser.room_size_word)
    validate_request(request, available)
    return request


def _add_defaults(request: SceneRequest, defaults, available) -> None:
    """Room-type defaults for categories the prompt does not mention (or exclude)."""
    present = {o.category for o in request.objects}
    for category, count, rel in defaults:
        if category in present or category in request.excluded:
            continue
        if available is not None and category not in available:
            continue
        oid = max((o.id for o in request.objects), default=0) + 1
        request.objects.append(ObjectRequest(oid, category.replace("_", " "), category, count,
                                             {"colour": [], "material": [], "style": [], "size": 0},
                                             source="default"))
        present.add(category)
        if rel is not None:
            kind, anchor_cat = rel
            anchor = next((o for o in request.objects if o.category == anchor_cat), None)
            if anchor is not None:
                request.relations.append(RelationRequest(kind, oid, anchor.id, source="default"))


def _room_size(request: SceneRequest, from_prompt, from_flag, size_word: int) -> None:
    if from_flag is not None:
        request.room_size, request.room_size_source = (float(from_flag[0]), float(from_flag[1])), "--room"
    elif from_prompt is not None:
        request.room_size, request.room_size_source = from_prompt, "prompt"
    else:
        base = ROOM_TYPES[request.room_type]["size"] if request.room_type else (4.5, 4.0)
        scale = ROOM_SCALE.get(size_word, 1.0)
        # a room grows with what it must hold: ~2.5 m² of floor per floor-standing object
        floor_objects = sum(o.count for o in request.objects if category_info(o.category).role != "small")
        need = max(1.0, (floor_objects * 2.5 / (base[0] * base[1] * scale * scale)) ** 0.5)
        w, d = base[0] * scale * need, base[1] * scale * need
        request.room_size = (round(min(w, 12.0), 2), round(min(d, 10.0), 2))
        request.room_size_source = "room type" if request.room_type else "default"
    w, d = request.room_size
    for name, v in (("width", w), ("depth", d)):
        if not MIN_ROOM_M <= v <= MAX_ROOM_M:
            where = "--room" if request.room_size_source == "--room" else "prompt"
            raise InputError(f"{where}: room {name} {v:g} m is outside {MIN_ROOM_M:g}–{MAX_ROOM_M:g} m")


def validate_request(request: SceneRequest, available: set[str] | None = None) -> None:
    """InputError (``prompt: …``) for requests no room can satisfy."""
    if not request.objects:
        said = "; ".join(f"'{u['phrase']}'" for u in request.unmatched)
        raise InputError("prompt: names nothing the library can furnish"
                         + (f" ({said} match no library category)" if said else "")
                         + "; name furniture or a room type, e.g. \"a bedroom with a double bed\"")
    total = request.total_objects()
    if total > MAX_OBJECTS:
        raise InputError(f"prompt: asks for {total} objects; at most {MAX_OBJECTS} per room")
    if available is not None:
        missing = sorted({o.category for o in request.objects if o.category not in available})
        if missing:
            raise InputError(f"prompt: the library has no {', '.join(missing)} assets")
    for r in request.relations:
        s = request.object(r.subject)
        if r.type == "on":
            o = request.object(r.object)
            if category_info(s.category).role != "small":
                raise InputError(f"prompt: a {s.category.replace('_', ' ')} cannot stand on a "
                                 f"{o.category.replace('_', ' ')} (only small things stand on furniture)")
            if category_info(o.category).role == "small":
                raise InputError(f"prompt: a {o.category.replace('_', ' ')} cannot hold a "
                                 f"{s.category.replace('_', ' ')}")
    # on-relations must not form a cycle
    parent = {r.subject: r.object for r in request.relations if r.type == "on"}
    for start in parent:
        seen, node = set(), start
        while node in parent:
            if node in seen:
                raise InputError("prompt: objects stand on each other in a circle")
            seen.add(node)
            node = parent[node]
