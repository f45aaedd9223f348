"""Appearance descriptors of a masked image crop: classical (colour + shape) or DINOv2.

Both extractors take a batch of RGB crops with their masks and return one row per
crop; rows compare by cosine similarity. The query is the object's crop from the
capture (background zeroed); the library side is every rendered view of an asset
(``Library.views``), computed once per asset and cached by :class:`~.retrieval.LibraryIndex`.

- :class:`ClassicalFeatures`: an HSV colour histogram of the masked pixels (view
  invariant, what tells a red chair from a black one) and a silhouette/edge part
  (the mask and its gradient magnitude at 16×16, aspect kept), fast and offline.
- :class:`Dinov2Features`: mean-pooled patch tokens and the CLS token of a
  ``transformers.Dinov2Model`` loaded from a local folder (``save_pretrained`` layout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from scenewright.errors import InputError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def crop_to_mask(rgb: np.ndarray, mask: np.ndarray, pad: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Square crop around ``mask`` (H, W) bool of ``rgb`` (H, W, 3); background zeroed.

    Returns (S, S, 3) uint8 and (S, S) bool with S the padded side of the mask's box
    (parts outside the image are zero), so the object keeps its aspect ratio.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), bool)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(np.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * pad))) + 1
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    top, left = cy - side // 2, cx - side // 2
    out_rgb = np.zeros((side, side, 3), np.uint8)
    out_mask = np.zeros((side, side), bool)
    h, w = mask.shape
    sy0, sx0 = max(top, 0), max(left, 0)
    sy1, sx1 = min(top + side, h), min(left + side, w)
    out_mask[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = mask[sy0:sy1, sx0:sx1]
    out_rgb[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = rgb[sy0:sy1, sx0:sx1]
    out_rgb[~out_mask] = 0
    return out_rgb, out_mask


def resize(image: np.ndarray, size: int, order: int = 1) -> np.ndarray:
    """Resize a square (S, S[, C]) array to (size, size[, C]) with ``scipy.ndimage.zoom``."""
    f = size / image.shape[0]
    zoom = (f, f) + ((1,) * (image.ndim - 2))
    out = ndimage.zoom(image.astype(np.float32), zoom, order=order, grid_mode=True, mode="nearest")
    return out[:size, :size]


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 → (..., 3) float in [0, 1] (vectorised, no colorsys loop)."""
    x = rgb.astype(np.float32) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    d = mx - mn
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    safe = np.where(d > 0, d, 1.0)
    h = np.where(mx == r, (g - b) / safe % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    h = np.where(d > 0, h, 0.0)
    s = np.where(mx > 0, d / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([h, s, mx], -1)


@dataclass
class ClassicalFeatures:
    """HSV histogram (12×3×4, unsaturated pixels in a separate grey ramp) + silhouette/edges."""

    name: str = "classical"
    shape_size: int = 16
    colour_weight: float = 1.0
    shape_weight: float = 0.6

    def colour(self, pixels: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
        """(n, 152) colour histograms of masked ``pixels`` (P, 3) uint8 belonging to crop ``owner`` (P,).

        12 hues × 3 saturations × 4 values for coloured pixels plus an 8-step grey ramp
        for unsaturated ones; square-rooted (Hellinger) and L2-normalised per crop.
        """
        hsv = rgb_to_hsv(pixels)
        grey = hsv[:, 1] < 0.15
        hq = np.minimum((hsv[:, 0] * 12).astype(int), 11)
        sq = np.clip(((hsv[:, 1] - 0.15) / 0.85 * 3).astype(int), 0, 2)
        vq = np.minimum((hsv[:, 2] * 4).astype(int), 3)
        gq = np.minimum((hsv[:, 2] * 8).astype(int), 7)
        bins = np.where(grey, 144 + gq, (hq * 3 + sq) * 4 + vq)
        hist = np.bincount(owner * 152 + bins, minlength=n * 152).reshape(n, 152).astype(float)
        hist = np.sqrt(hist / np.maximum(hist.sum(1, keepdims=True), 1))
        return hist / (np.linalg.norm(hist, axis=1, keepdims=True) + 1e-9)

    def shape(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Silhouette and gradient magnitude at ``shape_size``², centred and normalised."""
        n = self.shape_size
        idx = ((np.arange(4 * n) + 0.5) * mask.shape[0] / (4 * n)).astype(int)
        m = mask[np.ix_(idx, idx)].astype(np.float32)
        grey = rgb[np.ix_(idx, idx)].mean(-1) / 255.0
        mag = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
        m = m.reshape(n, 4, n, 4).mean((1, 3))
        mag = mag.reshape(n, 4, n, 4).mean((1, 3))
        vec = np.concatenate([m.ravel() - m.mean(), (mag.ravel() - mag.mean())])
        return vec / (np.linalg.norm(vec) + 1e-9)

    def __call__(self, rgbs: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
        """Crops (S, S, 3) uint8 with masks (S, S) → (B, D) float32, rows of norm 1 (0 for empty masks)."""
        n = len(rgbs)
        pixels = np.concatenate([r[m] for r, m in zip(rgbs, masks)]) if n else np.zeros((0, 3), np.uint8)
        owner = np.repeat(np.arange(n), [int(m.sum()) for m in masks])
        colour = self.colour(pixels, owner, n) * self.colour_weight
        shape = np.stack([self.shape(r, m) if m.any() else np.zeros(2 * self.shape_size ** 2)
                          for r, m in zip(rgbs, masks)]) * self.shape_weight
        v = np.concatenate([colour, shape], 1)
        return (v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-9)).astype(np.float32)


class Dinov2Features:
    """DINOv2 descriptors from a local ``Dinov2Model`` folder (weights never fetched at run time).

    Descriptor = concat(L2(CLS), L2(mean of patch tokens)) / √2. Crops are resized to
    the model's ``image_size`` (a multiple of the patch size) and ImageNet-normalised,
    as the DINOv2 processor does after its centre crop (our crops are already square).
    """

    name = "dinov2"

    def __init__(self, weights_dir: str | os.PathLike, batch_size: int = 16):
        folder = Path(weights_dir)
        if not (folder / "config.json").is_file():
            raise InputError(f"{folder}: not a Dinov2Model folder (config.json missing)")
        try:
            import torch
            from transformers import Dinov2Model
            self.model = Dinov2Model.from_pretrained(str(folder)).eval()
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder}: cannot load DINOv2 weights ({exc})") from None
        self._torch = torch
        cfg = self.model.config
        patch = int(cfg.patch_size)
        self.size = max(patch, int(round(int(cfg.image_size) / patch)) * patch)
        self.batch_size = batch_size
        self.weights_dir = str(folder)

    def __call__(self, rgbs: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
        """Crops (S, S, 3) uint8 → (B, 2·hidden) float32, rows of norm 1."""
        torch = self._torch
        batch = np.stack([resize(r * m[..., None], self.size) / 255.0 for r, m in zip(rgbs, masks)])
        batch = ((batch - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2).astype(np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(batch), self.batch_size):
                hidden = self.model(pixel_values=torch.from_numpy(batch[i:i + self.batch_size])).last_hidden_state
                cls = torch.nn.functional.normalize(hidden[:, 0], dim=-1)
                patches = torch.nn.functional.normalize(hidden[:, 1:].mean(1), dim=-1)
                out.append((torch.cat([cls, patches], -1) / np.sqrt(2)).numpy())
        return np.concatenate(out).astype(np.float32)


def make_extractor(kind: str = "auto", dinov2_weights: str | None = None):
    """``classical`` | ``dinov2`` (needs weights; InputError otherwise) | ``auto`` (DINOv2 iff weights given)."""
    if kind == "dinov2" or (kind == "auto" and dinov2_weights):
        if not dinov2_weights:
            raise InputError("features dinov2 needs dinov2_weights DIR (a local Dinov2Model folder)")
        return Dinov2Features(dinov2_weights)
    if kind not in ("auto", "classical"):
        raise InputError(f"unknown appearance features {kind!r} (auto, classical, dinov2)")
    return ClassicalFeatures()
