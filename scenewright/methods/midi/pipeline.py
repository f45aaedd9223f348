"""MIDI inference: capture (RGB + instance masks) → one generated mesh per instance.

``MIDIPipeline.from_pretrained(folder)`` loads a checkpoint (the hub's or the ``midi-tiny``
fixture); calling it runs preprocessing, both image encoders, the guided rectified-flow
denoising of all N instances jointly (MI attention in blocks 8–12) and two-pass grid
decoding + marching cubes (``extract.py``). ``MIDIMethod`` is the registered method
(``scenewright reconstruct --method midi --weights DIR``).

Fast paths, each checked against a straightforward reference by the tests:
- classifier-free guidance as ONE batched DiT pass over ``[uncond ×N, cond ×N]``;
- the cross-attention K/V of the (fixed) image conditions computed once, reused at every step;
- fused SDPA attention and a fused QKV matmul;
- the VAE decoder's key/value tokens computed once per instance for all grid queries.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from scenewright.errors import InputError
from scenewright.methods.base import Method
from scenewright.methods.midi import extract
from scenewright.methods.midi.attention import attention_backend
from scenewright.methods.midi.finish import finish_scene
from scenewright.methods.midi.preprocess import (InstanceInputs, clip_pixel_values, dinov2_pixel_values,
                                                 instance_ids_from_seg_image, pad_to_square, split_instances)
from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
from scenewright.methods.midi.transformer import DEFAULT_MI_BLOCKS
from scenewright.methods.midi.weights import HOW_TO_GET, load_components, parse_dtype
from scenewright.progress import make_progress
from scenewright.scene import Camera, Instance, Scene

logger = logging.getLogger(__name__)
METHOD_VERSION = "midi-b6ec9f6-reimpl/1"


@dataclass
class MIDISettings:
    """Everything that changes the result; recorded in ``scene.json`` (``method.settings``)."""

    steps: int = 50                       # denoising steps (rectified flow)
    guidance: float = 7.0                 # classifier-free guidance scale
    seed: int = 42                        # initial noise
    octree_depth: int = 8                 # decoding grid of 2^depth cells per side (mesh detail)
    smooth: bool = True                   # smooth the decoded field before marching cubes
    extraction: str = "hierarchical"      # grid decoding: "dense" (the original's) or "hierarchical"
    progressive: bool = True              # second decode pass inside the padded inside box
    device: str = "cpu"                   # cpu | cuda
    dtype: str = "float32"                # float32 | bfloat16 | float16
    pad_image: bool = False               # pad to a square first (the original's do_image_padding)
    max_instances: int = 16               # more instances are refused (all are denoised jointly)
    mi_blocks: tuple = DEFAULT_MI_BLOCKS  # transformer blocks with multi-instance attention
    lora: str | None = None               # LoRA adapter (file or folder) merged into the DiT
    register: str = "off"                 # off | auto | depth | masks: into the camera frame (register.py)
    texture: str = "none"                 # none | photo: vertex colours from the input image (texture.py)
    plausibility: bool = False            # registered scenes: rest on supports, separate overlaps
    size_library: str | None = None       # asset library whose category sizes give the scale without depth
                                          # (None: the run's --library when it holds one)

    def validate(self) -> None:
        if self.steps < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}")
        if not np.isfinite(self.guidance):
            raise InputError(f"guidance must be finite, got {self.guidance}")
        if not 1 <= self.octree_depth <= 10:
            raise InputError(f"octree_depth must be in 1..10, got {self.octree_depth}")
        if self.extraction not in ("dense", "hierarchical"):
            raise InputError(f"extraction must be dense or hierarchical, got {self.extraction!r}")
        if self.max_instances < 1:
            raise InputError(f"max_instances must be >= 1, got {self.max_instances}")
        parse_dtype(self.dtype)
        if self.lora is not None:
            from scenewright.methods.midi.train.lora import adapter_path_ok
            adapter_path_ok(self.lora)
        from scenewright.methods.midi.finish import check_finish_settings
        check_finish_settings(self)
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError("device cuda: no CUDA device is available on this machine (use device=cpu)")


@dataclass
class FastPaths:
    """Which fast paths the denoising loop takes (all on by default; all give the same numbers).

    ``batched_cfg``: one DiT pass over [uncond ×N, cond ×N] instead of two passes.
    ``cache_cross_kv``: project the fixed image conditions' cross-attention K/V once per run.
    ``skip_zero_cond``: do not compute the uncond half's cross-attentions (zero conditions
    give K = V = 0, so the output is exactly the ``to_out`` bias).
    ``sdpa``: torch's fused attention kernel and one fused QKV matmul, else explicit math.
    """

    batched_cfg: bool = True
    cache_cross_kv: bool = True
    skip_zero_cond: bool = True
    sdpa: bool = True

    @classmethod
    def none(cls) -> "FastPaths":
        return cls(False, False, False, False)


@dataclass
class DenoiseTrace:
    """Per-step record of the denoising loop (all float32 CPU tensors)."""

    latents_init: torch.Tensor                      # (N, T, C)
    timesteps: torch.Tensor                         # (steps,)
    noise_pred: list = field(default_factory=list)  # per step (2N, T, C), [uncond ×N, cond ×N]
    velocity: list = field(default_factory=list)    # per step (N, T, C), guided
    latents: list = field(default_factory=list)     # per step (N, T, C), after the step


class DecodeBar:
    """One bar for decoding every instance's mesh: a step per decode pass; the description
    says which instance and pass run and how many field queries it made so far."""

    def __init__(self, progress, instances: int, progressive: bool = True):
        self.progress = progress
        self.task = progress.add_task(f"decoding {instances} meshes", total=instances * (2 if progressive else 1))

    def pass_reporter(self, description: str):
        """``f(done, total)`` for :func:`extract.decode_grid`: shows the queries of this pass."""
        self.progress.update(self.task, description=f"decoding {description}")
        return lambda done, total: self.progress.update(
            self.task, description=f"decoding {description}: {done:,} field queries")

    def pass_done(self) -> None:
        self.progress.advance(self.task)


@dataclass
class InstanceDecode:
    """One instance's decoding: first-pass grid, second-pass box and grid, mesh."""

    first: Any                    # extract.GridResult over [-1.005, 1.005]³
    bbox_min: np.ndarray          # (3,) second-pass box
    bbox_max: np.ndarray
    second: Any | None            # extract.GridResult in the box (None without progressive)
    field_for_mesh: np.ndarray    # (R, R, R) after optional smoothing
    mesh: Any                     # trimesh.Trimesh, possibly empty


