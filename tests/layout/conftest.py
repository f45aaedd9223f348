"""Fixtures shared by the layout tests that render hypotheses of real assets."""

from __future__ import annotations

import pytest

from scenewright.methods.layout.pose import PoseSettings


@pytest.fixture(scope="module")
def index(small_library):
    """The retrieval index of the session's small real library."""
    from scenewright.library import Library
    from scenewright.methods.layout.retrieval import LibraryIndex
    return LibraryIndex(Library.open(small_library))


@pytest.fixture(scope="module")
def window_renderer():
    """A renderer of the pose windows' size, released after the module."""
    from scenewright.render import Renderer
    r = Renderer(PoseSettings().render_size, PoseSettings().render_size)
    yield r
    r.release()
