"""Capture folders: load and validate what a method gets as input.

A capture holds ``rgb.png`` (required), ``seg.png`` (instance ids, or an RGB palette),
``instances.json`` (free-text labels), ``depth.npy`` (float32 metres) or ``depth.png``
(uint16 millimetres), ``depth.json`` (what the depth is: ``metric`` when absent,
``estimated-metric`` or ``relative``) and ``camera.json`` (intrinsics). See the shared
scene-format doc, ``docs/inputs.md`` (what is refused, and the size limits) and
docs/layout.md ("Depth kinds").
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, dumps_json, read_json

log = logging.getLogger("scenewright.capture")

# Limits the command line applies (``reconstruct --max-pixels/--max-instances``; the web page
# has its own, lower ones). 16 MP covers every phone camera's full resolution; a 6000x6000
# picture (36 MP) took 97 s and 11.8 GB for a room of a few objects. 255 instances is every
# id an 8-bit seg.png can hold; the methods' cost grows with the instance count.
DEFAULT_MAX_PIXELS = 16_000_000
DEFAULT_MAX_INSTANCES = 255
# What a room seen by a camera can measure: a median depth outside this range means the
# file is in another unit (millimetres in depth.npy, metres in depth.png) or is not depth.
ROOM_DEPTH_RANGE_M = (0.1, 50.0)
# Field of view a camera.json may state (both axes): outside it, K is not in pixels of this image
# (a focal length in millimetres, a K for another resolution) or is not a camera at all.
FOV_RANGE_DEG = (10.0, 170.0)
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
    # What load_capture noticed but did not refuse (also logged to "scenewright.capture").
    warnings: list[str] = field(default_factory=list)
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
        return [int(i) for i in segment_ids(self.seg) if i != 0]

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


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None


def check_limits(folder: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_instances: int | None = DEFAULT_MAX_INSTANCES) -> None:
    """Refuse a capture too big to reconstruct, before any work: rgb.png over ``max_pixels``
    (read from its header) or seg.png with more than ``max_instances`` ids. None: no limit."""
    folder = Path(folder)
    rgb_path, seg_path = folder / "rgb.png", folder / "seg.png"
    if max_pixels is not None and rgb_path.is_file():
        w, h = image_size(rgb_path)
        _check_pixels(rgb_path, w, h, max_pixels)
    if max_instances is not None and seg_path.is_file():
        w, h = image_size(seg_path)
        if max_pixels is not None:
            _check_pixels(seg_path, w, h, max_pixels)
        seg = read_seg(seg_path, (h, w))
        _check_instances(seg_path, len(segment_ids(seg)) - int(np.any(seg == 0)), max_instances)


def _check_pixels(path: Path, w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise InputError(f"{path}: {w}x{h} is {w * h / 1e6:.3g} megapixels, more than the limit of "
                         f"{max_pixels / 1e6:.3g}; scale the picture, masks and depth down together "
                         "(or raise the limit: --max-pixels)")


def _check_instances(path: Path, n: int, max_instances: int) -> None:
    if n > max_instances:
        raise InputError(f"{path}: {n} instances, more than the limit of {max_instances} "
                         "(reconstruction time grows with every object; merge or drop small ones, "
                         "or raise the limit: --max-instances)")


def segment_ids(seg: np.ndarray) -> np.ndarray:
    """The ids in a segmentation image, sorted (``np.unique(seg)``): counted with ``bincount``
    when they are small non-negative integers (instance ids are): one linear pass where
    ``np.unique`` sorts every pixel (25 vs 1 ms on a 512² bench image; a capture counts its ids 3×)."""
    seg = np.asarray(seg)
    if seg.size and seg.dtype.kind in "ui":
        low, high = int(seg.min()), int(seg.max())
        if low >= 0 and high < (1 << 20):
            return np.flatnonzero(np.bincount(seg.ravel(), minlength=1)).astype(seg.dtype)
    return np.unique(seg)


def read_seg(seg_path: str | os.PathLike, shape: tuple[int, int] | None = None,
             reference: str = "rgb.png") -> np.ndarray:
    """(H, W) int32 instance ids of a segmentation PNG; 0 = background.

    Colour images (RGB, RGBA, palette): each distinct colour is one instance, black is
    background (``seg_from_palette``). Grey images (8/16-bit, with or without alpha): the
    value is the id. ``shape`` = (H, W) the seg must have, that of ``reference``.
    InputError naming the file for anything else.
    """
    seg_path = Path(seg_path)
    if not seg_path.is_file():
        raise InputError(f"{seg_path}: segmentation image not found")
    img = _read_image(seg_path)
    if img.mode in ("LA", "PA"):        # alpha carries no instance information
        img = img.convert(img.mode[0])
    arr = np.asarray(img)
    if shape is not None and tuple(arr.shape[:2]) != tuple(shape):
        raise InputError(f"{seg_path}: size {arr.shape[1]}x{arr.shape[0]} differs from {reference} "
                         f"{shape[1]}x{shape[0]}")
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
    return seg


def _read_labels(inst_path: Path) -> dict[int, str]:
    """{id: label} of an instances.json; every malformed entry is an InputError naming it."""
    data = read_json(inst_path)
    expected = "expected {\"instances\": [{\"id\": 1, \"label\": \"sofa\"}, ...]}"
    if not isinstance(data, dict) or not isinstance(data.get("instances"), list):
        got = type(data.get("instances")).__name__ if isinstance(data, dict) and "instances" in data \
            else ("no 'instances' key" if isinstance(data, dict) else type(data).__name__)
        raise InputError(f"{inst_path}: {expected} (got {got})")
    labels: dict[int, str] = {}
    for k, entry in enumerate(data["instances"]):
        if not isinstance(entry, dict):
            raise InputError(f"{inst_path}: instances[{k}] must be an object, got {entry!r}; {expected}")
        iid = entry.get("id")
        if isinstance(iid, bool) or not isinstance(iid, int) or iid <= 0:
            raise InputError(f"{inst_path}: instances[{k}]: id must be a positive integer (the seg.png "
                             f"value), got {iid!r}")
        label = entry.get("label")
        if label is not None and not isinstance(label, str):
            raise InputError(f"{inst_path}: instances[{k}] (id {iid}): label must be text, got {label!r}")
        if iid in labels:
            raise InputError(f"{inst_path}: id {iid} is listed twice")
        labels[iid] = label or ""
    return labels


def _check_depth_units(path: Path, depth_m: np.ndarray, unit: str) -> None:
    """Refuse depth whose median is no room's (it is in another unit, or is not depth).

    ``depth_m`` (H, W) metres as read (NaN unknown); ``unit`` the unit the file must hold.
    """
    valid = depth_m[np.isfinite(depth_m) & (depth_m > 0)]
    if not len(valid):
        return
    med = float(np.median(valid))
    lo, hi = ROOM_DEPTH_RANGE_M
    if lo <= med <= hi:
        return
    hint = ""
    if unit == "metres" and lo <= med / 1000 <= hi:
        hint = "; it looks like millimetres"
    elif unit == "metres" and lo <= med / 100 <= hi:
        hint = "; it looks like centimetres"
    elif unit == "millimetres" and med < lo:
        hint = "; it looks like metres or centimetres stored as integers"
    raise InputError(f"{path}: median depth is {med:.3g} m as read, outside what a room measures "
                     f"({lo:g}–{hi:g} m){hint}: {path.name} must be {unit} along the camera z axis")


def _check_camera(cam_path: Path, K: np.ndarray, w: int, h: int) -> None:
    """K must be a pinhole matrix in pixels of this image, with a sane field of view."""
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise InputError(f"{cam_path}: K must be a finite 3x3 matrix [[fx,0,cx],[0,fy,cy],[0,0,1]]")
    if not np.allclose(K[2], [0, 0, 1]):
        raise InputError(f"{cam_path}: K's last row must be 0 0 1, got {K[2].tolist()}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"{cam_path}: K must have positive focal lengths, got fx={K[0, 0]:g}, fy={K[1, 1]:g}")
    if not (0 <= K[0, 2] <= w and 0 <= K[1, 2] <= h):
        raise InputError(f"{cam_path}: principal point ({K[0, 2]:g}, {K[1, 2]:g}) lies outside the "
                         f"{w}x{h} image; K must be in pixels of rgb.png")
    lo, hi = FOV_RANGE_DEG
    hfov = math.degrees(2 * math.atan(w / 2 / K[0, 0]))
    vfov = math.degrees(2 * math.atan(h / 2 / K[1, 1]))
    if not (lo <= hfov <= hi and lo <= vfov <= hi):
        raise InputError(f"{cam_path}: focal lengths fx={K[0, 0]:g}, fy={K[1, 1]:g} px give a "
                         f"{hfov:.3g}° x {vfov:.3g}° field of view, outside {lo:g}°–{hi:g}°; "
                         "K must be in pixels of rgb.png (not millimetres, not another resolution)")


def load_capture(folder: str | os.PathLike, require_seg: bool = True,
                 default_hfov_deg: float = DEFAULT_HFOV_DEG, max_pixels: int | None = None,
                 max_instances: int | None = None) -> Capture:
    """Load and validate a capture folder; every problem is an InputError naming the file.

    Refused besides unreadable or missing files: sizes that differ between files, depth
    that is not a real number type (bool, complex, text, pickled objects) or whose median
    is no room's (``ROOM_DEPTH_RANGE_M``: depth.npy in millimetres, depth.png in metres),
    a camera.json whose K is not a pinhole in pixels of this image (``FOV_RANGE_DEG``),
    an instances.json that is not ``{"instances": [{"id": int, "label": str}]}`` or lacks
    an entry for an id of seg.png. Ids listed but absent from seg.png are a warning
    (``Capture.warnings``). ``max_pixels``/``max_instances``: refuse bigger captures
    (checked from the image header, before decoding; None: no limit).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: capture folder not found")
    rgb_path = folder / "rgb.png"
    if not rgb_path.is_file():
        raise InputError(f"{rgb_path}: missing (a capture needs rgb.png)")
    if max_pixels is not None:
        _check_pixels(rgb_path, *image_size(rgb_path), max_pixels)
    rgb_img = _read_image(rgb_path)
    rgb = np.asarray(rgb_img.convert("RGB"), np.uint8)
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        raise InputError(f"{rgb_path}: image is {w}x{h}, too small")

    def check_size(path: Path, shape: tuple[int, ...]) -> None:
        if tuple(shape[:2]) != (h, w):
            raise InputError(f"{path}: size {shape[1]}x{shape[0]} differs from rgb.png {w}x{h}")

    warnings: list[str] = []
    seg = None
    seg_path = folder / "seg.png"
    if seg_path.is_file():
        seg = read_seg(seg_path, (h, w))
        if max_instances is not None:
            _check_instances(seg_path, len(segment_ids(seg)) - int(np.any(seg == 0)), max_instances)
    elif require_seg:
        raise InputError(f"{seg_path}: missing (this method needs instance masks)")

    labels: dict[int, str] = {}
    inst_path = folder / "instances.json"
    if inst_path.is_file():
        labels = _read_labels(inst_path)
        if seg is not None:
            seg_ids = set(int(i) for i in segment_ids(seg) if i != 0)
            unlabelled = sorted(seg_ids - set(labels))
            if unlabelled:
                shown = ", ".join(map(str, unlabelled[:10])) + (", ..." if len(unlabelled) > 10 else "")
                raise InputError(f"{inst_path}: no entry for seg.png instance id{'s' if len(unlabelled) > 1 else ''} "
                                 f"{shown}; list every instance (\"label\": \"\" for one you cannot name), "
                                 "or leave instances.json out to reconstruct without labels")
            unused = sorted(set(labels) - seg_ids)
            if unused:
                shown = ", ".join(map(str, unused[:10])) + (", ..." if len(unused) > 10 else "")
                warnings.append(f"{inst_path}: id{'s' if len(unused) > 1 else ''} {shown} "
                                f"{'are' if len(unused) > 1 else 'is'} not in seg.png (ignored)")

    depth = None
    npy, png = folder / "depth.npy", folder / "depth.png"
    depth_kind, depth_quantity = read_depth_kind(folder / "depth.json")
    # Relative depth is not in metres (unknown scale and shift): no unit check applies.
    metric_units = depth_kind != "relative"
    if npy.is_file():
        try:
            depth = np.load(npy, allow_pickle=False)
        except Exception as exc:   # a pickled object array is refused here, never unpickled
            raise InputError(f"{npy}: cannot read ({exc})") from None
        if depth.dtype.kind not in "fiu":
            raise InputError(f"{npy}: dtype {depth.dtype} is not a real number type; depth.npy must be "
                             "float32 metres")
        if depth.ndim != 2:
            raise InputError(f"{npy}: expected an HxW array, got shape {depth.shape}")
        check_size(npy, depth.shape)
        depth = depth.astype(np.float32)
        if np.any(depth < 0):
            raise InputError(f"{npy}: negative depth values ({int(np.sum(depth < 0))} pixels)")
        if np.any(np.isinf(depth)):
            raise InputError(f"{npy}: infinite depth values")
        depth[depth == 0] = np.nan
        if metric_units:
            _check_depth_units(npy, depth, "metres")
    elif png.is_file():
        img = _read_image(png)
        arr = np.asarray(img)
        if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint8):
            raise InputError(f"{png}: expected a 16-bit single-channel PNG in millimetres, got mode {img.mode}")
        check_size(png, arr.shape)
        if arr.min() < 0:
            raise InputError(f"{png}: negative depth values ({int(np.sum(arr < 0))} pixels)")
        depth = arr.astype(np.float32) / 1000.0
        depth[arr == 0] = np.nan
        if metric_units:
            _check_depth_units(png, depth, "millimetres")
    if depth is not None and not np.any(np.isfinite(depth)):
        raise InputError(f"{npy if npy.is_file() else png}: depth is unknown (0 or NaN) everywhere")

    cam_path = folder / "camera.json"
    if cam_path.is_file():
        data = read_json(cam_path)
        try:
            K = np.asarray(data["K"], float)
            cw, ch = data.get("width", w), data.get("height", h)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{cam_path}: expected {{'K': 3x3, 'width': W, 'height': H}} ({exc})") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (cw, ch)):
            raise InputError(f"{cam_path}: width and height must be integers, got {cw!r} and {ch!r}")
        if (cw, ch) != (w, h):
            raise InputError(f"{cam_path}: camera is {cw}x{ch} but rgb.png is {w}x{h}")
        _check_camera(cam_path, K, w, h)
        is_default = False
    else:
        K = intrinsics_from_hfov(w, h, default_hfov_deg)
        is_default = True
    for message in warnings:
        log.warning(message)
    return Capture(rgb=rgb, K=K, seg=seg, depth=depth, labels=labels, camera_is_default=is_default,
                   path=folder, warnings=warnings, depth_kind=depth_kind,
                   depth_quantity=depth_quantity)


