"""MIDI training data from benchmark folders, cached to disk once.

A benchmark scene (``scenewright bench make``) is exactly one of MIDI's training pairs:
``capture/`` (rgb.png + seg.png) is the conditioning image with its instance masks and
``gt/`` holds one mesh per instance in one metric world frame. Per scene this module

1. puts the ground-truth meshes in **MIDI's normalised scene frame** (:func:`scene_frame`):
   the world's axes (Y up, as 3D-Front's rooms), the instances' union box centred at the
   origin and uniformly scaled so its largest half-extent is ``fill`` (0.95): the scene
   fits the [-1, 1]³ box MIDI decodes in, with one scale for all instances;
2. samples surface points + face normals per instance (``num_points``, seeded), the VAE
   encoder's input (B, P, 6) as the original's 3D-Front surfaces store them;
3. builds the image conditioning exactly as inference does (``preprocess.split_instances``,
   the checkpoint's processors: full-frame instance RGB on white, scene RGB, mask);
4. runs the frozen encoders once: VAE posterior moments (B, T, 2C), CLIP ``image_embeds``
   (B, 1, D1), DINOv2 tokens (B, S, D2); training then only runs the DiT.

The cache is a folder with ``meta.json`` (format, settings, fingerprints of the bench
scenes and of the checkpoint's encoder files) and one ``<scene>.safetensors`` per scene.
A cache whose fingerprints differ is rebuilt, never silently reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scenewright.errors import InputError

if TYPE_CHECKING:  # annotations only: torch is imported lazily where tensors are made
    import torch

CACHE_FORMAT = "midi-train-cache/1"


@dataclass
class DataSettings:
    """What the cached training set depends on (besides the bench and the checkpoint)."""

    num_points: int = 20480          # surface samples per instance (the original's GT count)
    fill: float = 0.95               # largest half-extent of a scene in the normalised frame
    min_pixel_fraction: float = 0.001   # the original's skip_small_object (≤ 0.1 % of the image)
    seed: int = 0                    # surface sampling and the VAE encoder's subset
    pad_image: bool = False          # the original's do_image_padding, as at inference


def scene_frame(meshes, fill: float = 0.95) -> np.ndarray:
    """(4, 4) similarity ``normalised_from_world`` for world-frame meshes of one scene.

    Keeps the world's axes (Y up), moves the centre of the meshes' union axis-aligned box
    to the origin and scales uniformly so the box's largest half-extent becomes ``fill``."""
    lo = np.min([m.bounds[0] for m in meshes], axis=0)
    hi = np.max([m.bounds[1] for m in meshes], axis=0)
    half = float(np.max(hi - lo)) / 2.0
    if not np.isfinite(half) or half <= 0:
        raise ValueError("scene meshes have no extent")
    s = fill / half
    out = np.eye(4)
    out[:3, :3] *= s
    out[:3, 3] = -s * (lo + hi) / 2.0
    return out


def sample_surface(mesh, n: int, seed: int) -> np.ndarray:
    """(n, 6) float32: area-weighted surface points and their face normals (unit)."""
    import trimesh
    pts, face = trimesh.sample.sample_surface(mesh, n, seed=seed)
    normals = np.asarray(mesh.face_normals)[face]
    return np.concatenate([pts, normals], axis=1).astype(np.float32)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_fingerprint(weights: Path) -> dict:
    """sha256 of the files the cache depends on: VAE, both image encoders, both processors,
    and the transformer config (the token count T is its ``width``)."""
    from scenewright.methods.midi.weights import weight_file
    files = {"vae": weight_file(weights / "vae"),
             "vae_config": weights / "vae" / "config.json",
             "transformer_config": weights / "transformer" / "config.json",
             "image_encoder_1": weight_file(weights / "image_encoder_1", "model"),
             "image_encoder_2": weight_file(weights / "image_encoder_2", "model"),
             "feature_extractor_1": weights / "feature_extractor_1" / "preprocessor_config.json",
             "feature_extractor_2": weights / "feature_extractor_2" / "preprocessor_config.json"}
    return {k: _sha256(p) for k, p in files.items()}


def bench_fingerprint(bench: Path, scenes: list[str]) -> str:
    """One hash over every scene's seg.png, rgb.png and gt/ files (contents)."""
    h = hashlib.sha256()
    for name in scenes:
        for rel in ("capture/rgb.png", "capture/seg.png", "gt/scene.json", "gt/scene.glb"):
            p = bench / name / rel
            h.update(rel.encode())
            h.update(_sha256(p).encode() if p.is_file() else b"missing")
    return h.hexdigest()


