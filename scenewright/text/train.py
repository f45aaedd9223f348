"""Fine-tuning the image model on our own rooms, as Imaginarium fine-tunes FLUX on renders of its
layouts: ``scenewright train image-lora --bench DIR --image-model DIR -o OUT``.

Pairs are a benchmark's pictures (``scene_XXXX/capture/rgb.png``) with captions written from
their ``gt/scene.json`` ("a bedroom with a bed, two nightstands and a lamp"). A LoRA (peft) on the
denoiser's attention projections learns the pipeline's own objective, picked by its class: FLUX.1
(``FluxPipeline``: the transformer) by flow matching on packed latents (``FluxFlowMatching``), the
Stable Diffusion family (a UNet) by the diffusion loss (``UNetDiffusion``). Checkpoints
(``OUT/checkpoints/step_XXXXXX``: adapter, optimizer, step, losses) are written atomically every
``checkpoint_every`` steps and a rerun resumes from the newest; every step draws its batch, noise and timesteps from ``(seed, step)``, so a resumed run equals an
unbroken one. The result, ``OUT/pytorch_lora_weights.safetensors``, loads with
``generate --image-model DIR --lora FILE``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenewright.accelerator import resolve_accelerator
from scenewright.errors import InputError

LORA_FILE = "pytorch_lora_weights.safetensors"
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]      # attention projections of a UNet or a FLUX transformer
NUMBER_NAMES = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
THEME_ROOM = {"living": "living room", "bedroom": "bedroom", "dining": "dining room", "office": "office"}


@dataclass
class LoraTrainSettings:
    steps: int = 1000
    rank: int = 16
    learning_rate: float = 1e-4
    batch_size: int = 1
    size: int = 512                  # training picture side, pixels
    checkpoint_every: int = 250
    seed: int = 0
    eval_pairs: int = 4              # fixed (noise, timestep) draws of the loss reported before/after
    guidance: float = 3.5            # FLUX.1-dev's guidance embedding input while training (FluxPipeline's default)
    mixed_precision: str = "auto"    # auto (bf16 on a GPU that has it, else no) | no | bf16 | fp16
    device: str = "auto"             # auto (a GPU when there is one) | cpu | cuda

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def caption_from_scene(data: dict) -> str:
    """A caption from a scene.json: the room kind (a benchmark's theme) and its objects with counts."""
    counts: dict[str, int] = {}
    for inst in data.get("instances", []):
        name = (inst.get("category") or inst.get("label") or "object").replace("_", " ")
        counts[name] = counts.get(name, 0) + 1
    theme = (data.get("bench") or {}).get("theme")
    room = THEME_ROOM.get(theme, "room")
    parts = [f"a {n}" if c == 1 else f"{NUMBER_NAMES.get(c, str(c))} {n}s" for n, c in sorted(counts.items())]
    if not parts:
        return f"an empty {room}"
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"a {room} with {listed}"


def training_pairs(bench) -> list[tuple[Path, str]]:
    bench = Path(bench)
    manifest = bench / "manifest.json"
    if not manifest.is_file():
        raise InputError(f"{bench}: not a benchmark folder (no manifest.json)")
    pairs = []
    for name in json.loads(manifest.read_text()).get("scenes", []):
        rgb, sj = bench / name / "capture" / "rgb.png", bench / name / "gt" / "scene.json"
        if not rgb.is_file() or not sj.is_file():
            raise InputError(f"{bench / name}: missing capture/rgb.png or gt/scene.json")
        pairs.append((rgb, caption_from_scene(json.loads(sj.read_text()))))
    if not pairs:
        raise InputError(f"{manifest}: lists no scenes")
    return pairs


def _optimizer_state_flat(state: dict) -> tuple[dict, list]:
    """An optimizer state_dict as safetensors tensors (``state.<param>.<name>``) plus its JSON-able
    param groups, so checkpoints load without unpickling."""
    import torch
    tensors = {}
    for pid, entry in state["state"].items():
        for name, value in entry.items():
            tensors[f"state.{pid}.{name}"] = (value if torch.is_tensor(value) else torch.tensor(value)).contiguous()
    return tensors, state["param_groups"]


def _optimizer_state_from(tensors: dict, groups: list) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": groups}


def _latest_checkpoint(out: Path) -> Path | None:
    ck = sorted((out / "checkpoints").glob("step_*")) if (out / "checkpoints").is_dir() else []
    ck = [c for c in ck if (c / "state.json").is_file()]
    return ck[-1] if ck else None


class UNetDiffusion:
    """The Stable Diffusion family's objective: noise the VAE latents with the DDPM schedule of the
    pipeline's scheduler config at a uniform timestep; the UNet predicts the noise (or the
    velocity, as the scheduler's ``prediction_type`` says)."""

    name = "diffusion (UNet)"

    def __init__(self, pipe, settings: LoraTrainSettings, image_model: Path):
        from diffusers import DDPMScheduler
        self.pipe, self.settings = pipe, settings
        self.denoiser = pipe.unet
        self.noise_schedule = DDPMScheduler.from_config(pipe.scheduler.config)
        if settings.size % pipe.vae_scale_factor:
            raise InputError(f"{image_model}: training size {settings.size} must be a multiple of "
                             f"{pipe.vae_scale_factor} for this VAE")
        for m in (pipe.unet, pipe.vae, pipe.text_encoder):
            m.requires_grad_(False)
            m.eval()

    def encode(self, pixels, captions: list[str]) -> None:
        """Latents (VAE distribution means, scaled) and CLIP text states of the training pairs, once."""
        pipe = self.pipe
        self.latents = pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor
        ids = pipe.tokenizer(captions, padding="max_length", truncation=True,
                             max_length=pipe.tokenizer.model_max_length, return_tensors="pt").input_ids
        self.text = pipe.text_encoder(ids.to(pixels.device))[0]

    def loss_at(self, idx, gen):
        import torch
        import torch.nn.functional as F
        lat, sched = self.latents[idx.to(self.latents.device)], self.noise_schedule
        # drawn on the CPU from the step's generator (the same numbers on every device), then moved
        noise = torch.randn(lat.shape, generator=gen).to(lat.device)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), generator=gen).to(lat.device)
        noisy = sched.add_noise(lat, noise, t)
        target = noise if sched.config.prediction_type == "epsilon" else sched.get_velocity(lat, noise, t)
        return F.mse_loss(self.denoiser(noisy, t, self.text[idx]).sample, target)

    def save_lora(self, folder: Path, weight_name: str) -> None:
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft import get_peft_model_state_dict
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(self.denoiser))
        type(self.pipe).save_lora_weights(str(folder), unet_lora_layers=layers, weight_name=weight_name)