# --depth on reconstruct and batch: what the user says the capture's depth is, over depth.json
DEPTH_OVERRIDES = {"given": "metric", "estimated": "estimated-metric", "relative": "relative", "none": None}


def declare_depth(capture: Capture, depth: str | None) -> Capture:
    """``capture`` with its depth taken as ``depth`` (``--depth``), whatever depth.json declares:
    ``given`` metric metres, ``estimated`` a depth model's metres (shape trusted, scale not),
    ``relative`` depth or disparity up to scale and shift (depth.json's quantity kept, else
    depth), ``none`` dropped. None: as declared. InputError when there is no depth to declare."""
    import dataclasses
    if depth is None:
        return capture
    if depth not in DEPTH_OVERRIDES:
        raise InputError(f"--depth must be one of {', '.join(DEPTH_OVERRIDES)} (got {depth!r})")
    if depth == "none":
        return dataclasses.replace(capture, depth=None, depth_kind="metric", depth_quantity="depth")
    if capture.depth is None:
        raise InputError(f"{capture.path}: --depth {depth}, but the capture has no depth.npy or depth.png "
                         "(use --depth none, or leave --depth out to have it estimated)")
    kind = DEPTH_OVERRIDES[depth]
    quantity = capture.depth_quantity if kind == "relative" and capture.depth_kind == "relative" else "depth"
    return dataclasses.replace(capture, depth_kind=kind, depth_quantity=quantity)


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
