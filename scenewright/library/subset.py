"""A view of a library restricted to some assets (library-size scaling and held-out splits).

It forwards every read to the full :class:`scenewright.library.Library`, so arrays,
meshes and views are the same files; only ``records`` (what retrieval may choose
from) shrinks. Used by ``benchmarks/bench_layout.py``.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


class LibrarySubset:
    """The assets of ``library`` whose ids are in ``asset_ids`` (catalog order kept)."""

    def __init__(self, library, asset_ids: Iterable[str]):
        keep = set(asset_ids)
        self.library = library
        self.folder = getattr(library, "folder", None)
        self.info = getattr(library, "info", {})
        self.records = [r for r in library.records if r.asset_id in keep]
        self._ids = {r.asset_id for r in self.records}

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.asset_id for r in self.records]

    def record(self, asset_id: str):
        if asset_id not in self._ids:
            raise KeyError(f"{asset_id!r} is not in this library subset")
        return self.library.record(asset_id)

    def categories(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.category] = counts.get(r.category, 0) + 1
        return counts

    def __getattr__(self, name):
        # mesh, samples, views, voxels, attribution, license_text: the full library's
        return getattr(self.library, name)


def subset(library, keep: Callable[[object], bool]) -> LibrarySubset:
    """Assets whose record satisfies ``keep(record)``."""
    return LibrarySubset(library, [r.asset_id for r in library.records if keep(r)])


def sized_subset(library, n: int, must_keep: Iterable[str] = (), seed: int = 0) -> LibrarySubset:
    """``n`` assets: ``must_keep`` (e.g. the benchmark's ground-truth assets) plus random others."""
    must = [a for a in dict.fromkeys(must_keep) if a in set(library.ids)]
    rest = [r.asset_id for r in library.records if r.asset_id not in set(must)]
    rng = np.random.default_rng(seed)
    extra = list(rng.permutation(rest)[: max(0, n - len(must))]) if rest else []
    return LibrarySubset(library, must + extra)
