"""A library scaled ``factor`` times by replicas of its assets, for library-size benchmarks.

``make_scaled_library(LIB, OUT, ReplicaSettings(factor=10))`` writes a library folder
holding every asset of ``LIB`` (same rows, same data) and ``factor - 1`` replicas of
each, ids ``<asset_id>~r<k>``. A replica differs from its source asset as a near-duplicate
of a real collection would:

- **scale**: each axis stretched by a factor drawn from ``scale_range`` (record size,
  surface samples, normals by the inverse transpose; its mesh is the source mesh
  stretched the same way when loaded: ``library.json["replicas"]["scales"]``);
- **mesh noise**: surface samples moved by Gaussian noise of ``noise_frac`` × the
  asset's largest side;
- **colour**: its view descriptors' colour histogram rotated by a whole number of hue
  bins from ``hue_shift_bins`` (30° per bin): exactly the histogram of views rendered
  with hue-rotated textures, up to pixels at bin edges. Its mesh keeps the source
  textures, so render-and-compare (pose) sees the source colours.

Everything is made from the source's index arrays and stacked samples; nothing is
rendered or re-sampled, which is what makes a 50× library take a minute rather than
hours. Replicas share their source's asset folder (mesh.glb, views.npz) through a
symlink ``OUT/assets``, and their render meshes (the index's ``render-*`` arrays, stretched
on load) through symlinks to the source's. :func:`replica_of` maps an id back to its source, so
benchmarks count a replica of the right asset as the right asset.

The stacked samples keep the first ``n_samples`` (4096) samples per asset (what
:meth:`LibraryIndex.symmetry` reads); retrieval's samples come from the index.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, write_json
from scenewright.library.index import INDEX_DIR, INDEX_FORMAT, ArrayIndex
from scenewright.library.store import FORMAT, RECORD_FIELDS, Library

REPLICA_MARK = "~r"


def replica_of(asset_id: str | None) -> str | None:
    """The source asset of a replica id (``chair~r3`` → ``chair``); other ids unchanged."""
    return asset_id if asset_id is None else asset_id.split(REPLICA_MARK, 1)[0]


@dataclass(frozen=True)
class ReplicaSettings:
    factor: int = 10                          # assets in the result = factor × source assets
    seed: int = 0
    scale_range: tuple[float, float] = (0.85, 1.15)   # per-axis stretch of a replica
    noise_frac: float = 0.005                 # sample noise σ as a fraction of the largest side
    hue_shift_bins: tuple[int, ...] = (-1, 0, 1)       # colour histogram rotation, 30° per bin
    n_samples: int = 4096                     # stacked samples kept per asset


HUES, SATS_X_VALS, COLOURED = 12, 12, 144     # ClassicalFeatures.colour: (hue·3 + sat)·4 + value


def rotate_hue(features: np.ndarray, bins: int) -> np.ndarray:
    """Descriptors (..., D) of ClassicalFeatures with the colour histogram's hue rotated by ``bins``.

    A permutation of the 144 coloured bins (grey ramp and shape part untouched): norms stay 1.
    """
    if bins == 0:
        return features
    out = features.copy()
    hue_blocks = features[..., :COLOURED].reshape(features.shape[:-1] + (HUES, SATS_X_VALS))
    out[..., :COLOURED] = np.roll(hue_blocks, bins, axis=-2).reshape(features.shape[:-1] + (COLOURED,))
    return out


def _stretch(block: np.ndarray, scale: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Samples (N, 6) points + normals stretched by ``scale`` (3,), points moved by ``noise`` (N, 3)."""
    out = np.empty_like(block)
    pts = (block[:, :3] + noise) * scale
    nrm = block[:, 3:] / scale
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    out[:, :3], out[:, 3:] = pts, nrm
    return out


