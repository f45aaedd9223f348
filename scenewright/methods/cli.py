"""``scenewright reconstruct`` and ``scenewright demo``.

Each method module exposes ``reconstruct_from_args(args) -> int``; this module only
declares the options (so ``--help`` shows every one) and dispatches.
"""

from __future__ import annotations

import argparse
import importlib

METHODS = {
    "layout": "scenewright.methods.layout.pipeline",
    "midi": "scenewright.methods.midi.pipeline",
    "boxes": "scenewright.methods.boxes",
}


def reconstruct_inputs(args: argparse.Namespace) -> list:
    """The folders ``reconstruct`` reads with these arguments (its output must stay clear of them)."""
    return [args.capture,
            args.library if args.method == "layout" else None,
            args.dinov2_weights if args.method == "layout" else None,
            args.weights if args.method == "midi" else None]


# Instances a method takes by default when --max-instances is not given (else DEFAULT_MAX_INSTANCES).
METHOD_MAX_INSTANCES = {"midi": 16}     # MIDI denoises all instances jointly


def _dispatch(args: argparse.Namespace) -> int:
    from scenewright.capture import DEFAULT_MAX_INSTANCES, check_limits
    from scenewright.errors import InputError
    from scenewright.fileio import check_output_dir
    # Before any work: an unusable -o (a file, a non-empty folder without --overwrite, an
    # input or a folder holding one) must not cost a whole reconstruction.
    check_output_dir(args.out, overwrite=args.overwrite, inputs=reconstruct_inputs(args))
    if args.max_pixels < 64:
        raise InputError(f"--max-pixels {args.max_pixels}: must be at least 64")
    if args.max_instances is not None and args.max_instances < 1:
        raise InputError(f"--max-instances {args.max_instances}: must be at least 1")
    if args.max_instances is None:
        args.max_instances = METHOD_MAX_INSTANCES.get(args.method, DEFAULT_MAX_INSTANCES)
    # Size limits first, from the image headers: refuse before the library or weights load.
    check_limits(args.capture, max_pixels=args.max_pixels, max_instances=args.max_instances)
    from scenewright.perception.cli import with_perceived_input   # a photo is perceived first
    module = importlib.import_module(METHODS[args.method])
    return with_perceived_input(args, module.reconstruct_from_args)


def _demo(args: argparse.Namespace) -> int:
    from scenewright.demo import run_demo
    return run_demo(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="capture folder → scene folder (layout, midi or boxes)")
    p.add_argument("capture", help="capture folder (rgb.png, seg.png, depth, camera.json) or a photo")
    p.add_argument("-o", "--out", required=True, help="output scene folder")
    p.add_argument("--method", choices=sorted(METHODS), default="layout")
    p.add_argument("--seed", type=int, default=None, help="random seed (layout: 0, midi: 42)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-preview", action="store_true", help="do not render preview.png")
    p.add_argument("--max-pixels", type=int, default=16_000_000, metavar="N",
                   help="refuse a larger picture (default 16 MP: minutes of CPU and GBs of RAM beyond)")
    p.add_argument("--max-instances", type=int, default=None, metavar="N",
                   help="refuse a seg.png with more instances (default 255; midi 16, it denoises "
                        "all instances jointly)")
    g = p.add_argument_group("layout")
    g.add_argument("--library", default="data/library", help="asset library folder")
    g.add_argument("--features", choices=["auto", "classical", "dinov2"], default="auto",
                   help="appearance features for retrieval (dinov2 needs --dinov2-weights)")
    g.add_argument("--dinov2-weights", default=None, help="local Dinov2Model folder")
    g.add_argument("--depth", choices=["auto", "given", "estimated", "relative", "none"], default="auto",
                   help="how to use the capture's depth (auto: as its depth.json declares; given: metric; "
                        "estimated: a model's metres, scale refitted; relative: unknown scale and shift; "
                        "none: ignore it, single-view metrology)")
    g = p.add_argument_group("midi")
    g.add_argument("--weights", default=None, help="MIDI checkpoint folder (diffusers layout)")
    g.add_argument("--steps", type=int, default=50)
    g.add_argument("--guidance", type=float, default=7.0)
    g.add_argument("--octree-depth", type=int, default=8)
    g.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--extraction", choices=["dense", "hierarchical"], default="hierarchical")
    g.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    g.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    g.add_argument("--pad-image", action="store_true", help="the original's do_image_padding")
    g.add_argument("--register", choices=["off", "auto", "depth", "masks"], default="off",
                   help="put the scene in the camera frame at metric scale (auto: depth if given, else masks)")
    g.add_argument("--texture", choices=["none", "photo"], default="none",
                   help="colour the meshes from the input image (needs --register)")
    g.add_argument("--plausibility", action="store_true", help="registered scenes: rest and separate objects")
    from scenewright.perception.cli import add_input_arguments
    add_input_arguments(p)
    p.set_defaults(func=_dispatch)

    demo = sub.add_parser("demo", help="run the layout method end to end on the shipped capture")
    demo.add_argument("--library", default="data/library")
    demo.add_argument("-o", "--out", default="out/demo")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    demo.set_defaults(func=_demo)
