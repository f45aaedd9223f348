"""Learned metric depth: Depth Anything V2 (metric, indoor) from a local ``save_pretrained`` folder.

A :class:`~scenewright.perception.depth.DepthSource`: ``depth(capture)`` returns (H, W)
float32 metres along camera z. The image goes through the checkpoint's own processor
(its input size, e.g. 518 px), the prediction is resized back to (H, W) bilinearly, and —
because a metric head learns the scale of its training camera — depth is multiplied by
``(fx / W) / (f_train / W_train)`` when the capture's focal length is known (Hypersim, the
indoor training set, has a 60° horizontal field of view). With an unknown focal length
the prediction is kept as is, and the camera consistent with it is the training one
(:attr:`train_hfov_deg`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from scenewright.capture import Capture
from scenewright.errors import InputError

HYPERSIM_HFOV_DEG = 60.0     # Hypersim: 1024x768 renders, focal 886.81 px


class DepthAnythingDepth:
    """Metric depth from ``AutoModelForDepthEstimation``; loaded on first use."""

    name = "depth-anything-v2-metric"

    def __init__(self, folder: str | os.PathLike, device: str = "cpu",
                 train_hfov_deg: float = HYPERSIM_HFOV_DEG):
        self.folder = Path(folder)
        self.device = device
        self.train_hfov_deg = train_hfov_deg
        self._model = self._processor = None
        self.identity: dict = {"folder": str(self.folder)}

    def _load(self) -> None:
        if self._model is None:
            import transformers
            from scenewright.perception.hf import load_pretrained
            self._model, self._processor, self.identity = load_pretrained(
                self.folder, transformers.AutoModelForDepthEstimation, transformers.AutoImageProcessor,
                ("depth_anything",), self.device)
            self.identity["train_hfov_deg"] = self.train_hfov_deg

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 → (H, W) float32 metres as the model sees it (its training camera)."""
        import torch
        from PIL import Image
        self._load()
        h, w = rgb.shape[:2]
        inputs = self._processor(images=Image.fromarray(rgb), return_tensors="pt").to(self.device)
        with torch.inference_mode():
            pred = self._model(**inputs).predicted_depth                    # (1, h', w')
        pred = torch.nn.functional.interpolate(pred[:, None].float(), size=(h, w), mode="bilinear",
                                               align_corners=False)[0, 0]
        depth = pred.cpu().numpy().astype(np.float32)
        depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
        return depth

    def focal_scale(self, K: np.ndarray, width: int) -> float:
        """Factor taking the model's depth to the camera with intrinsics ``K`` (same image width)."""
        f_train_norm = 0.5 / math.tan(math.radians(self.train_hfov_deg) / 2)
        return float(K[0, 0] / width / f_train_norm)

    def depth(self, capture: Capture) -> np.ndarray:
        depth = self.predict(capture.rgb)
        if not capture.camera_is_default:
            depth *= self.focal_scale(capture.K, capture.width)
        if not np.any(np.isfinite(depth)):
            raise InputError(f"{self.folder}: the depth model predicted no valid depth")
        return depth
