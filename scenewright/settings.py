"""One settings system for every entry point: a method's settings dataclass, built from data.

The command line (``--seed``, ``--config FILE``, ``--set KEY=VALUE``), ``scenewright
batch``, the web page's form and the Python API all build a method's settings with
:func:`build_settings`, so a field set in one place means the same everywhere. Values
are typed by the field they land on (an int field refuses ``"abc"``, a float field takes
``3``), dotted keys reach nested settings groups (``pose.render_assets=5``).

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Inner:
...     size: int = 64
>>> @dataclass
... class Example:
...     seed: int = 0
...     scale: float = 1.0
...     inner: Inner = field(default_factory=Inner)
>>> s = build_settings(Example, seed=3, overrides=["scale=2", "inner.size=32"])
>>> s.seed, s.scale, s.inner.size
(3, 2.0, 32)
>>> build_settings(Example, overrides=["inner.size=big"])
Traceback (most recent call last):
...
scenewright.errors.InputError: --set 'inner.size=big': size is an int, got 'big'

A field's meaning is the comment at the end of its line (or a string below it, or
``field(metadata={"help": ...})``):

>>> from scenewright.methods.boxes import BoxesSettings
>>> row = describe_settings(BoxesSettings)[0]
>>> row.key, row.type, row.default, row.meaning
('floor', 'str', 'ransac', 'ransac | none (no-floor frame)')
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from scenewright.errors import InputError
from scenewright.fileio import dumps_json


def set_field(settings, key: str, value: Any, source: str = "--set") -> None:
    """Set the dotted ``key`` of a settings dataclass to ``value``, typed like the field.

    ``source`` starts the error message (``--set 'steps=x'``, ``config.toml``). InputError
    for an unknown group or field, or a value of the wrong type.
    """
    *path, leaf = key.strip().split(".")
    target = settings
    for part in path:
        if not dataclasses.is_dataclass(getattr(target, part, None)):
            raise InputError(f"{source}: {type(target).__name__} has no settings group {part!r}")
        target = getattr(target, part)
    names = {f.name for f in dataclasses.fields(target)}
    if leaf not in names:
        raise InputError(f"{source}: {type(target).__name__} has no field {leaf!r} "
                         f"(fields: {', '.join(sorted(names))})")
    old = getattr(target, leaf)
    if dataclasses.is_dataclass(old):
        raise InputError(f"{source}: {leaf} is a settings group; set its fields ({leaf}.FIELD=VALUE)")
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    # null for a field that may be None (``float | None``): the setting turned off
    may_be_none = value is None and "None" in str(next(f.type for f in dataclasses.fields(target) if f.name == leaf))
    if old is not None and not may_be_none and (isinstance(old, bool) != isinstance(value, bool)
                            or (isinstance(old, (int, float)) and not isinstance(value, (int, float)))
                            or (isinstance(old, str) and not isinstance(value, str))):
        kind = type(old).__name__
        raise InputError(f"{source}: {leaf} is {'an' if kind[0] in 'aeiou' else 'a'} {kind}, got {value!r}")
    if isinstance(old, tuple) and not isinstance(value, (tuple, type(None))):
        raise InputError(f"{source}: {leaf} is a list of values (JSON, e.g. {list(old)[:3]}), got {value!r}")
    setattr(target, leaf, value)


def apply_override(settings, item: str) -> None:
    """Set one ``KEY=VALUE`` (dotted key, JSON value) on a settings dataclass; InputError if wrong.

    A value that is not JSON is a string: ``features=classical``.
    """
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: expected KEY=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    set_field(settings, key, value, source=f"--set {item!r}")


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"pose": {"render_size": 96}}`` → ``{"pose.render_size": 96}`` (dotted keys)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_config(path: str | Path) -> dict[str, Any]:
    """A settings file (``.json`` or ``.toml``) as dotted keys → values; InputError naming it if bad.

    The file holds the settings' fields, nested groups as tables/objects, e.g. in TOML::

        seed = 3
        [pose]
        render_size = 96
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: settings file not found")
    text = path.read_text(errors="replace")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise InputError(f"{path}: not valid {kind} ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a table of settings, got {type(data).__name__}")
    return flatten(data)


def build_settings(settings_class, seed: int | None = None, config: str | Path | None = None,
                   values: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()):
    """A fresh ``settings_class()`` with, in this order: ``config`` file, ``values``
    (dotted key → value, as a form gives them), ``seed``, ``overrides`` (``KEY=VALUE``).

    Later ones win. The result's ``validate()`` runs when it has one.
    """
    settings = settings_class()
    if config is not None:
        for key, value in load_config(config).items():
            set_field(settings, key, value, source=f"{config}: {key}")
    for key, value in (values or {}).items():
        set_field(settings, key, value, source=key)
    if seed is not None:
        set_field(settings, "seed", int(seed), source="--seed")
    for item in overrides:
        apply_override(settings, item)
    if hasattr(settings, "validate"):
        settings.validate()
    return settings


def settings_json(settings) -> dict:
    """A settings dataclass as plain JSON values (tuples → lists), as scene.json stores it."""
    return json.loads(dumps_json(dataclasses.asdict(settings)))


@dataclass
class SettingRow:
    """One field of a settings dataclass, for help texts and forms."""

    key: str           # dotted: pose.render_size
    type: str          # int, float, bool, str, tuple, ...
    default: Any
    meaning: str


def field_meanings(cls) -> dict[str, str]:
    """What each field of a dataclass means: ``metadata["help"]``, else the string literal
    right below the field, else the comment at the end of its line (the house style)."""
    meanings: dict[str, str] = {}
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        source = ""
    if source:
        comments = {}
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
        body = ast.parse(source).body[0].body
        for k, node in enumerate(body):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            nxt = body[k + 1] if k + 1 < len(body) else None
            if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                meanings[node.target.id] = " ".join(nxt.value.value.split())
            else:
                lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
                text = " ".join(comments[n] for n in lines if n in comments)
                if text:
                    meanings[node.target.id] = text
    for f in dataclasses.fields(cls):
        if f.metadata.get("help"):
            meanings[f.name] = f.metadata["help"]
    return meanings


def describe_settings(settings_class, prefix: str = "") -> list[SettingRow]:
    """Every field of ``settings_class`` (nested groups flattened to dotted keys), in order."""
    rows: list[SettingRow] = []
    defaults = settings_class()
    meanings = field_meanings(settings_class)
    for f in dataclasses.fields(settings_class):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe_settings(type(value), f"{prefix}{f.name}."))
            continue
        rows.append(SettingRow(f"{prefix}{f.name}", type(value).__name__ if value is not None else "str | None",
                               value, meanings.get(f.name, "")))
    return rows


def settings_help(settings_class, title: str = "") -> str:
    """Plain text: one line per field, ``key (type) = default  meaning``."""
    rows = describe_settings(settings_class)
    width = max((len(r.key) for r in rows), default=0)
    lines = [title] if title else []
    for r in rows:
        default = json.dumps(list(r.default) if isinstance(r.default, tuple) else r.default)
        lines.append(f"  {r.key:<{width}}  {r.type:<11} = {default:<12}  {r.meaning}".rstrip())
    return "\n".join(lines)
