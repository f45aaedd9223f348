"""Fine-tuning the image model on our own rooms, as Imaginarium fine-tunes FLUX on renders of its
layouts: ``scenewright train image-lora --bench DIR --image-model DIR -o OUT``.

Pairs are a benchmark's pictures (``scene_XXXX/capture/rgb.png``) with captions written from
their ``gt/scene.json`` ("a bedroom with a bed, two nightstands and a lamp"). A LoRA (peft) on the
denoiser's attention projections learns the diffusion loss (noise, or velocity, as the scheduler
predicts). Checkpoints (``OUT/checkpoints/step_XXXXXX``: adapter, optimizer, step, losses) are
written atomically every ``checkpoint_every`` steps and a rerun resumes from the newest; every
step draws its batch, noise and timesteps from ``(seed, step)``, so a resumed run equals an
unbroken one. The result, ``OUT/pytorch_lora_weights.safetensors``, loads with
``generate --image-model DIR --lora FILE``. UNet pipelines (Stable Diffusion family) are trained
here; a FLUX transformer is refused with a clear message.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenewright.errors import InputError

LORA_FILE = "pytorch_lora_weights.safetensors"
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


def train_image_lora(bench, image_model, out, settings: LoraTrainSettings | None = None, resume: bool = True,
                     progress=None) -> dict:
    """Train (or resume) a LoRA; returns the record written to ``OUT/train.json``."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, DiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
    from PIL import Image
    from safetensors.torch import load_file, save_file

    from scenewright.fileio import atomic_dir, atomic_file, check_output_dir, dumps_json, refuse_overlap

    s = settings or LoraTrainSettings()
    if s.steps < 1 or s.rank < 1 or s.batch_size < 1 or s.checkpoint_every < 1 or s.learning_rate <= 0:
        raise InputError("train image-lora: steps, rank, batch size and checkpoint interval must be ≥ 1, "
                         "the learning rate > 0")
    out = Path(out)
    image_model = Path(image_model)
    if not (image_model / "model_index.json").is_file():
        raise InputError(f"{image_model}: not a diffusers pipeline folder (no model_index.json)")
    pairs = training_pairs(bench)
    refuse_overlap(out, inputs=[bench, image_model])
    latest = _latest_checkpoint(out) if resume else None
    if latest is None:
        check_output_dir(out, overwrite=False, inputs=[bench, image_model])
    t_start = time.perf_counter()
    pipe = DiffusionPipeline.from_pretrained(str(image_model), dtype=torch.float32)
    if getattr(pipe, "unet", None) is None:
        raise InputError(f"{image_model}: {type(pipe).__name__} has no UNet; LoRA training here covers UNet "
                         "pipelines (Stable Diffusion family), not FLUX transformers yet")
    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    for m in (unet, vae, text_encoder):
        m.requires_grad_(False)
        m.eval()
    torch.manual_seed(s.seed)
    unet.add_adapter(LoraConfig(r=s.rank, lora_alpha=s.rank, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s.learning_rate)

    # the data, encoded once: VAE latents (distribution means) and text embeddings
    with torch.no_grad():
        imgs = []
        for rgb, _ in pairs:
            im = Image.open(rgb).convert("RGB").resize((s.size, s.size), Image.BICUBIC)
            imgs.append(torch.from_numpy(np.asarray(im, np.float32) / 127.5 - 1.0).permute(2, 0, 1))
        latents = vae.encode(torch.stack(imgs)).latent_dist.mean * vae.config.scaling_factor
        ids = tokenizer([c for _, c in pairs], padding="max_length", truncation=True,
                        max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
        text = text_encoder(ids)[0]

    def loss_at(idx, gen) -> torch.Tensor:
        lat = latents[idx]
        noise = torch.randn(lat.shape, generator=gen)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(idx),), generator=gen)
        noisy = noise_sched.add_noise(lat, noise, t)
        target = noise if noise_sched.config.prediction_type == "epsilon" else noise_sched.get_velocity(lat, noise, t)
        return F.mse_loss(unet(noisy, t, text[idx]).sample, target)

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
        set_peft_model_state_dict(unet, load_file(str(latest / "adapter.safetensors")))
        opt.load_state_dict(_optimizer_state_from(load_file(str(latest / "optimizer.safetensors")),
                                                  state["optimizer_groups"]))
        start, losses, eval_before = int(state["step"]), list(state["losses"]), state.get("eval_loss_before")
    if eval_before is None:
        eval_before = eval_loss()
    out.mkdir(parents=True, exist_ok=True)

    def checkpoint(step: int) -> None:
        with atomic_dir(out / "checkpoints" / f"step_{step:06d}", overwrite=True, inputs=[bench, image_model]) as tmp:
            save_file({k: v.detach().contiguous() for k, v in get_peft_model_state_dict(unet).items()},
                      str(tmp / "adapter.safetensors"))
            tensors, groups = _optimizer_state_flat(opt.state_dict())
            save_file(tensors, str(tmp / "optimizer.safetensors"))
            (tmp / "state.json").write_text(dumps_json({"step": step, "losses": losses, "settings": s.to_json(),
                                                        "eval_loss_before": eval_before,
                                                        "optimizer_groups": groups}) + "\n")

    unet.train()
    for step in range(start, s.steps):
        rng = np.random.default_rng([s.seed, step])
        idx = torch.from_numpy(rng.choice(len(pairs), size=s.batch_size, replace=len(pairs) < s.batch_size))
        loss = loss_at(idx, torch.Generator().manual_seed(int(rng.integers(2**31))))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(round(float(loss.detach()), 6))
        if progress:
            progress(step + 1, s.steps, losses[-1])
        if (step + 1) % s.checkpoint_every == 0 or step + 1 == s.steps:
            checkpoint(step + 1)
    unet.eval()
    eval_after = eval_loss()
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    with atomic_dir(out / ".lora-final", overwrite=True, inputs=[bench, image_model]) as tmp:
        type(pipe).save_lora_weights(str(tmp), unet_lora_layers=layers, weight_name=LORA_FILE)
    (out / ".lora-final" / LORA_FILE).replace(out / LORA_FILE)
    (out / ".lora-final").rmdir()
    record = {"bench": str(Path(bench).resolve()), "image_model": str(image_model.resolve()),
              "settings": s.to_json(), "resumed_from": None if latest is None else latest.name,
              "pairs": [{"image": str(p), "caption": c} for p, c in pairs], "losses": losses,
              "eval_loss_before": eval_before, "eval_loss_after": eval_after,
              "lora": str((out / LORA_FILE).resolve()), "seconds": round(time.perf_counter() - t_start, 3)}
    with atomic_file(out / "train.json", inputs=[bench, image_model]) as tmp:
        tmp.write_text(dumps_json(record) + "\n")
    return record
