"""Where depth comes from: a small interface so a learned estimator can plug in later.

``DepthSource`` is anything with ``depth(capture) -> (H, W) float32`` metres along the
camera z axis, NaN where unknown. ``GivenDepth`` uses the capture's own depth map.

Design note — a learned metric-depth source (``DepthAnythingDepth``, not written yet):
it would load a Depth Anything V2 metric checkpoint (``transformers``
``AutoModelForDepthEstimation`` from a local folder, never a network download at run
time), run the image at the model's input size, resize the prediction back to (H, W)
with bilinear interpolation, and — because metric heads are trained with their own
intrinsics — rescale depth by ``capture.K[0, 0] / f_train`` when the capture's focal
length is known. It must keep this interface (same units, NaN for invalid pixels) and
record ``name``/``settings`` so a scene says which depth it was built from. Tests would
build a tiny random-weight model, save it and load it back through the same code.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from scenewright.capture import Capture
from scenewright.errors import InputError


@runtime_checkable
class DepthSource(Protocol):
    """Produces metric depth for a capture."""

    name: str

    def depth(self, capture: Capture) -> np.ndarray:
        """(H, W) float32 metres along camera z; NaN where unknown."""
        ...


class GivenDepth:
    """The depth stored in the capture (``depth.npy`` / ``depth.png``).

    Non-finite and non-positive values become NaN (holes); nothing is filled in, so
    later stages see exactly which pixels were measured.
    """

    name = "given"

    def depth(self, capture: Capture) -> np.ndarray:
        if capture.depth is None:
            where = capture.path if capture.path is not None else "capture"
            raise InputError(f"{where}: no depth.npy or depth.png — the layout method needs metric "
                             "depth (no learned depth estimator is configured)")
        d = np.asarray(capture.depth, np.float32).copy()
        if d.shape != (capture.height, capture.width):
            raise InputError(f"{capture.path}: depth is {d.shape[1]}x{d.shape[0]} but rgb is "
                             f"{capture.width}x{capture.height}")
        d[~np.isfinite(d) | (d <= 0)] = np.nan
        if not np.any(np.isfinite(d)):
            raise InputError(f"{capture.path}: depth is unknown everywhere")
        return d
