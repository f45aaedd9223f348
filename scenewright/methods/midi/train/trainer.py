"""The fine-tuning loop: accelerate, gradient accumulation, checkpoints, exact resume, logs.

Run folder ``OUT`` (``scenewright train midi … -o OUT``)::

    OUT/cache/                       the cached training set (data.build_cache), reused on resume
    OUT/checkpoints/step_000500/     accelerate state (model, optimizer, RNG) + trainer_state.json
    OUT/train_log.csv                one row per optimizer step (loss written exactly: repr)
    OUT/training.json                settings, inputs, fingerprints, timings, loss summary
    OUT/model_index.json, transformer/, vae/, …   the fine-tuned checkpoint (written last)
    OUT/lora/adapter_config.json, adapter_model.safetensors   the adapter (LoRA runs)

``OUT`` is a MIDI checkpoint folder once training ends (``reconstruct --method midi
--weights OUT``): the transformer holds the fine-tuned weights (LoRA merged), the other
components are the base checkpoint's files (hard links where possible). ``model_index.json``
is written last, so an interrupted run never looks loadable. The adapter alone applies to
the base: ``--weights BASE --lora OUT/lora``.

Exact resume: every random draw of micro-batch m is seeded by (seed, m) (objective.py), the
scene order by (seed, epoch), checkpoints sit at optimizer-step boundaries and hold the
model and optimizer states bit for bit; so the losses after ``--resume`` are the losses of
an uninterrupted run.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scenewright.accelerator import check_device_options, resolve_accelerator
from scenewright.errors import InputError
from scenewright.methods.midi.train.data import DataSettings
from scenewright.methods.midi.train.objective import ObjectiveSettings
from scenewright.methods.midi.transformer import DEFAULT_MI_BLOCKS

TRAIN_FORMAT = "midi-train/1"
LOG_FIELDS = ("step", "loss", "grad_norm", "lr", "sigma_mean", "dropped", "seconds", "steps_per_s",
              "scenes_per_s")
# Settings a resumed run must share with the run it continues (the others may change).
RESUME_KEYS = ("batch_size", "grad_accum", "lr", "weight_decay", "max_grad_norm", "lora", "lora_rank",
               "lora_alpha", "mixed_precision", "seed", "mi_blocks", "objective", "data")


@dataclass
class TrainSettings:
    """Everything that changes the result of ``scenewright train midi`` (recorded in training.json)."""

    steps: int = 1000                   # optimizer steps
    batch_size: int = 1                 # scenes per micro-batch (each a padded group of P)
    grad_accum: int = 1                 # micro-batches per optimizer step
    lr: float = 5e-5
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    lora: bool = True                   # False: full fine-tuning of the DiT
    lora_rank: int = 64
    lora_alpha: float = 32.0
    mixed_precision: str = "auto"       # auto (bf16 where the device has it, else no) | no | bf16 | fp16
    device: str = "auto"                # auto | cpu | cuda
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    seed: int = 0
    mi_blocks: tuple = DEFAULT_MI_BLOCKS
    objective: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    data: DataSettings = field(default_factory=DataSettings)

    def validate(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "checkpoint_every", "keep_checkpoints",
                     "lora_rank"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise InputError("--weight-decay must be >= 0 and --max-grad-norm > 0")
        if not 0 <= self.objective.cond_drop < 1:
            raise InputError(f"--cond-drop must be in [0, 1), got {self.objective.cond_drop}")
        if self.objective.group_size < 1:
            raise InputError(f"--group-size must be >= 1, got {self.objective.group_size}")
        check_device_options(self.device, self.mixed_precision, "train midi")
        if self.data.num_points < 1:
            raise InputError(f"--num-points must be >= 1, got {self.data.num_points}")

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["mi_blocks"] = list(self.mi_blocks)
        return d


# -- run folder --------------------------------------------------------------------------
def _checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (trainer_state.json present), ascending by step."""
    found = []
    for p in (out / "checkpoints").glob("step_*"):
        if (p / "trainer_state.json").is_file() and p.name[5:].isdigit():
            found.append((int(p.name[5:]), p))
    return sorted(found)