def make_scaled_library(source, out, settings: ReplicaSettings | None = None, progress: bool = False) -> Path:
    """Write the scaled library to ``out`` (a new folder); returns it. See the module docstring."""
    settings = settings or ReplicaSettings()
    t0 = time.perf_counter()
    src = source if isinstance(source, Library) else Library.open(source)
    idx = ArrayIndex.open(src)
    if idx is None:
        raise InputError(f"{src.folder}: no retrieval index (add it: scenewright library build -o LIB --reuse)")
    if settings.factor < 1:
        raise InputError(f"factor {settings.factor}: must be at least 1")
    A, F = len(src), settings.factor
    total = A * F
    rng = np.random.default_rng(settings.seed)
    scales = rng.uniform(*settings.scale_range, size=(F, A, 3))
    scales[0] = 1.0
    hues = rng.choice(np.asarray(settings.hue_shift_bins), size=(F, A))
    hues[0] = 0
    n_keep = min(settings.n_samples, src.all_samples.shape[1])
    out = Path(out)
    build_id = f"{time.time_ns():x}"
    names = {"samples": f"samples-{build_id}.npy", "voxels": f"voxels-{build_id}.npy"}
    records: list[dict] = []
    replica_scales: dict[str, list[float]] = {}
    with atomic_dir(out, inputs=[src.folder]) as tmp:
        os.symlink(Path(src.folder).resolve() / "assets", tmp / "assets")
        os.symlink(Path(src.folder).resolve() / "licenses", tmp / "licenses")
        (tmp / INDEX_DIR).mkdir()
        mm = lambda path, dtype, shape: np.lib.format.open_memmap(path, "w+", dtype, shape)  # noqa: E731
        samples = mm(tmp / names["samples"], np.float32, (total, n_keep, 6))
        voxels = mm(tmp / names["voxels"], bool, (total,) + src.all_voxels.shape[1:])
        P = idx.points.shape[1]
        points = mm(tmp / INDEX_DIR / "points.npy", np.float32, (total, P, 6))
        feats_src = idx.features["classical"]
        feats = mm(tmp / INDEX_DIR / "features-classical.npy", np.float32, (total,) + feats_src.shape[1:])
        angles = mm(tmp / INDEX_DIR / "view_angles.npy", np.float64, (total,) + idx.view_angles.shape[1:])
        sizes = np.zeros((total, 3))
        for k in range(F):
            rows = slice(k * A, (k + 1) * A)
            voxels[rows] = src.all_voxels
            angles[rows] = idx.view_angles
            for a, rec in enumerate(src.records):
                row = k * A + a
                size = np.array([rec.width, rec.height, rec.depth])
                if k == 0:
                    samples[row] = src.all_samples[a, :n_keep]
                    points[row] = idx.points[a]
                    feats[row] = feats_src[a]
                    records.append(dataclasses.asdict(rec))
                else:
                    sigma = settings.noise_frac * float(size.max())
                    both = np.concatenate([src.all_samples[a, :n_keep], idx.points[a]])
                    noise = rng.normal(0.0, sigma, size=(len(both), 3)).astype(np.float32)
                    stretched = _stretch(np.asarray(both, np.float64), scales[k, a], noise)
                    samples[row], points[row] = stretched[:n_keep], stretched[n_keep:]
                    feats[row] = rotate_hue(np.asarray(feats_src[a]), int(hues[k, a]))
                    rid = f"{rec.asset_id}{REPLICA_MARK}{k}"
                    size = size * scales[k, a]
                    records.append({**dataclasses.asdict(rec), "asset_id": rid, "width": size[0],
                                    "height": size[1], "depth": size[2],
                                    "content_hash": f"{rec.content_hash}{REPLICA_MARK}{k}"})
                    replica_scales[rid] = [float(s) for s in scales[k, a]]
                records[-1]["row"] = row
                sizes[row] = size
            if progress:
                print(f"replicas {k + 1}/{F}", flush=True)
        for a in (samples, voxels, points, feats, angles):
            a.flush()
        del samples, voxels, points, feats, angles
        from scenewright.library.build import write_asset_table
        write_asset_table(tmp / "index.sqlite", [tuple(r[k] for k in RECORD_FIELDS) for r in records], names)
        ids = np.array([r["asset_id"] for r in records])
        order = np.argsort(ids, kind="stable")
        categories = list(idx.info["categories"])
        code = {c: i for i, c in enumerate(categories)}
        np.save(tmp / INDEX_DIR / "ids.npy", ids)
        np.save(tmp / INDEX_DIR / "ids_sorted.npy", ids[order])
        np.save(tmp / INDEX_DIR / "sorted_rows.npy", order.astype(np.int64))
        np.save(tmp / INDEX_DIR / "category_codes.npy", np.array([code[r["category"]] for r in records], np.int32))
        np.save(tmp / INDEX_DIR / "sizes.npy", sizes)
        np.save(tmp / INDEX_DIR / "has_views.npy", np.tile(np.asarray(idx.has_views), F))
        np.save(tmp / INDEX_DIR / "point_counts.npy", np.tile(np.asarray(idx.point_counts), F))
        index_info = {**idx.info, "format": INDEX_FORMAT, "source": names["samples"], "assets": total}
        if idx.render is not None:
            # replicas draw their source's render mesh, stretched on load (as their mesh is)
            for name in ("vertices", "indices", "texels"):
                os.symlink(Path(idx.folder).resolve() / f"render-{name}.npy", tmp / INDEX_DIR / f"render-{name}.npy")
            for name in ("spans", "textures", "materials", "flags"):
                per_asset = np.asarray(idx.render[name])
                np.save(tmp / INDEX_DIR / f"render-{name}.npy", np.tile(per_asset, (F,) + (1,) * (per_asset.ndim - 1)))
        else:
            index_info.pop("render", None)
        write_json(tmp / INDEX_DIR / "index.json", index_info)
        info = dict(src.info)
        info.update({"format": FORMAT, "status": "complete",
                     "replicas": {"source": str(Path(src.folder).resolve()), "factor": F,
                                  "settings": dataclasses.asdict(settings), "scales": replica_scales,
                                  "seconds": round(time.perf_counter() - t0, 3)}})
        info.setdefault("settings", {})
        info["settings"] = {**info["settings"], "n_samples": n_keep}
        write_json(tmp / "library.json", info)
    return out
