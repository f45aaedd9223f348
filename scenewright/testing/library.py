"""Small real libraries for tests (this package's and other areas').

>>> from scenewright.testing.library import build_small_library
>>> lib = build_small_library(tmp_path / "lib", n_per_category=1)

The assets are real Sweet Home 3D catalog items (the first ``n_per_category`` kept
items of each category, in catalog order), processed exactly as a full build does.
"""

from __future__ import annotations

from pathlib import Path

from scenewright.library.build import BuildSettings, build_library
from scenewright.library.sources import read_sources
from scenewright.library.store import Library

# Categories covering every role (seat, wall, table, floor, small) with light models.
DEFAULT_CATEGORIES = ("chair", "armchair", "bed", "wardrobe", "dining_table", "sofa", "lamp", "plant")


def small_selection(n_per_category: int = 1, categories=DEFAULT_CATEGORIES, sources=None) -> list[str]:
    """Asset ids of the first ``n_per_category`` kept items of each category."""

    chosen: dict[str, list[str]] = {c: [] for c in categories}
    for col in read_sources(sources):
        for it in col.items:
            if not it.excluded and it.category in chosen and len(chosen[it.category]) < n_per_category:
                chosen[it.category].append(it.asset_id)
    return [a for ids in chosen.values() for a in ids]


def build_small_library(out, n_per_category: int = 1, categories=DEFAULT_CATEGORIES, sources=None,
                        workers: int = 2, views: bool = True, progress: bool = False) -> Library:
    """Build (or reuse, when already built there) a small library in ``out`` and open it.

    About 1 s per asset on one core; the default (8 assets) takes ~5-10 s with 2 workers.
    ``views=False`` skips rendering (no EGL needed).
    """

    only = small_selection(n_per_category, categories, sources)
    build_library(Path(out), sources, workers=workers, only=only, progress=progress,
                  settings=BuildSettings(views=views))
    return Library.open(out)