def read_bench_scenes(bench: Path) -> list[str]:
    from scenewright.evaluate.evaluator import read_manifest
    if not bench.is_dir():
        raise InputError(f"{bench}: benchmark folder not found (make one with `scenewright bench make`)")
    scenes = read_manifest(bench)
    if not scenes:
        raise InputError(f"{bench / 'manifest.json'}: lists no scenes")
    for name in scenes:
        for rel in ("capture/rgb.png", "capture/seg.png", "gt/scene.json"):
            if not (bench / name / rel).is_file():
                raise InputError(f"{bench / name / rel}: missing; a training scene needs its capture "
                                 "(rgb.png + seg.png) and ground truth (gt/)")
    return scenes


@dataclass
class SceneSample:
    """One cached scene: n instances (ascending seg ids), T tokens, C latent channels."""

    name: str
    ids: list                  # capture instance ids kept, ascending
    frame: np.ndarray          # (4, 4) normalised_from_world
    surface: "torch.Tensor"    # (n, P, 6) xyz + normal in the normalised frame
    moments: "torch.Tensor"    # (n, T, 2C) VAE posterior mean ‖ logvar
    embeds_1: "torch.Tensor"   # (n, 1, D1) CLIP image_embeds
    embeds_2: "torch.Tensor"   # (n, S, D2) DINOv2 last_hidden_state
    pixel_values_1: "torch.Tensor"   # (n, 3, h, w) CLIP input
    pixel_values_2: "torch.Tensor"   # (n, 7, h, w) DINOv2 input

    @property
    def n(self) -> int:
        return len(self.ids)


def scene_instances(bench: Path, name: str, settings: DataSettings):
    """(capture, kept ids, world-frame meshes) of one scene: the ids in both seg.png and gt/
    with a mesh, above the small-object threshold, ascending (the inference order)."""
    from scenewright.capture import load_capture
    from scenewright.scene import read_scene
    capture = load_capture(bench / name / "capture", require_seg=True)
    gt = read_scene(bench / name / "gt")
    by_id = {int(i.id): i for i in gt.instances if i.mesh is not None and len(i.mesh.faces)}
    min_pixels = settings.min_pixel_fraction * capture.width * capture.height
    ids = [i for i in capture.instance_ids
           if i in by_id and np.count_nonzero(capture.seg == i) > min_pixels]
    return capture, ids, [by_id[i].world_mesh() for i in ids]


class _Encoders:
    """The frozen parts of a checkpoint the cache needs (loaded once)."""

    def __init__(self, weights: Path):
        import torch
        from scenewright.methods.midi.preprocess import load_processor
        from scenewright.methods.midi.weights import (check_folder, load_image_encoder, load_transformer,
                                                      load_vae)
        check_folder(weights)
        self.vae = load_vae(weights, torch.float32)
        self.enc1 = load_image_encoder(weights, 1, torch.float32)
        self.enc2 = load_image_encoder(weights, 2, torch.float32)
        self.fe1 = load_processor(weights / "feature_extractor_1", "clip")
        self.fe2 = load_processor(weights / "feature_extractor_2", "dinov2")
        self.tokens = load_transformer(weights).config.width     # R11: width doubles as T


def encode_scene(bench: Path, name: str, enc: _Encoders, settings: DataSettings) -> dict | None:
    """The cached tensors of one scene (None when it has no usable instance)."""
    import torch
    from scenewright.methods.midi.preprocess import (clip_pixel_values, dinov2_pixel_values, pad_to_square,
                                                     split_instances)
    capture, ids, meshes = scene_instances(bench, name, settings)
    if not ids:
        return None
    frame = scene_frame(meshes, settings.fill)
    surface = np.stack([sample_surface(m.copy().apply_transform(frame), settings.num_points,
                                       settings.seed + k) for k, m in enumerate(meshes)])
    rgb, seg = capture.rgb, capture.seg
    if settings.pad_image:
        rgb, seg = pad_to_square(rgb, seg)
    keep = np.isin(seg, ids)
    inputs = split_instances(rgb, np.where(keep, seg, 0))        # ascending ids = ``ids``
    with torch.no_grad():
        pv1 = clip_pixel_values(enc.fe1, inputs)
        pv2 = dinov2_pixel_values(enc.fe2, inputs)
        e1 = enc.enc1(pixel_values=pv1).image_embeds[:, None]
        e2 = enc.enc2(pixel_values=pv2).last_hidden_state
        surf = torch.from_numpy(surface)
        moments = enc.vae.encode(surf, num_tokens=enc.tokens, seed=settings.seed).moments
    return {"tensors": {"surface": surf, "moments": moments.contiguous(), "embeds_1": e1.contiguous(),
                        "embeds_2": e2.contiguous(), "pixel_values_1": pv1.contiguous(),
                        "pixel_values_2": pv2.contiguous(),
                        "frame": torch.from_numpy(frame)},
            "ids": [int(i) for i in ids]}


