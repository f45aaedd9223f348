"""Config dataclasses read from a checkpoint's JSON files."""

from __future__ import annotations

import dataclasses


class FromDict:
    """``from_dict`` for a config dataclass: the JSON's keys that are fields, the rest ignored
    (diffusers writes ``_class_name``, ``_diffusers_version`` and the like beside them)."""

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