class FluxFlowMatching:
    """FLUX.1's objective (rectified flow): with latents ``x0 = (VAE mean − shift) × scale`` and noise
    ``ε``, ``x_σ = (1 − σ) x0 + σ ε`` at a σ drawn uniformly from the scheduler's shifted sigmas: the
    schedule ``FluxPipeline`` would denoise with in ``num_train_timesteps`` steps at this
    resolution (linear sigmas through the scheduler's ``set_timesteps``, with the resolution-dependent
    ``mu`` the pipeline computes from the latent sequence length when the scheduler shifts
    dynamically, as FLUX.1-dev's does; its fixed ``shift`` otherwise). The transformer sees ``x_σ``
    packed into 2×2 patches with their position ids, ``timestep = σ``, the T5 states, the pooled
    CLIP vector and, when its config has a guidance embedding (FLUX.1-dev), the guidance scale; it
    predicts the velocity ``ε − x0`` (MSE on the packed tokens). Captions are encoded by the pipeline's own ``encode_prompt`` with the pipeline's
    default T5 length, so the LoRA learns the conditioning ``generate`` gives it."""

    name = "flow matching (FLUX)"
    max_sequence_length = 512          # FluxPipeline.__call__'s default

    def __init__(self, pipe, settings: LoraTrainSettings, image_model: Path):
        self.pipe, self.settings = pipe, settings
        self.denoiser = pipe.transformer
        factor = pipe.vae_scale_factor * 2
        if settings.size % factor:
            raise InputError(f"{image_model}: training size {settings.size} must be a multiple of {factor} for "
                             "FLUX (VAE scale × 2×2 packing)")
        for m in (pipe.transformer, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
            m.requires_grad_(False)
            m.eval()

    def encode(self, pixels, captions: list[str]) -> None:
        """Latents, text states, position ids and the scheduler's sigmas for this resolution, once."""
        from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift
        pipe = self.pipe
        vae = pipe.vae.config
        lat = pipe.vae.encode(pixels).latent_dist.mean
        self.latents = (lat - (vae.shift_factor or 0.0)) * vae.scaling_factor
        self.embeds, self.pooled, self.text_ids = pipe.encode_prompt(
            prompt=captions, prompt_2=None, max_sequence_length=self.max_sequence_length)
        _, _, h, w = self.latents.shape
        self.image_ids = FluxPipeline._prepare_latent_image_ids(1, h // 2, w // 2, lat.device, lat.dtype)
        sched = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
        cfg = sched.config
        mu = None
        if cfg.use_dynamic_shifting:
            mu = calculate_shift((h // 2) * (w // 2), cfg.get("base_image_seq_len", 256),
                                 cfg.get("max_image_seq_len", 4096), cfg.get("base_shift", 0.5),
                                 cfg.get("max_shift", 1.15))
        n = cfg.num_train_timesteps
        # the schedule FluxPipeline denoises with at n steps: the linear sigmas, shifted by the scheduler
        linear = None if cfg.get("use_flow_sigmas") else np.linspace(1.0, 1.0 / n, n)
        sched.set_timesteps(n, sigmas=linear, mu=mu)
        self.sigmas = sched.sigmas[:-1].float().cpu()    # the terminal 0 is not a training level
        self.mu = mu

    def pack(self, lat):
        from diffusers import FluxPipeline
        b, c, h, w = lat.shape
        return FluxPipeline._pack_latents(lat, b, c, h, w)

    def loss_at(self, idx, gen):
        import torch
        import torch.nn.functional as F
        lat = self.latents[idx.to(self.latents.device)]
        # drawn on the CPU from the step's generator (the same numbers on every device), then moved
        noise = torch.randn(lat.shape, generator=gen).to(lat.device)
        sigma = self.sigmas[torch.randint(0, len(self.sigmas), (len(idx),), generator=gen)].to(lat.device)
        s = sigma.view(-1, 1, 1, 1)
        noisy = (1.0 - s) * lat + s * noise
        guidance = (torch.full((len(idx),), float(self.settings.guidance), device=lat.device)
                    if self.denoiser.config.guidance_embeds else None)
        i = idx.to(lat.device)
        pred = self.denoiser(hidden_states=self.pack(noisy), timestep=sigma, guidance=guidance,
                             pooled_projections=self.pooled[i], encoder_hidden_states=self.embeds[i],
                             txt_ids=self.text_ids, img_ids=self.image_ids, return_dict=False)[0]
        return F.mse_loss(pred, self.pack(noise - lat))

    def save_lora(self, folder: Path, weight_name: str) -> None:
        from peft import get_peft_model_state_dict
        type(self.pipe).save_lora_weights(str(folder), transformer_lora_layers=get_peft_model_state_dict(self.denoiser),
                                          weight_name=weight_name)


def objective_for(pipe, image_model: Path, settings: LoraTrainSettings):
    """FLUX.1 (``FluxPipeline``) trains with flow matching, a UNet pipeline with the diffusion loss."""
    from diffusers import FluxPipeline
    if isinstance(pipe, FluxPipeline):
        return FluxFlowMatching(pipe, settings, image_model)
    if getattr(pipe, "unet", None) is not None:
        return UNetDiffusion(pipe, settings, image_model)
    raise InputError(f"{image_model}: {type(pipe).__name__} is not trained here; LoRA training covers FLUX.1 "
                     "(FluxPipeline) and UNet pipelines (Stable Diffusion family)")


def train_image_lora(bench, image_model, out, settings: LoraTrainSettings | None = None, resume: bool = True,
                     progress=None) -> dict:
    """Train (or resume) a LoRA; returns the record written to ``OUT/train.json``."""
    import torch
    from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
    from PIL import Image
    from safetensors.torch import load_file, save_file

    from scenewright.fileio import atomic_dir, atomic_file, check_output_dir, dumps_json, refuse_overlap
    from scenewright.text.image import load_pipeline

    s = settings or LoraTrainSettings()
    if s.steps < 1 or s.rank < 1 or s.batch_size < 1 or s.checkpoint_every < 1 or s.learning_rate <= 0:
        raise InputError("train image-lora: steps, rank, batch size and checkpoint interval must be ≥ 1, "
                         "the learning rate > 0")
    out = Path(out)
    image_model = Path(image_model)
    if not (image_model / "model_index.json").is_file():
        raise InputError(f"{image_model}: not a diffusers pipeline folder (no model_index.json)")
    if s.guidance <= 0:
        raise InputError(f"train image-lora: guidance {s.guidance} must be > 0")
    mixed_precision, cpu = resolve_accelerator(s.device, s.mixed_precision, "train image-lora")
    pairs = training_pairs(bench)
    refuse_overlap(out, inputs=[bench, image_model])
    latest = _latest_checkpoint(out) if resume else None
    if latest is None:
        check_output_dir(out, overwrite=False, inputs=[bench, image_model])
    t_start = time.perf_counter()
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(True)        # one process may train several times (tests, notebooks)
    acc = Accelerator(cpu=cpu, mixed_precision=mixed_precision)
    pipe = load_pipeline(image_model)
    objective = objective_for(pipe, image_model, s)
    pipe.to(acc.device)                        # the frozen encoders run once, on the training device
    torch.manual_seed(s.seed)
    denoiser = objective.denoiser
    denoiser.add_adapter(LoraConfig(r=s.rank, lora_alpha=s.rank, init_lora_weights="gaussian",
                                    target_modules=LORA_TARGETS))
    params = [p for p in denoiser.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s.learning_rate)
    # device placement, autocast of the denoiser's forward and (fp16) loss scaling
    # (one process: prepare hands the module itself back, so the objective keeps calling it)
    denoiser, opt = acc.prepare(denoiser, opt)
    with torch.no_grad():
        imgs = []
        for rgb, _ in pairs:
            im = Image.open(rgb).convert("RGB").resize((s.size, s.size), Image.BICUBIC)
            imgs.append(torch.from_numpy(np.asarray(im, np.float32) / 127.5 - 1.0).permute(2, 0, 1))
        objective.encode(torch.stack(imgs).to(acc.device), [c for _, c in pairs])
    loss_at = objective.loss_at

    def eval_loss() -> float:
        with torch.no_grad():
            vals = [float(loss_at(torch.arange(len(pairs)), torch.Generator().manual_seed(10_000 + k)))
                    for k in range(s.eval_pairs)]
        return float(np.mean(vals))

    start, losses, eval_before = 0, [], None
    if latest is not None:
        state = json.loads((latest / "state.json").read_text())
        if state.get("settings", {}).get("rank") != s.rank:
            raise InputError(f"{latest}: trained with rank {state.get('settings', {}).get('rank')}, not {s.rank}")
        if state.get("pipeline", type(pipe).__name__) != type(pipe).__name__:
            raise InputError(f"{latest}: a checkpoint of a {state['pipeline']} LoRA, not of {type(pipe).__name__} "
                             f"({image_model})")
        set_peft_model_state_dict(denoiser, load_file(str(latest / "adapter.safetensors")))
        opt.load_state_dict(_optimizer_state_from(load_file(str(latest / "optimizer.safetensors")),
                                                  state["optimizer_groups"]))
        start, losses, eval_before = int(state["step"]), list(state["losses"]), state.get("eval_loss_before")
    if eval_before is None:
        eval_before = eval_loss()
    out.mkdir(parents=True, exist_ok=True)

    def checkpoint(step: int) -> None:
        with atomic_dir(out / "checkpoints" / f"step_{step:06d}", overwrite=True, inputs=[bench, image_model]) as tmp:
            save_file({k: v.detach().contiguous() for k, v in get_peft_model_state_dict(denoiser).items()},
                      str(tmp / "adapter.safetensors"))
            tensors, groups = _optimizer_state_flat(opt.state_dict())
            save_file(tensors, str(tmp / "optimizer.safetensors"))
            (tmp / "state.json").write_text(dumps_json({"step": step, "losses": losses, "settings": s.to_json(),
                                                        "pipeline": type(pipe).__name__,
                                                        "eval_loss_before": eval_before,
                                                        "optimizer_groups": groups}) + "\n")

    denoiser.train()
    t_loop = time.perf_counter()
    for step in range(start, s.steps):
        rng = np.random.default_rng([s.seed, step])
        idx = torch.from_numpy(rng.choice(len(pairs), size=s.batch_size, replace=len(pairs) < s.batch_size))
        loss = loss_at(idx, torch.Generator().manual_seed(int(rng.integers(2**31))))
        opt.zero_grad()
        acc.backward(loss)
        opt.step()
        losses.append(round(float(loss.detach()), 6))
        if progress:
            progress(step + 1, s.steps, losses[-1])
        if (step + 1) % s.checkpoint_every == 0 or step + 1 == s.steps:
            checkpoint(step + 1)
    t_train = time.perf_counter() - t_loop
    denoiser.eval()
    eval_after = eval_loss()
    with atomic_dir(out / ".lora-final", overwrite=True, inputs=[bench, image_model]) as tmp:
        objective.save_lora(tmp, LORA_FILE)
    (out / ".lora-final" / LORA_FILE).replace(out / LORA_FILE)
    (out / ".lora-final").rmdir()
    record = {"bench": str(Path(bench).resolve()), "image_model": str(image_model.resolve()),
              "pipeline": type(pipe).__name__, "objective": objective.name,
              "device": str(acc.device), "mixed_precision": mixed_precision,
              "flow_shift_mu": getattr(objective, "mu", None),
              "settings": s.to_json(), "resumed_from": None if latest is None else latest.name,
              "pairs": [{"image": str(p), "caption": c} for p, c in pairs], "losses": losses,
              "eval_loss_before": eval_before, "eval_loss_after": eval_after,
              "lora": str((out / LORA_FILE).resolve()), "seconds": round(time.perf_counter() - t_start, 3),
              "train_seconds": round(t_train, 3),
              "steps_per_second": round((s.steps - start) / t_train, 4) if t_train > 0 else None}
    with atomic_file(out / "train.json", inputs=[bench, image_model]) as tmp:
        tmp.write_text(dumps_json(record) + "\n")
    return record