@dataclass
class MIDIResult:
    inputs: InstanceInputs
    latents: torch.Tensor                     # (N, T, C) final latents
    trace: DenoiseTrace
    decodes: list[InstanceDecode]
    timings_s: dict
    image_embeds_1: torch.Tensor              # (N, 1, D1)
    image_embeds_2: torch.Tensor              # (N, S, D2)

    @property
    def meshes(self) -> list:
        return [d.mesh for d in self.decodes]


class MIDIPipeline:
    """The seven components and the inference procedure of the original ``MIDIPipeline``."""

    def __init__(self, components, device: str = "cpu", dtype: str | torch.dtype = "float32"):
        self.c = components
        self.device = torch.device(device)
        self.dtype = parse_dtype(dtype)

    @classmethod
    def from_pretrained(cls, folder, device: str = "cpu", dtype: str = "float32",
                        lora=None) -> "MIDIPipeline":
        """``lora``: a LoRA adapter (``scenewright train midi``'s ``OUT/lora``) merged into the DiT."""
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("device cuda: no CUDA device is available (use cpu)")
        components = load_components(folder, dtype=dtype, device=device)
        if lora is not None:
            from scenewright.methods.midi.train.lora import merge_lora_file
            merge_lora_file(components.transformer, lora)
        return cls(components, device, dtype)

    @property
    def transformer(self):
        return self.c.transformer

    @property
    def vae(self):
        return self.c.vae

    # -- conditions ------------------------------------------------------------------
    @torch.no_grad()
    def encode_images(self, inputs: InstanceInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-instance CLIP ``image_embeds`` (N, 1, D1) and DINOv2 tokens (N, S, D2)."""
        pv1 = clip_pixel_values(self.c.feature_extractor_1, inputs).to(self.device, self.dtype)
        pv2 = dinov2_pixel_values(self.c.feature_extractor_2, inputs).to(self.device, self.dtype)
        e1 = self.c.image_encoder_1(pixel_values=pv1).image_embeds[:, None]
        e2 = self.c.image_encoder_2(pixel_values=pv2).last_hidden_state
        return e1, e2

    def initial_latents(self, n: int, seed: int) -> torch.Tensor:
        """R11: one CPU generator draws all N noises, (N, width, in_channels), float32."""
        cfg = self.transformer.config
        g = torch.Generator("cpu").manual_seed(int(seed))
        return torch.randn((n, cfg.width, cfg.in_channels), generator=g, dtype=torch.float32)

    # -- denoising -------------------------------------------------------------------
    @torch.no_grad()
    def denoise(self, e1: torch.Tensor, e2: torch.Tensor, steps: int = 50, guidance: float = 7.0,
                seed: int = 42, latents: torch.Tensor | None = None,
                mi_blocks=DEFAULT_MI_BLOCKS, fast: "bool | FastPaths" = True, keep_trace: bool = True,
                on_step: Callable[[int], None] | None = None) -> tuple[torch.Tensor, DenoiseTrace]:
        """Guided rectified-flow sampling of N instances jointly.

        e1 (N, 1, D1), e2 (N, S, D2) conditional embeddings; negatives are zeros (R5).
        ``fast``: True = every fast path of :class:`FastPaths`; False = the straightforward
        reference (two separate passes per step, conditions re-projected every step,
        explicit-math attention); or a ``FastPaths`` to pick. All give the same numbers.
        Returns the final latents (N, T, C) and the per-step trace.
        """
        opts = FastPaths() if fast is True else FastPaths.none() if fast is False else fast
        n = e1.shape[0]
        tr = self.transformer
        sched = RectifiedFlowScheduler(dataclasses.replace(self.c.scheduler.config))
        sched.set_timesteps(steps)
        x0 = self.initial_latents(n, seed) if latents is None else latents.float().cpu()
        trace = DenoiseTrace(latents_init=x0.clone(), timesteps=sched.timesteps.clone())
        x = x0.to(self.device, self.dtype)
        e1, e2 = e1.to(self.device, self.dtype), e2.to(self.device, self.dtype)
        z1, z2 = torch.zeros_like(e1), torch.zeros_like(e2)
        skip = opts.skip_zero_cond
        with attention_backend("sdpa" if opts.sdpa else "math"):
            # One entry per DiT pass: (e1, e2, cross_kv, zero_cond_rows, batch). With skip, the
            # zero half needs no conditions at all: its cross-attention output is the to_out bias.
            if opts.batched_cfg:
                c1, c2 = (e1, e2) if skip else (torch.cat([z1, e1]), torch.cat([z2, e2]))
                # The image conditions are fixed across steps: project their K/V once.
                kv = tr.precompute_cross_kv(c1, c2) if opts.cache_cross_kv else None
                calls = [(c1, c2, kv, n if skip else 0, 2 * n)]
            else:
                kv_u = None if skip or not opts.cache_cross_kv else tr.precompute_cross_kv(z1, z2)
                kv_c = tr.precompute_cross_kv(e1, e2) if opts.cache_cross_kv else None
                calls = [(None if skip else z1, None if skip else z2, kv_u, n if skip else 0, n),
                         (e1, e2, kv_c, 0, n)]
            for i, t in enumerate(sched.timesteps):
                tt = t.to(self.device)
                outs = []
                for c1, c2, kv, zero_rows, b in calls:
                    xin = torch.cat([x, x]) if b == 2 * n else x
                    outs.append(tr(xin, tt.expand(b), None if kv is not None else c1,
                                   None if kv is not None else c2, num_instances=n,
                                   mi_blocks=mi_blocks, cross_kv=kv, zero_cond_rows=zero_rows))
                pred = torch.cat(outs)
                pu, pc = pred.chunk(2)
                v = pu + guidance * (pc - pu)
                x = sched.step(v, t, x, step_index=i)
                if keep_trace:
                    trace.noise_pred.append(pred.float().cpu())
                    trace.velocity.append(v.float().cpu())
                    trace.latents.append(x.float().cpu())
                if on_step is not None:
                    on_step(i + 1)
        return x, trace

    # -- decoding --------------------------------------------------------------------
    @torch.no_grad()
    def decode_instance(self, latents_one: torch.Tensor, octree_depth: int = 8,
                        extraction: str = "hierarchical", progressive: bool = True,
                        smooth: bool = True, fallback_box: tuple | None = None,
                        progress=None, label: str = "") -> InstanceDecode:
        """One instance's latents (T, C) → fields and mesh (the original's decode + meshing).

        ``progress``: None, a :class:`DecodeBar` (shared by the instances) or a rich Progress
        (a bar for this instance is added).
        ``fallback_box``: the box used when no grid point is inside (the original reuses
        its loop variable: the default box for the first instance, else the previous one's)."""
        query = self.vae.query_fn(latents_one.to(self.device, self.dtype))

        bar = progress if isinstance(progress, DecodeBar) or progress is None else DecodeBar(progress, 1, progressive)

        def reporter(description: str):
            return None if bar is None else bar.pass_reporter(f"{label}{description}")

        first = extract.decode_grid(query, extract.DEFAULT_BBOX_MIN, extract.DEFAULT_BBOX_MAX,
                                    octree_depth, method=extraction, progress=reporter("pass 1"))
        if bar is not None:
            bar.pass_done()
        if progressive:
            lo, hi = extract.progressive_bbox(first.values, first.axes, fallback=fallback_box)
            second = extract.decode_grid(query, lo, hi, octree_depth, method=extraction,
                                         progress=reporter("pass 2"))
            if bar is not None:
                bar.pass_done()
            values = second.values
        else:
            lo, hi, second, values = extract.DEFAULT_BBOX_MIN, extract.DEFAULT_BBOX_MAX, None, first.values
        if smooth:
            values = extract.smooth_grid(values)
        mesh = extract.grid_to_mesh(values, lo, hi, octree_depth)
        return InstanceDecode(first, np.asarray(lo), np.asarray(hi), second, values, mesh)

    # -- everything ------------------------------------------------------------------
    def __call__(self, capture_or_images, steps: int = 50, guidance: float = 7.0, seed: int = 42,
                 octree_depth: int = 8, extraction: str = "hierarchical", smooth: bool = True,
                 progressive: bool = True, pad_image: bool = False, max_instances: int | None = None,
                 latents: torch.Tensor | None = None, mi_blocks=DEFAULT_MI_BLOCKS,
                 show_progress: bool = True) -> MIDIResult:
        """Run MIDI on a ``Capture``, an ``InstanceInputs``, an ``(rgb (H,W,3), seg (H,W))`` array
        pair or an ``(rgb.png, seg.png)`` path pair (read as the original CLI reads them).

        Returns a :class:`MIDIResult`: final latents (N, T, C), the per-step trace, and per
        instance the decoded grids, second-pass box and mesh (``result.meshes``)."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        inputs = self._inputs(capture_or_images, pad_image)
        n = len(inputs.ids)
        if max_instances is not None and n > max_instances:
            raise InputError(f"{n} instances in the segmentation, more than max_instances {max_instances}: "
                             "MIDI denoises all instances jointly (memory grows with N); merge or drop "
                             "instances, or raise the limit")
        timings["preprocess"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        e1, e2 = self.encode_images(inputs)
        timings["encode"] = time.perf_counter() - t0
        # Two bars, each finishing when its stage does (so its elapsed time stops): the
        # denoising steps, with the time left; the decode passes of all instances.
        with make_progress(show_progress, "midi", eta=True) as prog:
            task = prog.add_task(f"denoising {n} instances", total=steps)
            t0 = time.perf_counter()
            final, trace = self.denoise(e1, e2, steps, guidance, seed, latents, mi_blocks,
                                        on_step=lambda k: prog.update(task, completed=k))
            timings["denoise"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            decodes = []
            box = (extract.DEFAULT_BBOX_MIN, extract.DEFAULT_BBOX_MAX)
            bar = DecodeBar(prog, n, progressive)
            for i in range(n):
                d = self.decode_instance(final[i], octree_depth, extraction, progressive, smooth,
                                         fallback_box=box, progress=bar,
                                         label=f"instance {inputs.ids[i]} ({i + 1}/{n}) ")
                box = (d.bbox_min, d.bbox_max)
                decodes.append(d)
            timings["decode"] = time.perf_counter() - t0
        return MIDIResult(inputs, final.float().cpu(), trace, decodes, timings,
                          e1.float().cpu(), e2.float().cpu())

    @staticmethod
    def _inputs(obj, pad_image: bool) -> InstanceInputs:
        if isinstance(obj, InstanceInputs):
            if pad_image:
                raise InputError("pad_image needs the scene image and segmentation, not split instances")
            return obj
        if hasattr(obj, "rgb") and hasattr(obj, "seg"):        # a scenewright Capture
            if obj.seg is None:
                raise InputError(f"{getattr(obj, 'path', 'capture')}: no seg.png; MIDI needs instance masks")
            rgb, seg = obj.rgb, obj.seg
        else:
            try:
                rgb, seg = obj
            except (TypeError, ValueError):
                raise InputError("MIDI input must be a Capture, InstanceInputs or an (rgb, seg) pair") from None
            if isinstance(rgb, (str, os.PathLike)) and isinstance(seg, (str, os.PathLike)):
                # Image files: the original CLI's rules (seg read as grey levels, R10).
                try:
                    rgb = np.asarray(Image.open(rgb).convert("RGB"), np.uint8)
                    seg, _ = instance_ids_from_seg_image(Image.open(seg))
                except OSError as exc:
                    raise InputError(f"cannot read image ({exc})") from None
            rgb, seg = np.asarray(rgb, np.uint8), np.asarray(seg)
        if pad_image:
            rgb, seg = pad_to_square(rgb, seg)
        return split_instances(rgb, seg)


# -- the registered method ----------------------------------------------------------------
def build_scene(capture, result: MIDIResult, settings: MIDISettings, timings: dict, warnings: list[str]):
    """A ``Scene`` with one ``Instance`` per capture instance (meshes in MIDI's shared frame)."""
    instances = []
    for k, (cid, dec) in enumerate(zip(result.inputs.ids, result.decodes)):
        empty = dec.mesh is None or len(dec.mesh.faces) == 0
        extents = None if empty else dec.mesh.extents.tolist()
        instances.append(Instance(
            id=int(cid), mesh=None if empty else dec.mesh, world_from_object=np.eye(4),
            label=capture.labels.get(int(cid)) or None, asset_id=None, size=extents,
            extra={"midi_index": k, "empty_mesh": empty,
                   "n_pixels": int(np.count_nonzero(result.inputs.mask[k])),
                   "bbox_min": dec.bbox_min.astype(float).tolist(),
                   "bbox_max": dec.bbox_max.astype(float).tolist(),
                   "n_vertices": 0 if empty else int(len(dec.mesh.vertices)),
                   "n_faces": 0 if empty else int(len(dec.mesh.faces)),
                   "grid_queries": int(dec.first.n_queries + (dec.second.n_queries if dec.second else 0))}))
    settings_json = dataclasses.asdict(settings)
    settings_json["mi_blocks"] = list(settings.mi_blocks)
    return Scene(
        camera=Camera(K=capture.K, width=capture.width, height=capture.height, world_from_camera=None),
        instances=instances,
        method={"name": "midi", "version": METHOD_VERSION, "settings": settings_json},
        timings_s={k: round(float(v), 4) for k, v in timings.items()},
        extra={"midi": {"frame": "MIDI's shared normalised scene frame (no camera pose)",
                        "instance_order": [int(i) for i in result.inputs.ids],
                        "warnings": warnings}})


def capture_warnings(capture, settings: MIDISettings) -> list[str]:
    """What about this capture will give a poor result (logged and kept in scene.json)."""
    warnings = []
    if capture.width != capture.height and not settings.pad_image:
        warnings.append(f"image is {capture.width}x{capture.height}, not square: as in the original, "
                        "the DINOv2 mask channel is squeezed while the RGB is centre-cropped, so they "
                        "misalign; --set pad_image=true pads to a square first")
    for cid in capture.instance_ids:
        n_pix = int(np.count_nonzero(capture.seg == cid))
        if n_pix <= 0.001 * capture.width * capture.height:
            # The original's evaluation drops such instances (skip_small_object); its CLI keeps them.
            warnings.append(f"instance {cid} covers only {n_pix} pixels (≤ 0.1 % of the image); "
                            "kept as the original CLI does, but expect a poor shape")
    return warnings


class MIDIMethod(Method):
    """MIDI multi-instance diffusion: one generated mesh per instance, in MIDI's own frame.

    The pipeline is loaded from ``resources.weights_path`` when the method is built (on
    the settings' device and dtype) and kept in the Resources: ``load_weights`` in a
    scene's timings is what getting it cost that capture (nothing, once warm).
    """

    name = "midi"
    Settings = MIDISettings
    summary = "generated shapes (MIDI multi-instance diffusion)"
    needs = ("weights",)
    perceive_missing = ("seg",)        # MIDI works from the picture and masks alone
    how_to_get = HOW_TO_GET
    capture_needs = ("seg",)
    form = ("steps", "guidance", "octree_depth")
    stage = "Denoising all objects at once"

    def __init__(self, settings: MIDISettings | None = None, resources=None, progress: bool = False):
        super().__init__(settings, resources, progress)
        self.settings.validate()
        self.pipeline()

    def pipeline(self) -> MIDIPipeline:
        s, weights = self.settings, self.resources.weights_path
        key = ("midi", str(weights.resolve()), s.device, s.dtype, s.lora)
        return self.resources.cached(key, lambda: MIDIPipeline.from_pretrained(weights, s.device, s.dtype,
                                                                               lora=s.lora))[0]

    @classmethod
    def reads(cls, settings) -> list:
        return [settings.lora] if settings.lora else []

    def reconstruct(self, capture):
        s = self.settings
        self.check_capture(capture)
        ids = capture.instance_ids
        if len(ids) > s.max_instances:
            raise InputError(f"{capture.path / 'seg.png'}: {len(ids)} instances, more than "
                             f"max_instances {s.max_instances}; MIDI denoises all instances jointly")
        warnings = capture_warnings(capture, s)
        for w in warnings:
            logger.warning(w)
        t0 = time.perf_counter()
        pipe = self.pipeline()
        timings = {"load_weights": time.perf_counter() - t0}
        result = pipe(capture, steps=s.steps, guidance=s.guidance, seed=s.seed, octree_depth=s.octree_depth,
                      extraction=s.extraction, smooth=s.smooth, progressive=s.progressive,
                      pad_image=s.pad_image, max_instances=s.max_instances, mi_blocks=s.mi_blocks,
                      show_progress=self.progress)
        timings.update(result.timings_s)
        t0 = time.perf_counter()
        scene = build_scene(capture, result, s, timings, warnings)
        if all(inst.mesh is None for inst in scene.instances):
            # A GLB needs at least one mesh; an all-empty result is reported, not written.
            raise InputError(f"{capture.path}: MIDI produced no surface for any of the "
                             f"{len(scene.instances)} instances (no decoded field crosses 0); nothing written")
        scene.timings_s["export"] = round(time.perf_counter() - t0, 4)
        library = self.resources.library_path
        if s.size_library is None and library is not None and (library / "library.json").is_file():
            s = dataclasses.replace(s, size_library=str(library))
        scene = finish_scene(scene, capture, s)      # camera frame, metric scale, photo texture (or as is)
        if _smaller_than_released(pipe.transformer.config):
            # a small checkpoint's time says little about the released model's: say what it would take
            from scenewright.methods.midi.estimate import describe, estimate_released
            queries = [d.first.n_queries + (d.second.n_queries if d.second is not None else 0)
                       for d in result.decodes]
            est = estimate_released(s.steps, len(queries), result.timings_s["denoise"] / s.steps, queries)
            scene.extra["released_model_estimate"] = est.to_json()
            scene.extra.setdefault("notes", []).append(describe(est, s.steps, len(queries)))
        return scene


def _smaller_than_released(config) -> bool:
    from scenewright.methods.midi.transformer import MIDITransformerConfig
    released = MIDITransformerConfig()
    return config.width < released.width or config.num_layers < released.num_layers
