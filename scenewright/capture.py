"""Capture folders: load and validate what a method gets as input.

A capture holds ``rgb.png`` (required), ``seg.png`` (instance ids, or an RGB palette),
``instances.json`` (free-text labels), ``depth.npy`` (float32 metres) or ``depth.png``
(uint16 millimetres), ``depth.json`` (what the depth is: ``metric`` when absent,
``estimated-metric`` or ``relative``) and ``camera.json`` (intrinsics). See the shared
scene-format doc and docs/layout.md ("Depth kinds").
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, dumps_json, read_json

# What a capture's depth map holds (depth.json "kind"): exact metres, a model's metres (shape
# trusted, scale not), or an affine-invariant map (unknown scale and shift; "quantity" says
# whether the values are depth or disparity).
DEPTH_KINDS = ("metric", "estimated-metric", "relative")
DEPTH_QUANTITIES = ("depth", "disparity")

# Imaginarium's fixed camera (30 mm lens on a 36 mm sensor): fx = W * 30 / 36, about 61.9° across.
DEFAULT_HFOV_DEG = math.degrees(2 * math.atan(18 / 30))


def intrinsics_from_hfov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """(3, 3) pinhole K with square pixels and the principal point at the image centre."""
    if not 1.0 < hfov_deg < 179.0:
        raise InputError(f"horizontal field of view {hfov_deg}° is outside (1°, 179°)")
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], float)


@dataclass
class Capture:
    """A validated capture. Arrays are (H, W[, 3]); depth in metres with NaN where unknown."""

    rgb: np.ndarray                      # (H, W, 3) uint8
    K: np.ndarray                        # (3, 3) float, pixels
    seg: np.ndarray | None = None        # (H, W) int32, 0 = none
    depth: np.ndarray | None = None      # (H, W) float32 metres, NaN = unknown
    labels: dict[int, str] = field(default_factory=dict)
    camera_is_default: bool = False
    path: Path | None = None
    depth_kind: str = "metric"           # DEPTH_KINDS; "relative" values are NOT metres
    depth_quantity: str = "depth"        # DEPTH_QUANTITIES (relative only: disparity or depth)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def instance_ids(self) -> list[int]:
        if self.seg is None:
            return []
        ids = np.unique(self.seg)
        return [int(i) for i in ids if i != 0]

    def mask(self, instance_id: int) -> np.ndarray:
        """(H, W) bool mask of one instance."""
        if self.seg is None:
            raise InputError(f"{self.path}: capture has no seg.png")
        return self.seg == instance_id

    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / 2 / self.K[0, 0]))


def _read_image(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except Exception as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None


def seg_from_palette(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 palette image → (H, W) int32 ids, ascending by packed 0xRRGGBB; black = 0."""
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    values, inverse = np.unique(packed, return_inverse=True)
    ids = np.arange(len(values), dtype=np.int32) + (0 if values[0] == 0 else 1)
    return ids[inverse.reshape(packed.shape)]


