"""Fixtures: a small real library (built by the real builder from two Sweet Home 3D catalogs)
and small benchmarks made from it once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenewright.bench.generate import BenchSettings, make_bench

# Low-poly assets of two catalogs covering every placement role.
SMALL_ASSETS = [
    "BlendSwap-CC-0/couch2", "BlendSwap-CC-0/glassDoorCabinet", "BlendSwap-CC-0/bedsideTable2",
    "BlendSwap-CC-0/bookcase", "BlendSwap-CC-0/oakTable", "BlendSwap-CC-0/chair2",
    "BlendSwap-CC-0/desklamp", "BlendSwap-CC-0/littlePlant", "BlendSwap-CC-0/desk",
    "BlendSwap-CC-0/cosmeticsPot",
    "KatorLegaz/glass-dining-table", "KatorLegaz/dining-chair", "KatorLegaz/filing-cabinet",
    "KatorLegaz/full-bookcase", "KatorLegaz/futon-couch", "KatorLegaz/pedestal-vase-lamp",
]
CATALOGS = ["BlendSwap-CC-0", "KatorLegaz"]


@pytest.fixture(scope="session")
def small_library(furniture, tmp_path_factory) -> Path:
    """This area's own small library (overrides the shared one: sixteen assets, no views)."""
    from scenewright.library import BuildSettings, build_library
    out = tmp_path_factory.mktemp("lib") / "library"
    build_library(out, [furniture / f"{c}.sh3f" for c in CATALOGS], workers=1, only=SMALL_ASSETS,
                  progress=False, settings=BuildSettings(n_samples=256, voxel_grid=8, views=False))
    return out


def small_settings(**kw) -> BenchSettings:
    base = dict(scenes=3, seed=0, size=128, objects=(4, 8))
    base.update(kw)
    return BenchSettings(**base)


@pytest.fixture(scope="session")
def bench(small_library, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "b0"
    make_bench(out, small_library, small_settings(), progress=False)
    return out
