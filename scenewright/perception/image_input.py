"""Reading the pictures people have: any common image, MIDI-style segmentation PNGs, label text.

``load_image(path) -> LoadedImage``: JPEG, PNG, WebP, TIFF, BMP…; EXIF orientation is
applied (a phone photo stands upright); grey, RGBA, palette, 16-bit and CMYK become 8-bit
RGB, each conversion noted. ``load_seg(path, size)``: instance ids as distinct colours
(RGB or palette) or as integer values (8/16-bit grey), background 0/black — the format
of MIDI's ``assets/example_data`` and of scenewright's own captures.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scenewright.capture import read_seg
from scenewright.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}
MIN_SIDE = 8
# Catch-all categories make poor detection prompts; the rest name things a detector can find.
_NOT_PROMPTS = {"floor_object", "decor"}


@dataclass
class LoadedImage:
    """An image as 8-bit RGB, upright. ``original_size`` is (width, height) as stored in the file."""

    rgb: np.ndarray                   # (H, W, 3) uint8
    path: Path
    original_mode: str
    original_size: tuple[int, int]
    notes: list[str] = field(default_factory=list)


def _to_8bit_rgb(img: Image.Image, notes: list[str]) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        finite = arr[np.isfinite(arr)]
        hi = float(finite.max()) if finite.size else 0.0
        # 16-bit photos use the full range; scale by the type's range, not the image's, so a
        # dark picture stays dark (float/int32 images have no type range: scale by their max).
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and 255 < hi <= 65535) else max(hi, 1.0)
        grey = np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append(f"{mode} grey image scaled to 8 bits (÷{top:g}) and repeated to RGB")
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "RGBA" or mode == "LA" or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append(f"{mode} image with transparency composited over white")
        return np.asarray(Image.alpha_composite(base, rgba).convert("RGB"), np.uint8)
    if mode != "RGB":
        notes.append(f"{mode} image converted to RGB")
    arr = np.asarray(img.convert("RGB"))
    if arr.dtype != np.uint8:       # 48-bit RGB PNGs arrive as such in some Pillow versions
        arr = (arr.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
        notes.append("16-bit RGB scaled to 8 bits")
    return arr


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Read an image file as upright 8-bit RGB; InputError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image not found")
    try:
        with Image.open(path) as img:
            img.load()
            original_mode, original_size = img.mode, img.size
            notes: list[str] = []
            orientation = img.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(img)
            if orientation not in (1, None):
                notes.append(f"EXIF orientation {orientation} applied ({original_size[0]}x{original_size[1]} "
                             f"stored → {upright.size[0]}x{upright.size[1]} upright)")
            rgb = _to_8bit_rgb(upright, notes)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file Pillow can read (JPEG, PNG, WebP, TIFF, BMP…)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None
    h, w = rgb.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise InputError(f"{path}: image is {w}x{h}, too small (at least {MIN_SIDE}x{MIN_SIDE})")
    return LoadedImage(rgb=np.ascontiguousarray(rgb), path=path, original_mode=original_mode,
                       original_size=original_size, notes=notes)


def load_seg(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) int32 instance ids from a segmentation PNG in MIDI's format; 0 = background.

    The capture reader (``capture.read_seg``): distinct colours or grey ids, black/0 is
    background. ``size`` = (width, height) the seg must have, that of the image.
    """
    shape = None if size is None else (size[1], size[0])
    return read_seg(path, shape, reference="the image")


def parse_labels(text: str | None) -> list[str]:
    """``"sofa, armchair; coffee table"`` → ``["sofa", "armchair", "coffee table"]`` (order kept,
    duplicates and empty items dropped, case kept). Separators: comma, semicolon, full stop, newline."""
    if not text:
        return []
    out: list[str] = []
    for part in re.split(r"[,;.\n]+", text):
        label = " ".join(part.split())
        if label and label.lower() not in (x.lower() for x in out):
            out.append(label)
    return out


def default_vocabulary() -> list[str]:
    """The asset library's categories as detection prompts ("coffee_table" → "coffee table")."""
    from scenewright.library.categories import CATEGORIES
    return [name.replace("_", " ") for name in CATEGORIES if name not in _NOT_PROMPTS]


def is_image_file(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
