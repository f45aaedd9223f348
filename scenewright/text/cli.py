"""``scenewright generate "PROMPT" -o OUT [--seed S] [--library LIB] [--room WxD] [--variants N]``."""

from __future__ import annotations

import argparse
import re


def _room(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxDEPTH in metres, e.g. 4x3.5")
    return float(m.group(1)), float(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="a furnished room from a sentence (offline, CPU)")
    p.add_argument("prompt", help='what the room holds, e.g. "a bedroom with a double bed and two nightstands"')
    p.add_argument("-o", "--out", required=True, help="scene folder to write (with --variants: a folder of them)")
    p.add_argument("--library", default=None,
                   help="asset library folder (default: `scenewright config show`)")
    p.add_argument("--seed", type=int, default=0, help="different seeds give different rooms")
    p.add_argument("--room", type=_room, default=None, help="room size WIDTHxDEPTH in metres (wins over the prompt)")
    p.add_argument("--variants", type=int, default=1, help="write N rooms (seeds S..S+N-1) and a contact sheet")
    p.add_argument("--models", default=None, help="models folder (default: $SCENEWRIGHT_MODELS, else the settings file, else ~/.cache/scenewright/models)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--image-model", default=None,
                   help="diffusers text-to-image pipeline folder (FLUX.1, any DiffusionPipeline): picture → scene")
    p.add_argument("--lora", default=None, help="LoRA weights file (.safetensors) for --image-model")
    p.add_argument("--image-steps", type=int, default=28, help="denoising steps of --image-model")
    p.add_argument("--image-size", type=int, default=512, help="picture side in pixels for --image-model")
    p.set_defaults(func=generate_from_args)

    from scenewright.cli import train_subcommands
    tsub = train_subcommands(sub)
    lo = tsub.add_parser("image-lora", help="a LoRA for a diffusers text-to-image model on a benchmark's pictures")
    lo.add_argument("--bench", required=True, help="benchmark folder (pictures + gt scene.json for captions)")
    lo.add_argument("--image-model", required=True, help="diffusers pipeline folder to fine-tune")
    lo.add_argument("-o", "--out", required=True, help="output folder (checkpoints, LoRA, train.json)")
    lo.add_argument("--steps", type=int, default=1000)
    lo.add_argument("--rank", type=int, default=16)
    lo.add_argument("--lr", type=float, default=1e-4)
    lo.add_argument("--batch-size", type=int, default=1)
    lo.add_argument("--size", type=int, default=512, help="training picture side in pixels")
    lo.add_argument("--checkpoint-every", type=int, default=250)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--guidance", type=float, default=3.5,
                    help="guidance-embedding input while training a FLUX.1-dev transformer (ignored without one)")
    lo.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "bf16", "fp16"],
                    help="accelerate's mixed precision (auto: bf16 on a GPU that has it, else full precision)")
    lo.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="training device (auto: a GPU when torch sees one)")
    lo.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                    help="continue from the newest checkpoint in OUT (default)")
    lo.set_defaults(func=train_lora_from_args)


def generate_from_args(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scenewright.errors import InputError
    from scenewright.fileio import check_output_dir
    from scenewright.text.generate import generate_to_folder

    if args.seed < 0:
        raise InputError(f"--seed {args.seed}: must be ≥ 0")
    if not 1 <= args.variants <= 64:
        raise InputError(f"--variants {args.variants}: must be in 1..64")
    from scenewright.config import library_for
    args.library = library_for(("library",), args.library)
    if not Path(args.library).is_dir():
        raise InputError(f"{args.library}: library folder not found (build one with `scenewright library build`)")
    check_output_dir(args.out, args.overwrite, inputs=[args.library, args.image_model, args.lora])
    if args.lora is not None and args.image_model is None:
        raise InputError("--lora: needs --image-model")
    if args.image_model is not None:
        return _generate_with_image(args)

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"generate: room {done}/{total}", flush=True)

    summary = generate_to_folder(args.prompt, args.out, args.library, seed=args.seed, room=args.room,
                                 variants=args.variants, overwrite=args.overwrite, models=args.models,
                                 progress=progress)
    req = summary["request"]
    objs = ", ".join(f"{o['count']}× {o['category']}" + (" (default)" if o["source"] != "prompt" else "")
                     for o in req["objects"])
    print(f"room: {req['room_type'] or 'unspecified'} {req['room_size'][0]:g} × {req['room_size'][1]:g} m; {objs}")
    for u in req["unmatched"]:
        print(f"note: '{u['phrase']}' matches nothing in the library (closest: {u['via']}, {u['score']:.2f}); left out")
    for n in req["notes"]:
        print(f"note: {n}")
    for sc in summary["scenes"]:
        print(f"seed {sc['seed']}: {sc['objects']} objects, relations {sc['relations_satisfied']}/"
              f"{sc['relations_requested']}, walkable {sc['walkable']}, {sc['seconds']:.2f} s")
    print(f"wrote {args.out} in {summary['total_s']:.1f} s")
    return 0


def _generate_with_image(args) -> int:
    from scenewright.errors import InputError
    from scenewright.text.image import generate_with_image_model

    if args.variants != 1:
        raise InputError("--variants: one room at a time with --image-model")
    if not 1 <= args.image_steps <= 500 or not 64 <= args.image_size <= 2048 or args.image_size % 8:
        raise InputError(f"--image-steps {args.image_steps} / --image-size {args.image_size}: steps 1..500, "
                         "size a multiple of 8 in 64..2048")
    summary = generate_with_image_model(args.prompt, args.out, args.library, args.image_model, args.lora,
                                        args.models, args.seed, args.room, args.image_steps, args.image_size,
                                        args.overwrite)
    rep = summary["repair"]
    print(f"reconstructed from the picture: {rep['reconstructed'] or 'nothing'}")
    if rep["missing"]:
        print(f"added from the request (the picture lost them): {rep['missing']}")
    print(f"wrote {args.out}")
    return 0


def train_lora_from_args(args) -> int:
    from scenewright.text.train import LoraTrainSettings, train_image_lora

    settings = LoraTrainSettings(steps=args.steps, rank=args.rank, learning_rate=args.lr,
                                 batch_size=args.batch_size, size=args.size,
                                 checkpoint_every=args.checkpoint_every, seed=args.seed, guidance=args.guidance,
                                 mixed_precision=args.mixed_precision, device=args.device)

    def progress(step: int, total: int, loss: float) -> None:
        if not args.quiet and (step == 1 or step == total or step % max(1, total // 20) == 0):
            print(f"train: step {step}/{total} loss {loss:.4f}", flush=True)

    rec = train_image_lora(args.bench, args.image_model, args.out, settings, resume=args.resume, progress=progress)
    print(f"{rec['pipeline']}, {rec['objective']} on {rec['device']} ({rec['mixed_precision']} mixed precision): eval loss {rec['eval_loss_before']:.4f} → "
          f"{rec['eval_loss_after']:.4f}, {rec['steps_per_second']} steps/s; LoRA: {rec['lora']}")
    return 0
