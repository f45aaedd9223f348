"""Fixtures of the renderer tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def intrinsics():
    """An off-centre principal point, non-square pixels: catches swapped or ignored terms."""
    return np.array([[180.0, 0.0, 70.3], [0.0, 170.0, 52.9], [0.0, 0.0, 1.0]])
