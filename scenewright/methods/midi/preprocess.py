"""MIDI's input preparation: instance split (R10), instance images, encoder pixel values.

As the original CLI does it: per instance a full-frame ``instance_rgb`` (scene RGB inside the
mask, white outside), a 0/255 ``mask`` and the unmodified scene RGB. CLIP sees the instance
image; DINOv2 sees 7 channels ``[instance RGB, scene RGB, mask]`` where the RGB goes through
the hub's ``BitImageProcessor`` (resize + centre crop) and the mask is resized with torch
"nearest" (floor rule) straight to the processed size, skipping the crop (R8).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from scenewright.errors import InputError


@dataclass
class InstanceInputs:
    """Per-instance images, all (N, H, W[, 3]) uint8, and the grey value or id of each."""

    instance_rgb: np.ndarray     # (N, H, W, 3), white outside the mask
    mask: np.ndarray             # (N, H, W), 0 or 255
    scene_rgb: np.ndarray        # (H, W, 3)
    ids: list[int]               # instance value per row (grey level or capture id)


def instance_ids_from_seg_image(seg: Image.Image) -> tuple[np.ndarray, list[int]]:
    """R10: the seg image as grey levels (``convert("L")``) and its distinct non-zero values.

    Palette colours of equal luminance merge, as in the original."""
    grey = np.asarray(seg.convert("L"), np.uint8)
    values = [int(v) for v in np.unique(grey) if v != 0]
    return grey, values


def split_instances(rgb: np.ndarray, seg: np.ndarray, ids: list[int] | None = None) -> InstanceInputs:
    """rgb (H, W, 3) uint8, seg (H, W) ids (0 = background) → per-instance images.

    ``ids``: which values to use and in which order (default: distinct non-zero, ascending)."""
    if rgb.shape[:2] != seg.shape[:2]:
        raise InputError(f"segmentation is {seg.shape[1]}x{seg.shape[0]} but the image is "
                         f"{rgb.shape[1]}x{rgb.shape[0]}")
    if ids is None:
        ids = [int(v) for v in np.unique(seg) if v != 0]
    if not ids:
        raise InputError("segmentation has no instances (every pixel is 0)")
    masks = np.stack([seg == i for i in ids])                         # (N, H, W) bool
    inst = np.where(masks[..., None], rgb[None], np.uint8(255)).astype(np.uint8)
    return InstanceInputs(inst, masks.astype(np.uint8) * 255, np.ascontiguousarray(rgb), list(ids))


def load_image_pair(rgb_path: str | os.PathLike, seg_path: str | os.PathLike) -> InstanceInputs:
    """The original CLI's input: an RGB image and a seg image read as grey levels (R10)."""
    try:
        rgb = np.asarray(Image.open(rgb_path).convert("RGB"), np.uint8)
        grey, values = instance_ids_from_seg_image(Image.open(seg_path))
    except OSError as exc:
        raise InputError(f"cannot read image ({exc})") from None
    if not values:
        raise InputError(f"{seg_path}: no instances (every pixel is 0)")
    return split_instances(rgb, grey, values)


def pad_to_square(rgb: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original's ``do_image_padding``: rgb (H, W, 3) uint8, seg (H, W) → padded pair.

    The instances' union bbox is measured from the image centre; when its extent L exceeds
    80 % of a side, that side becomes int(1.25·L) and the image is centred on a white canvas
    (seg 0); then right/bottom padding makes the image square. As in the original, rows
    are compared with ``width // 2`` and columns with ``height // 2`` (swapped axes,
    harmless for square inputs)."""
    h0, w0 = seg.shape
    rows, cols = np.nonzero(seg > 0)
    if rows.size == 0:
        return rgb, seg
    w, h = w0, h0
    ext = max(max(abs(int(rows.max()) - w // 2), abs(int(rows.min()) - w // 2)) * 2,
              max(abs(int(cols.max()) - h // 2), abs(int(cols.min()) - h // 2)) * 2)
    if ext > w * 0.8:
        w = int(ext / 4 * 5)
    if ext > h * 0.8:
        h = int(ext / 4 * 5)
    side = max(w, h)
    x0, y0 = (w - w0) // 2, (h - h0) // 2
    out_rgb = np.full((side, side, 3), 255, np.uint8)
    out_seg = np.zeros((side, side), seg.dtype)
    # PIL's paste clips at the canvas; the canvas is never smaller than the image here
    # except through int() truncation, so clip the same way.
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(h0, h - y0), min(w0, w - x0)
    out_rgb[y0 + ys:y0 + ye, x0 + xs:x0 + xe] = rgb[ys:ye, xs:xe]
    out_seg[y0 + ys:y0 + ye, x0 + xs:x0 + xe] = seg[ys:ye, xs:xe]
    return out_rgb, out_seg


# -- encoder inputs ------------------------------------------------------------------------
def load_processor(folder: str | os.PathLike, kind: str):
    """The hub processor of ``feature_extractor_{1,2}`` as its PIL implementation.

    kind "clip" → ``CLIPImageProcessorPil``; "dinov2" → ``BitImageProcessorPil``. PIL
    bicubic on uint8 reproduces the original's pixels (the torchvision variants may not)."""
    folder = Path(folder)
    cfg = folder / "preprocessor_config.json"
    if not cfg.is_file():
        raise InputError(f"{cfg}: missing (the checkpoint's {folder.name} component)")
    try:
        if kind == "clip":
            from transformers import CLIPImageProcessorPil as Proc
        else:
            from transformers import BitImageProcessorPil as Proc
    except ImportError:  # transformers 4.x: the classic names are PIL-based
        if kind == "clip":
            from transformers import CLIPImageProcessor as Proc
        else:
            from transformers import BitImageProcessor as Proc
    try:
        return Proc.from_pretrained(str(folder))
    except Exception as exc:
        raise InputError(f"{cfg}: cannot load the image processor ({type(exc).__name__}: {exc})") from None


def processed_size(processor) -> tuple[int, int]:
    """(H, W) of the processor's output."""
    crop = getattr(processor, "crop_size", None)
    if getattr(processor, "do_center_crop", False) and crop:
        return int(crop["height"]), int(crop["width"])
    size = processor.size
    if "height" in size:
        return int(size["height"]), int(size["width"])
    raise InputError("the DINOv2 processor has no fixed output size (needs a centre crop or height/width)")


def pixel_values(processor, images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, h, w) float32 through a hub image processor."""
    pil = [Image.fromarray(im) for im in images]
    out = processor(images=pil, return_tensors="pt")
    return out["pixel_values"].float()


def clip_pixel_values(processor, inputs: InstanceInputs) -> torch.Tensor:
    """CLIP input: the instance images (N, 3, h, w)."""
    return pixel_values(processor, inputs.instance_rgb)


def dinov2_pixel_values(processor, inputs: InstanceInputs) -> torch.Tensor:
    """DINOv2 input (N, 7, h, w): processed instance RGB, processed scene RGB, mask in {0, 1}.

    The mask is resized with torch ``nearest`` (source index floor(dst·in/out)) straight to
    the processed size, without the processor's crop (the original's behaviour)."""
    n = len(inputs.instance_rgb)
    inst = pixel_values(processor, inputs.instance_rgb)
    scene = pixel_values(processor, np.repeat(inputs.scene_rgb[None], n, axis=0))
    mask = torch.from_numpy(inputs.mask).float()[:, None] / 255.0
    mask = F.interpolate(mask, size=processed_size(processor), mode="nearest")
    return torch.cat([inst, scene, mask], dim=1)