def _read_log(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def _write_log(path: Path, rows: list[dict]) -> None:
    from scenewright.fileio import atomic_file
    with atomic_file(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when the source already has the mode a new file gets (saves gigabytes for
    the real checkpoint), else a copy with the umask's mode."""
    from scenewright.fileio import file_mode, give_umask_mode
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    tmp.unlink(missing_ok=True)
    try:
        if (src.stat().st_mode & 0o777) != file_mode():
            raise OSError("mode differs")
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
        give_umask_mode(tmp)
    os.replace(tmp, dst)


def save_checkpoint_folder(out: Path, base: Path, transformer_state: dict, adapter=None) -> None:
    """Write ``out`` as a MIDI checkpoint folder: the base's components, the given
    transformer weights (float32), the adapter (``(model, lora_config)``) under ``lora/``."""
    from safetensors.torch import save_file
    from scenewright.fileio import atomic_file
    from scenewright.methods.midi.weights import COMPONENTS
    (out / "model_index.json").unlink(missing_ok=True)       # not loadable until complete
    for comp in COMPONENTS:
        if comp == "transformer":
            continue
        for src in sorted((base / comp).rglob("*")):
            if src.is_file():
                _link_or_copy(src, out / comp / src.relative_to(base / comp))
    tdir = out / "transformer"
    tdir.mkdir(parents=True, exist_ok=True)
    for old in tdir.glob("diffusion_pytorch_model*.safetensors"):
        old.unlink()
    _link_or_copy(base / "transformer" / "config.json", tdir / "config.json")
    with atomic_file(tdir / "diffusion_pytorch_model.safetensors") as tmp:
        save_file({k: v.detach().float().contiguous().cpu() for k, v in transformer_state.items()},
                  str(tmp), metadata={"format": "pt"})
    if adapter is not None:
        from scenewright.methods.midi.train.lora import save_adapter
        save_adapter(adapter[0], adapter[1], out / "lora")
    with atomic_file(out / "model_index.json") as tmp:
        tmp.write_bytes((base / "model_index.json").read_bytes())


# -- the loop ----------------------------------------------------------------------------
@dataclass
class TrainResult:
    out: Path
    losses: list            # per optimizer step of this run, float
    start_step: int
    end_step: int
    seconds: float
    steps_per_s: float
    eval_loss_before: float | None
    eval_loss_after: float | None


def _settings_view(settings: TrainSettings) -> dict:
    d = settings.to_json()
    return {k: d[k] for k in RESUME_KEYS}


def train(bench, weights, out, settings: TrainSettings | None = None, resume: bool = False,
          overwrite: bool = False, cache=None, progress: bool = True,
          evaluate: bool = False) -> TrainResult:
    """Fine-tune the DiT of checkpoint ``weights`` on benchmark ``bench``; write run folder ``out``.

    ``resume``: continue from the latest checkpoint in ``out`` (same settings but ``steps``).
    ``evaluate``: also measure :func:`objective.evaluation_loss` before and after."""
    from scenewright.fileio import atomic_file, check_output_dir, dumps_json, read_json
    from scenewright.methods.midi.train import objective as obj
    from scenewright.methods.midi.train.data import SceneCache, build_cache
    from scenewright.methods.midi.weights import check_folder, load_transformer
    settings = settings or TrainSettings()
    settings.validate()
    bench, weights, out = Path(bench), Path(weights), Path(out)
    check_folder(weights)
    t_start = time.perf_counter()

    ckpts = _checkpoints(out) if resume else []
    if resume:
        if not ckpts:
            raise InputError(f"{out}: no checkpoint to resume from (expected {out}/checkpoints/step_*/"
                             "trainer_state.json); run without --resume to start")
        state = read_json(ckpts[-1][1] / "trainer_state.json")
        old, new = state.get("settings", {}), _settings_view(settings)
        diff = sorted(k for k in RESUME_KEYS if old.get(k) != new.get(k))
        if diff:
            raise InputError(f"{ckpts[-1][1] / 'trainer_state.json'}: the run was started with other "
                             f"settings ({', '.join(diff)}); resume with the same ones (only --steps and "
                             "checkpointing may change)")
        if state["step"] >= settings.steps:
            raise InputError(f"{out}: already trained {state['step']} steps; --steps {settings.steps} "
                             "asks for no more")
    else:
        check_output_dir(out, overwrite, inputs=[bench, weights])
        if out.exists() and overwrite:
            from scenewright.fileio import move_aside
            shutil.rmtree(move_aside(out), ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    cache_dir = Path(cache) if cache is not None else out / "cache"
    t0 = time.perf_counter()
    meta = build_cache(bench, weights, cache_dir, settings.data, progress=progress)
    t_cache = time.perf_counter() - t0
    data = SceneCache(cache_dir, meta)
    # No group needs more slots than the largest scene has instances (the settings keep the
    # requested size: a resumed run recomputes the same cap from the same cache).
    objective = dataclasses.replace(settings.objective,
                                    group_size=min(settings.objective.group_size, data.max_instances))

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(True)        # one process may train several times (tests, notebooks)
    mp, cpu = resolve_accelerator(settings.device, settings.mixed_precision, "train midi")
    acc = Accelerator(cpu=cpu, mixed_precision=mp, gradient_accumulation_steps=settings.grad_accum)
    torch.manual_seed(settings.seed)           # LoRA A init (kaiming) draws from the global RNG
    model = load_transformer(weights, torch.float32)
    lora_cfg = None
    if settings.lora:
        from scenewright.methods.midi.train.lora import add_lora, lora_config
        lora_cfg = lora_config(settings.lora_rank, settings.lora_alpha)
        model = add_lora(model, lora_cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    model, optimizer = acc.prepare(model, optimizer)

    start = 0
    if resume:
        acc.load_state(str(ckpts[-1][1]))
        start = int(read_json(ckpts[-1][1] / "trainer_state.json")["step"])
    log_path = out / "train_log.csv"
    rows = _read_log(log_path, start)
    eval_before = obj.evaluation_loss(model, data, objective, settings.mi_blocks) \
        if evaluate else None

    accum, bs = settings.grad_accum, settings.batch_size
    losses: list[float] = []
    from scenewright.methods.midi.train.progress import train_bar
    t_loop = time.perf_counter()
    done = 0
    with train_bar(progress) as prog:
        task = prog.add_task(f"fine-tuning ({'LoRA' if settings.lora else 'full'})", total=settings.steps,
                             completed=start, loss="-", rate="-", scenes="-")
        for step in range(start, settings.steps):
            t0 = time.perf_counter()
            micro, sig, drop = [], [], 0
            grad_norm = float("nan")
            for j in range(accum):
                m = step * accum + j
                scenes = [data[i] for i in obj.scene_order(len(data), settings.seed, m * bs, bs)]
                batch = obj.make_batch(scenes, objective, obj.micro_batch_seed(settings.seed, m))
                with acc.accumulate(model):
                    loss = obj.flow_loss(model, batch, settings.mi_blocks, acc.device)
                    acc.backward(loss)
                    if acc.sync_gradients:
                        grad_norm = float(acc.clip_grad_norm_(params, settings.max_grad_norm))
                    optimizer.step()
                    optimizer.zero_grad()
                micro.append(float(loss.detach()))
                sig += batch.sigma.tolist()
                drop += int(batch.dropped.sum())
            loss_value = sum(micro) / len(micro)
            losses.append(loss_value)
            done += 1
            dt = time.perf_counter() - t0
            rate = done / (time.perf_counter() - t_loop)
            rows.append({"step": step + 1, "loss": repr(loss_value), "grad_norm": repr(grad_norm),
                         "lr": settings.lr, "sigma_mean": round(sum(sig) / len(sig), 6), "dropped": drop,
                         "seconds": round(dt, 4), "steps_per_s": round(rate, 4),
                         "scenes_per_s": round(rate * accum * bs, 4)})
            prog.update(task, completed=step + 1, loss=f"{loss_value:.4f}", rate=f"{rate:.2f}",
                        scenes=f"{rate * accum * bs:.2f}")
            if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
                _write_log(log_path, rows)
                _save_state(acc, out, step + 1, settings)
    seconds_loop = time.perf_counter() - t_loop
    eval_after = obj.evaluation_loss(model, data, objective, settings.mi_blocks) \
        if evaluate else None

    model = acc.unwrap_model(model)
    if settings.lora:
        from scenewright.methods.midi.train.lora import merged_state_dict
        state_dict = merged_state_dict(model)
    else:
        state_dict = model.state_dict()
    save_checkpoint_folder(out, weights, state_dict, (model, lora_cfg) if settings.lora else None)
    result = TrainResult(out, losses, start, settings.steps, time.perf_counter() - t_start,
                         done / seconds_loop if seconds_loop > 0 else float("nan"), eval_before, eval_after)
    all_losses = [float(r["loss"]) for r in rows]
    record = {"format": TRAIN_FORMAT, "settings": settings.to_json(),
              "inputs": {"bench": str(bench.resolve()), "weights": str(weights.resolve()),
                         "cache": str(cache_dir.resolve())},
              "group_size": objective.group_size,
              "precision": {"mixed_precision": mp, "device": str(acc.device)},
              "data": {"scenes": meta["scenes"], "skipped": meta["skipped"],
                       "bench_sha256": meta["bench_sha256"], "checkpoint_sha256": meta["checkpoint_sha256"]},
              "resumed_from_step": start if resume else None, "steps_done": settings.steps,
              "trainable_parameters": int(sum(p.numel() for p in params)),
              "loss": {"first": all_losses[0] if all_losses else None,
                       "last": all_losses[-1] if all_losses else None,
                       "mean_first_10": _mean(all_losses[:10]), "mean_last_10": _mean(all_losses[-10:])},
              "evaluation_loss": {"before": eval_before, "after": eval_after},
              "timings_s": {"cache": round(t_cache, 3), "loop": round(seconds_loop, 3),
                            "total": round(result.seconds, 3)},
              "steps_per_s": round(result.steps_per_s, 4)}
    with atomic_file(out / "training.json") as tmp:
        tmp.write_text(dumps_json(record) + "\n")
    return result


def _mean(xs: list) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _save_state(acc, out: Path, step: int, settings: TrainSettings) -> None:
    """accelerate state into ``checkpoints/step_N`` (temp folder, renamed); older ones pruned."""
    from scenewright.fileio import dumps_json
    root = out / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp-step_{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    acc.save_state(str(tmp))
    (tmp / "trainer_state.json").write_text(dumps_json(
        {"format": TRAIN_FORMAT, "step": step, "settings": _settings_view(settings)}) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in _checkpoints(out)[:-settings.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
