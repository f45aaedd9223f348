"""The one list of methods: the command line, batch, the web page, benchmarks and docs ask it.

Entries are ``"module:Class"`` strings, imported on first use, so listing the names
(``scenewright --help``) imports no method (MIDI would pull in torch).

>>> method_names()
['layout', 'boxes', 'midi']
>>> get_method("boxes").Settings.__name__
'BoxesSettings'
"""

from __future__ import annotations

import importlib

from scenewright.errors import InputError

DEFAULT_METHOD = "layout"

# name → "module:Class" of a scenewright.methods.base.Method subclass.
_REGISTRY: dict[str, str | type] = {
    "layout": "scenewright.methods.layout.pipeline:LayoutMethod",
    "boxes": "scenewright.methods.boxes:BoxesMethod",
    "midi": "scenewright.methods.midi.pipeline:MIDIMethod",
}


def method_names() -> list[str]:
    """Registered method names, in registration order."""
    return list(_REGISTRY)


def register_method(name: str, target: str | type, replace: bool = False) -> None:
    """Add a method: ``target`` is the class or its ``"module:Class"`` path."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"method {name!r} is already registered")
    _REGISTRY[name] = target


def unregister_method(name: str) -> None:
    """Remove a method (a test's throwaway one)."""
    _REGISTRY.pop(name, None)


def get_method(name: str):
    """The :class:`~scenewright.methods.base.Method` subclass registered as ``name``; InputError if none."""
    target = _REGISTRY.get(name)
    if target is None:
        raise InputError(f"--method {name!r}: not one of {', '.join(_REGISTRY)}")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target