def build_cache(bench, weights, cache, settings: DataSettings | None = None,
                progress: bool = True) -> dict:
    """Make (or reuse) the cache folder ``cache`` for ``bench`` and checkpoint ``weights``.

    Returns its meta (``scenes``: the cached scene names with their instance counts).
    Reused only when the format, settings and both fingerprints match."""
    from safetensors.torch import save_file
    from scenewright.fileio import atomic_file, dumps_json
    bench, weights, cache = Path(bench), Path(weights), Path(cache)
    settings = settings or DataSettings()
    scenes = read_bench_scenes(bench)
    want = {"format": CACHE_FORMAT, "settings": dataclasses.asdict(settings),
            "bench": str(bench.resolve()), "bench_sha256": bench_fingerprint(bench, scenes),
            "checkpoint_sha256": checkpoint_fingerprint(weights)}
    meta_path = cache / "meta.json"
    if meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            old = {}
        if all(old.get(k) == v for k, v in want.items() if k != "bench") and \
                all((cache / f"{s['name']}.safetensors").is_file() for s in old.get("scenes", [])):
            return old
    cache.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)           # a half-rebuilt cache is never taken as valid
    enc = _Encoders(weights)
    done, skipped = [], []
    from scenewright.methods.midi.train.progress import bar
    with bar(progress) as prog:
        task = prog.add_task("caching training scenes", total=len(scenes))
        for name in scenes:
            item = encode_scene(bench, name, enc, settings)
            if item is None:
                skipped.append(name)
            else:
                with atomic_file(cache / f"{name}.safetensors") as tmp:
                    save_file(item["tensors"], str(tmp), metadata={"ids": json.dumps(item["ids"])})
                done.append({"name": name, "n_instances": len(item["ids"])})
            prog.update(task, advance=1)
    if not done:
        raise InputError(f"{bench}: no scene has an instance with a ground-truth mesh and a mask "
                         f"above {settings.min_pixel_fraction:.1%} of the image")
    meta = dict(want, scenes=done, skipped=skipped,
                tokens=int(enc.tokens), latent_channels=int(enc.vae.config.latent_channels))
    with atomic_file(meta_path) as tmp:
        tmp.write_text(dumps_json(meta) + "\n")
    return meta


def load_scene(cache, name: str) -> SceneSample:
    """One cached scene (float32 CPU tensors)."""
    from safetensors import safe_open
    path = Path(cache) / f"{name}.safetensors"
    with safe_open(str(path), framework="pt") as f:
        ids = json.loads(f.metadata()["ids"])
        t = {k: f.get_tensor(k) for k in f.keys()}
    return SceneSample(name=name, ids=ids, frame=t["frame"].numpy(), surface=t["surface"],
                       moments=t["moments"], embeds_1=t["embeds_1"], embeds_2=t["embeds_2"],
                       pixel_values_1=t["pixel_values_1"], pixel_values_2=t["pixel_values_2"])


class SceneCache:
    """The cached scenes of a meta, read from disk on demand; the ``keep`` most recently used
    stay in memory (a scene of 7 instances at full size is about 30 MB, so a large training
    set cannot all stay)."""

    def __init__(self, cache, meta: dict, keep: int = 64):
        from collections import OrderedDict
        self.folder = Path(cache)
        self.names = [s["name"] for s in meta["scenes"]]
        self.max_instances = max(s["n_instances"] for s in meta["scenes"])
        self.keep = keep
        self._mem: "OrderedDict[str, SceneSample]" = OrderedDict()

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> SceneSample:
        name = self.names[i]
        if name in self._mem:
            self._mem.move_to_end(name)
        else:
            self._mem[name] = load_scene(self.folder, name)
            while len(self._mem) > self.keep:
                self._mem.popitem(last=False)
        return self._mem[name]


def default_cache_dir(out) -> Path:
    return Path(os.fspath(out)) / "cache"
