"""One small real library shared by the library tests (built once per session)."""

from __future__ import annotations

import pytest

from scenewright.testing.library import build_small_library


@pytest.fixture(scope="session")
def small_library(tmp_path_factory):
    """8 real catalog assets (one per category of testing.DEFAULT_CATEGORIES), with views."""
    return build_small_library(tmp_path_factory.mktemp("lib") / "library", n_per_category=1, workers=2)
