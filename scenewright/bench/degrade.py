"""Benchmark input variants: each capture's depth rewritten the way real depth sources fail,
and its labels removed the way a photo comes without them.

``degrade_bench(bench, out, kind, seed, labels=...)`` copies a benchmark folder and rewrites only
each capture's depth and/or ``instances.json`` (ground truth, images and masks are kept byte for
byte). Depth ``kind``:

- ``none``     the depth files are removed;
- ``mono``     a metric estimate (``depth.json`` kind ``estimated-metric``)::

                   d_mono = g · (1 + 0.08·w(u, v)) · blur_σ(d) · (1 + 0.01·n)

               with ``g`` log-uniform in [0.8, 1.25] (one per scene), ``w`` a smooth field
               with max |w| = 1 (a 3×3 grid of U(-1, 1) values, bicubically upsampled:
               one or two gentle bumps across the image), ``blur_σ`` a Gaussian of
               σ = 2 px over the whole map (so depth bleeds ~2σ px across object edges;
               flat surfaces are unchanged), ``n`` per-pixel N(0, 1);
- ``relative`` affine-invariant disparity (kind ``relative``, quantity ``disparity``)::

                   q = a · m / d_warped + b

               with ``d_warped`` the mono map without the global scale, ``m`` its median
               (so q is dimensionless, about ``a`` at the median depth), ``a`` log-uniform
               in [0.5, 2] and ``b`` uniform in [-0.5, 1] × ``a·m/max(d_warped)`` (keeps
               every q > 0);
- ``None``     the depth is kept as it is.

``labels="none"`` writes every instance of ``instances.json`` with ``"label": null`` (an
unlabelled instance: the method must find its category from the picture and the geometry);
``"keep"`` leaves the file alone.

Capture ``i`` draws from ``numpy.random.default_rng([seed, i])``. The drawn parameters
(``g``; ``a``, ``b``) go to ``out/manifest.json`` under ``depth_variant`` (and a label variant
under ``label_variant``) — never into the capture, so a method cannot read them. Unknown
pixels (0/NaN) stay unknown.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, dumps_json

DEGRADE_KINDS = ("none", "mono", "relative")
LABEL_KINDS = ("keep", "none")


@dataclass
class DepthErrorModel:
    """The documented error of a monocular depth estimate (see the module docstring)."""

    scale_range: tuple[float, float] = (0.8, 1.25)     # global metric scale g, log-uniform
    warp: float = 0.08                                  # smooth multiplicative warp amplitude
    warp_grid: int = 3                                  # control points per side of the warp
    blur_px: float = 2.0                                # Gaussian σ: bleeding across edges
    noise: float = 0.01                                 # per-pixel multiplicative noise σ
    relative_scale_range: tuple[float, float] = (0.5, 2.0)
    relative_shift_range: tuple[float, float] = (-0.5, 1.0)   # × a·m / max depth


def smooth_warp(shape: tuple[int, int], rng: np.random.Generator, grid: int = 3) -> np.ndarray:
    """(H, W) smooth field with max |w| = 1: a ``grid``² U(-1, 1) grid, bicubically upsampled."""
    from scipy import ndimage
    h, w = shape
    coarse = rng.uniform(-1.0, 1.0, (grid, grid))
    field = ndimage.zoom(coarse, (h / grid, w / grid), order=3, mode="nearest")[:h, :w]
    if field.shape != (h, w):      # zoom rounds sizes: pad the last row/column if short
        field = np.pad(field, ((0, h - field.shape[0]), (0, w - field.shape[1])), mode="edge")
    return field / max(float(np.abs(field).max()), 1e-9)


def bleed(depth: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of a depth map with holes (NaN), normalised by the valid weight."""
    from scipy import ndimage
    valid = np.isfinite(depth)
    filled = np.where(valid, depth, 0.0).astype(np.float64)
    num = ndimage.gaussian_filter(filled, sigma_px, mode="nearest")
    den = ndimage.gaussian_filter(valid.astype(np.float64), sigma_px, mode="nearest")
    out = num / np.maximum(den, 1e-9)
    out[~valid] = np.nan
    return out


def degrade_depth(depth: np.ndarray, kind: str, rng: np.random.Generator,
                  model: DepthErrorModel | None = None) -> tuple[np.ndarray | None, dict]:
    """(H, W) metric depth (NaN = unknown) → (degraded map or None, drawn parameters).

    ``mono``: metres (off by the drawn scale); ``relative``: dimensionless disparity.
    """
    m = model or DepthErrorModel()
    if kind == "none":
        return None, {}
    if kind not in ("mono", "relative"):
        raise InputError(f"depth variant must be one of {', '.join(DEGRADE_KINDS)} (got {kind!r})")
    valid = np.isfinite(depth) & (depth > 0)
    d = np.where(valid, depth, np.nan).astype(np.float64)
    warp = 1.0 + m.warp * smooth_warp(d.shape, rng, m.warp_grid)
    noise = 1.0 + m.noise * rng.standard_normal(d.shape)
    shaped = warp * bleed(d, m.blur_px) * noise
    if kind == "mono":
        lo, hi = np.log(m.scale_range)
        g = float(np.exp(rng.uniform(lo, hi)))
        return (g * shaped).astype(np.float32), {"scale": g}
    med, far = float(np.nanmedian(shaped)), float(np.nanmax(shaped))
    lo, hi = np.log(m.relative_scale_range)
    a = float(np.exp(rng.uniform(lo, hi)))
    b = float(rng.uniform(*m.relative_shift_range) * a * med / far)
    q = a * med / shaped + b
    return q.astype(np.float32), {"scale": a, "shift": b, "median_depth_m": med}


