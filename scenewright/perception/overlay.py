"""``perception.png``: what perception saw, for a person to check before the 3D step.

Left: the photo with each instance's mask tinted in its own colour, outlined, and its id
and label written on it. Right: the depth as a colour map (near = dark blue, far = yellow)
with its range in metres. Each panel is at most ``panel_side`` pixels on its long side.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scenewright.capture import Capture

# Distinct, colour-blind-friendlier hues (Okabe–Ito, then Tableau extras), cycled.
PALETTE = np.array([(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
                    (213, 94, 0), (204, 121, 167), (255, 127, 14), (44, 160, 44), (214, 39, 40),
                    (148, 103, 189), (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207)], np.uint8)
# Viridis at 5 stops; linear interpolation between them is close enough for a look.
_VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], float)


def colormap(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(H, W) values → (H, W, 3) uint8 viridis over [lo, hi]; NaN is grey."""
    t = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1)
    t = np.nan_to_num(t, nan=0.0) * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    f = (t - i)[..., None]
    rgb = _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f
    rgb[~np.isfinite(values)] = 128
    return rgb.astype(np.uint8)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:          # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _shrink(img: Image.Image, side: int, resample) -> Image.Image:
    s = side / max(img.size)
    return img if s >= 1 else img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), resample)


def perception_overlay(capture: Capture, panel_side: int = 1024, depth_note: str = "") -> np.ndarray:
    """(h, w, 3) uint8 picture: masks + labels beside the depth colour map."""
    rgb = Image.fromarray(capture.rgb)
    left = _shrink(rgb, panel_side, Image.Resampling.LANCZOS)
    w, h = left.size
    base = np.asarray(left, float)
    font = _font(max(12, h // 40))
    tags = []
    if capture.seg is not None:
        seg = np.asarray(Image.fromarray(capture.seg.astype(np.int32)).resize((w, h), Image.Resampling.NEAREST))
        ids = [i for i in np.unique(seg) if i != 0]
        colour = np.zeros((int(seg.max()) + 1, 3), float)
        for k, i in enumerate(ids):
            colour[i] = PALETTE[k % len(PALETTE)]
        inside = seg > 0
        base[inside] = 0.5 * base[inside] + 0.5 * colour[seg[inside]]
        edge = np.zeros_like(inside)
        edge[:-1] |= seg[:-1] != seg[1:]
        edge[:, :-1] |= seg[:, :-1] != seg[:, 1:]
        base[edge] = 255
        for k, i in enumerate(ids):
            ys, xs = np.nonzero(seg == i)
            # At the mask pixel nearest its centroid: inside the object even when it is not convex.
            k_near = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
            text = f"{i} {capture.labels.get(int(i), '') or '?'}"
            tags.append(((int(xs[k_near]), int(ys[k_near])), text, tuple(int(c) for c in PALETTE[k % len(PALETTE)])))
    left = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(left)
    for (x, y), text, col in tags:
        tw, th = draw.textbbox((0, 0), text, font=font)[2:]
        x, y = min(max(x - tw // 2, 2), max(w - tw - 2, 2)), min(max(y - th // 2, 2), max(h - th - 2, 2))
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=(0, 0, 0))
        draw.text((x, y), text, fill=col, font=font)
    panels = [left]
    if capture.depth is not None:
        d = np.asarray(capture.depth, float)
        finite = d[np.isfinite(d)]
        lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
        right = Image.fromarray(colormap(d, lo, hi)).resize((w, h), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(right)
        text = f"depth {lo:.2f} to {hi:.2f} m" + (f" ({depth_note})" if depth_note else "")
        x0, y0, x1, y1 = draw.textbbox((6, 6), text, font=font)
        draw.rectangle((x0 - 3, y0 - 3, x1 + 3, y1 + 3), fill=(0, 0, 0))
        draw.text((6, 6), text, fill=(255, 255, 255), font=font)
        panels.append(right)
    out = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), h), (255, 255, 255))
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + 8
    return np.asarray(out, np.uint8)