def load_capture(folder: str | os.PathLike, require_seg: bool = True,
                 default_hfov_deg: float = DEFAULT_HFOV_DEG) -> Capture:
    """Load and validate a capture folder; every problem is an InputError naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: capture folder not found")
    rgb_path = folder / "rgb.png"
    if not rgb_path.is_file():
        raise InputError(f"{rgb_path}: missing (a capture needs rgb.png)")
    rgb_img = _read_image(rgb_path)
    rgb = np.asarray(rgb_img.convert("RGB"), np.uint8)
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        raise InputError(f"{rgb_path}: image is {w}x{h}, too small")

    def check_size(path: Path, shape: tuple[int, ...]) -> None:
        if tuple(shape[:2]) != (h, w):
            raise InputError(f"{path}: size {shape[1]}x{shape[0]} differs from rgb.png {w}x{h}")

    seg = None
    seg_path = folder / "seg.png"
    if seg_path.is_file():
        img = _read_image(seg_path)
        arr = np.asarray(img)
        check_size(seg_path, arr.shape)
        if img.mode in ("RGB", "RGBA", "P"):
            seg = seg_from_palette(np.asarray(img.convert("RGB"), np.uint8))
        elif arr.ndim == 2 and arr.dtype.kind in "ui" or img.mode in ("L", "I;16", "I"):
            seg = arr.astype(np.int32)
        else:
            raise InputError(f"{seg_path}: unsupported image mode {img.mode}; expected 8/16-bit grey or RGB palette")
        if seg.min() < 0:
            raise InputError(f"{seg_path}: negative instance ids")
        if not np.any(seg > 0):
            raise InputError(f"{seg_path}: no instances (every pixel is 0)")
    elif require_seg:
        raise InputError(f"{seg_path}: missing (this method needs instance masks)")

    labels: dict[int, str] = {}
    inst_path = folder / "instances.json"
    if inst_path.is_file():
        data = read_json(inst_path)
        try:
            for entry in data["instances"]:
                labels[int(entry["id"])] = str(entry.get("label") or "")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{inst_path}: expected {{'instances': [{{'id': int, 'label': str}}]}} ({exc})") from None

    depth = None
    npy, png = folder / "depth.npy", folder / "depth.png"
    if npy.is_file():
        try:
            depth = np.load(npy, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"{npy}: cannot read ({exc})") from None
        if depth.ndim != 2:
            raise InputError(f"{npy}: expected an HxW array, got shape {depth.shape}")
        check_size(npy, depth.shape)
        depth = depth.astype(np.float32)
        if np.any(depth < 0):
            raise InputError(f"{npy}: negative depth values ({int(np.sum(depth < 0))} pixels)")
        if np.any(np.isinf(depth)):
            raise InputError(f"{npy}: infinite depth values")
        depth[depth == 0] = np.nan
    elif png.is_file():
        img = _read_image(png)
        arr = np.asarray(img)
        if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint8):
            raise InputError(f"{png}: expected a 16-bit single-channel PNG in millimetres, got mode {img.mode}")
        check_size(png, arr.shape)
        depth = arr.astype(np.float32) / 1000.0
        depth[arr == 0] = np.nan
    if depth is not None and not np.any(np.isfinite(depth)):
        raise InputError(f"{npy if npy.is_file() else png}: depth is unknown (0 or NaN) everywhere")

    depth_kind, depth_quantity = read_depth_kind(folder / "depth.json")

    cam_path = folder / "camera.json"
    if cam_path.is_file():
        data = read_json(cam_path)
        try:
            K = np.asarray(data["K"], float)
            cw, ch = int(data.get("width", w)), int(data.get("height", h))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{cam_path}: expected {{'K': 3x3, 'width': W, 'height': H}} ({exc})") from None
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise InputError(f"{cam_path}: K must be a finite 3x3 matrix with positive focal lengths")
        if (cw, ch) != (w, h):
            raise InputError(f"{cam_path}: camera is {cw}x{ch} but rgb.png is {w}x{h}")
        is_default = False
    else:
        K = intrinsics_from_hfov(w, h, default_hfov_deg)
        is_default = True
    return Capture(rgb=rgb, K=K, seg=seg, depth=depth, labels=labels, camera_is_default=is_default,
                   path=folder, depth_kind=depth_kind, depth_quantity=depth_quantity)


def read_depth_kind(path: Path) -> tuple[str, str]:
    """``depth.json`` → (kind, quantity); an absent file means ("metric", "depth")."""
    if not path.is_file():
        return "metric", "depth"
    data = read_json(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in DEPTH_KINDS:
        raise InputError(f"{path}: 'kind' must be one of {', '.join(DEPTH_KINDS)} (got {kind!r})")
    quantity = data.get("quantity", "disparity" if kind == "relative" else "depth")
    if quantity not in DEPTH_QUANTITIES or (kind != "relative" and quantity != "depth"):
        raise InputError(f"{path}: 'quantity' must be 'depth' or, for relative depth, 'disparity' "
                         f"(got {quantity!r})")
    return kind, quantity


def write_capture(capture: Capture, folder: str | os.PathLike, overwrite: bool = False,
                  depth_format: str = "npy") -> Path:
    """Write a capture folder atomically (seg as 16-bit PNG, depth as npy or 16-bit mm PNG)."""
    folder = Path(folder)
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        Image.fromarray(capture.rgb).save(tmp / "rgb.png")
        if capture.seg is not None:
            seg = capture.seg.astype(np.uint16 if capture.seg.max() > 255 else np.uint8)
            Image.fromarray(seg).save(tmp / "seg.png")
        if capture.labels:
            (tmp / "instances.json").write_text(dumps_json(
                {"instances": [{"id": i, "label": l} for i, l in sorted(capture.labels.items())]}) + "\n")
        if capture.depth is not None:
            depth = np.nan_to_num(capture.depth.astype(np.float32), nan=0.0)
            if depth_format == "npy":
                np.save(tmp / "depth.npy", depth)
            else:
                Image.fromarray(np.clip(np.round(depth * 1000), 0, 65535).astype(np.uint16)).save(tmp / "depth.png")
        if capture.depth is not None and capture.depth_kind != "metric":
            (tmp / "depth.json").write_text(dumps_json(
                {"kind": capture.depth_kind, "quantity": capture.depth_quantity}) + "\n")
        if not capture.camera_is_default:
            (tmp / "camera.json").write_text(dumps_json(
                {"K": capture.K, "width": capture.width, "height": capture.height}) + "\n")
    return folder