def _read_metric_depth(capture_dir: Path) -> np.ndarray | None:
    from scenewright.capture import load_capture
    cap = load_capture(capture_dir)
    if cap.depth_kind != "metric":
        raise InputError(f"{capture_dir / 'depth.json'}: already degraded ({cap.depth_kind}); "
                         "degrade the original benchmark")
    return cap.depth


def remove_labels(instances_path: Path) -> None:
    """Rewrite ``instances.json`` with every label null, ids and any other keys kept."""
    try:
        doc = json.loads(instances_path.read_text())
        entries = doc["instances"]
        for entry in entries:
            entry["label"] = None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{instances_path}: cannot remove its labels ({exc})") from None
    instances_path.write_text(dumps_json(doc) + "\n")


def degrade_bench(bench, out, kind: str | None, seed: int = 0, overwrite: bool = False,
                  model: DepthErrorModel | None = None, progress: bool = False, labels: str = "keep") -> dict:
    """Copy benchmark ``bench`` to ``out`` with every capture's depth degraded (``kind``; None keeps
    it) and, with ``labels="none"``, its labels removed. Returns the manifest."""
    bench, out = Path(bench), Path(out)
    if kind is not None and kind not in DEGRADE_KINDS:
        raise InputError(f"--depth must be one of {', '.join(DEGRADE_KINDS)} (got {kind!r})")
    if labels not in LABEL_KINDS:
        raise InputError(f"--labels must be one of {', '.join(LABEL_KINDS)} (got {labels!r})")
    if kind is None and labels == "keep":
        raise InputError(f"{bench}: nothing to degrade (give --depth and/or --labels none)")
    man_path = bench / "manifest.json"
    if not man_path.is_file():
        raise InputError(f"{man_path}: not a benchmark folder (no manifest.json)")
    manifest = json.loads(man_path.read_text())
    if kind is not None and "depth_variant" in manifest:
        raise InputError(f"{man_path}: already a depth variant ({manifest['depth_variant']['kind']}); "
                         "degrade the original benchmark")
    if labels == "none" and "label_variant" in manifest:
        raise InputError(f"{man_path}: its labels are already removed; degrade the original benchmark")
    m = model or DepthErrorModel()
    names = list(manifest.get("scenes", []))
    params: dict[str, dict] = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for i, name in enumerate(names):
            src = bench / name
            if not (src / "capture").is_dir():
                raise InputError(f"{src / 'capture'}: missing (benchmark scene {name})")
            shutil.copytree(src, tmp / name)
            cap_dir = tmp / name / "capture"
            if labels == "none":
                remove_labels(cap_dir / "instances.json")
            if kind is None:
                if progress:
                    print(f"  {name}: labels removed", flush=True)
                continue
            depth = _read_metric_depth(cap_dir)
            for f in ("depth.npy", "depth.png", "depth.json"):
                (cap_dir / f).unlink(missing_ok=True)
            if depth is None:
                raise InputError(f"{src / 'capture'}: has no depth to degrade")
            rng = np.random.default_rng([seed, i])
            new, drawn = degrade_depth(depth, kind, rng, m)
            params[name] = drawn
            if new is not None:
                np.save(cap_dir / "depth.npy", np.nan_to_num(new, nan=0.0).astype(np.float32))
                desc = ({"kind": "estimated-metric", "quantity": "depth"} if kind == "mono"
                        else {"kind": "relative", "quantity": "disparity"})
                (cap_dir / "depth.json").write_text(dumps_json(desc) + "\n")
            if progress:
                print(f"  {name}: {kind} {', '.join(f'{k}={v:.3f}' for k, v in drawn.items())}"
                      f"{', labels removed' if labels == 'none' else ''}", flush=True)
        for extra in bench.iterdir():       # anything else at the top (READMEs...) comes along
            if extra.name not in names and extra.name != "manifest.json" and not (tmp / extra.name).exists():
                (shutil.copytree if extra.is_dir() else shutil.copy2)(extra, tmp / extra.name)
        if kind is not None:
            manifest["depth_variant"] = {"kind": kind, "seed": seed, "from": str(bench), "model": asdict(m),
                                         "per_scene": params}
        if labels == "none":
            manifest["label_variant"] = {"kind": "none", "from": str(bench)}
        (tmp / "manifest.json").write_text(dumps_json(manifest) + "\n")
    return manifest
