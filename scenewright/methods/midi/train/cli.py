"""``scenewright train midi --data BENCH --weights DIR --steps N -o OUT [--lora|--full] [--resume]``."""

from __future__ import annotations

import argparse
import dataclasses


def settings_from_args(args: argparse.Namespace):
    from scenewright.methods.midi.train.data import DataSettings
    from scenewright.methods.midi.train.objective import ObjectiveSettings
    from scenewright.methods.midi.train.trainer import TrainSettings
    s = TrainSettings(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm, lora=not args.full,
        lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, mixed_precision=args.mixed_precision,
        device=args.device, checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
        seed=args.seed,
        objective=dataclasses.replace(ObjectiveSettings(), cond_drop=args.cond_drop, group_size=args.group_size,
                                      logit_mean=args.logit_mean, logit_std=args.logit_std),
        data=dataclasses.replace(DataSettings(), num_points=args.num_points, pad_image=args.pad_image))
    s.validate()
    return s


def _train_midi(args: argparse.Namespace) -> int:
    from scenewright.errors import InputError
    from scenewright.methods.midi.train.trainer import train
    settings = settings_from_args(args)
    if args.threads < 0:
        raise InputError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    r = train(args.data, args.weights, args.out, settings, resume=args.resume, overwrite=args.overwrite,
              cache=args.cache, progress=not args.no_progress, evaluate=args.evaluate)
    first = f"{r.losses[0]:.4f}" if r.losses else "-"
    last = f"{r.losses[-1]:.4f}" if r.losses else "-"
    print(f"wrote {r.out}: steps {r.start_step}→{r.end_step}, loss {first} → {last}, "
          f"{r.steps_per_s:.2f} step/s, {r.seconds:.1f} s"
          + (f"; evaluation loss {r.eval_loss_before:.4f} → {r.eval_loss_after:.4f}"
             if r.eval_loss_before is not None else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from scenewright.cli import train_subcommands
    methods = train_subcommands(sub)
    m = methods.add_parser("midi", help="fine-tune MIDI's DiT (LoRA by default) on bench folders",
                           description="Fine-tune MIDI's multi-instance DiT on `scenewright bench make` "
                                       "scenes; OUT becomes a checkpoint folder for "
                                       "`reconstruct --method midi --weights OUT` (docs/midi-training.md).")
    m.add_argument("--data", required=True, help="benchmark folder (manifest.json, scene_*/capture, gt)")
    m.add_argument("--weights", required=True, help="base MIDI checkpoint folder (diffusers layout)")
    m.add_argument("--steps", type=int, required=True, help="optimizer steps (in all, also with --resume)")
    m.add_argument("-o", "--out", required=True, help="run folder: checkpoints, logs, then the checkpoint")
    kind = m.add_mutually_exclusive_group()
    kind.add_argument("--lora", action="store_true", default=True,
                      help="train a LoRA on the DiT's attention projections (default)")
    kind.add_argument("--full", action="store_true", help="full fine-tuning of the DiT instead")
    m.add_argument("--resume", action="store_true", help="continue from OUT's latest checkpoint")
    m.add_argument("--overwrite", action="store_true", help="replace an existing OUT (without --resume)")
    g = m.add_argument_group("optimisation (defaults: the original's configuration)")
    g.add_argument("--batch-size", type=int, default=1, help="scenes per micro-batch (default 1)")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step (default 1)")
    g.add_argument("--lr", type=float, default=5e-5, help="AdamW learning rate (default 5e-5)")
    g.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    g.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping norm (default 1.0)")
    g.add_argument("--lora-rank", type=int, default=64, help="LoRA rank r (default 64)")
    g.add_argument("--lora-alpha", type=float, default=32.0, help="LoRA alpha; scale alpha/r (default 32)")
    g.add_argument("--cond-drop", type=float, default=0.1,
                   help="probability of zeroing a scene's image conditions, for CFG (default 0.1)")
    g.add_argument("--group-size", type=int, default=7,
                   help="instances per padded MI group (default 7, capped at the largest scene)")
    g.add_argument("--logit-mean", type=float, default=0.0, help="logit-normal σ density: mean of u")
    g.add_argument("--logit-std", type=float, default=1.0, help="logit-normal σ density: std of u")
    g.add_argument("--seed", type=int, default=0, help="seed of data order and every draw (default 0)")
    g = m.add_argument_group("machine and bookkeeping")
    g.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "bf16", "fp16"],
                   help="auto: bf16 on a GPU that has it, else float32")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default; 1 is fastest for tiny models on a busy machine)")
    g.add_argument("--checkpoint-every", type=int, default=500, help="optimizer steps between checkpoints")
    g.add_argument("--keep-checkpoints", type=int, default=2, help="checkpoints kept (newest)")
    g.add_argument("--num-points", type=int, default=20480, help="surface samples per instance (cached)")
    g.add_argument("--pad-image", action="store_true", help="the original's do_image_padding (as at inference)")
    g.add_argument("--cache", default=None, help="training-set cache folder (default OUT/cache)")
    g.add_argument("--evaluate", action="store_true",
                   help="measure a fixed-noise evaluation loss before and after training")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.set_defaults(func=_train_midi)
