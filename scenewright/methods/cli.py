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


def _dispatch(args: argparse.Namespace) -> int:
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
    g = p.add_argument_group("layout")
    g.add_argument("--library", default="data/library", help="asset library folder")
    g.add_argument("--features", choices=["auto", "classical", "dinov2"], default="auto",
                   help="appearance features for retrieval (dinov2 needs --dinov2-weights)")
    g.add_argument("--dinov2-weights", default=None, help="local Dinov2Model folder")
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
    g.add_argument("--max-instances", type=int, default=16)
    from scenewright.perception.cli import add_input_arguments
    add_input_arguments(p)
    p.set_defaults(func=_dispatch)

    demo = sub.add_parser("demo", help="run the layout method end to end on the shipped capture")
    demo.add_argument("--library", default="data/library")
    demo.add_argument("-o", "--out", default="out/demo")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(func=_demo)
