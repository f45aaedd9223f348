"""``scenewright app``: serve the web page (gradio) on this machine."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scenewright.app.jobs import REPO_EXAMPLES, AppSettings
    from scenewright.errors import InputError
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port}: must be in 1..65535")
    if args.max_pixels < 64:
        raise InputError(f"--max-pixels {args.max_pixels}: must be at least 64")
    if args.weights and not Path(args.weights).is_dir():
        raise InputError(f"--weights {args.weights}: folder not found")
    for folder in args.examples or []:
        if not Path(folder).is_dir():
            raise InputError(f"--examples {folder}: folder not found")
    examples = tuple(([str(REPO_EXAMPLES)] if not args.no_default_examples else []) + list(args.examples or []))
    settings = AppSettings(library=args.library, host=args.host, port=args.port,
                           weights=args.weights, examples=examples, work_dir=args.work_dir,
                           keep_jobs=args.keep_jobs, warmup=args.warmup,
                           max_pixels=args.max_pixels)
    from scenewright.app import launch_app
    launch_app(settings, block=True)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="serve the web page (local, offline; no share links)",
                       description="Serve the scenewright web page: pick an example or upload a capture, "
                                   "reconstruct it, look at the 3D scene, download it.")
    p.add_argument("--library", default="data/library",
                   help="asset library (missing: methods that need one are not offered)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--weights", default=None, metavar="DIR",
                   help="model checkpoint folder; enables the methods that need one")
    p.add_argument("--examples", action="append", metavar="DIR",
                   help="folder searched for capture folders to offer as examples (repeatable)")
    p.add_argument("--no-default-examples", action="store_true",
                   help="do not offer the shipped examples/ captures")
    p.add_argument("--work-dir", default=None, help="where job folders go (default: a temporary folder)")
    p.add_argument("--keep-jobs", type=int, default=20, help="job folders kept (older ones are deleted)")
    p.add_argument("--max-pixels", type=int, default=4_000_000,
                   help="largest picture accepted, in pixels (default 4 MP)")
    p.add_argument("--warmup", choices=["off", "quick", "full"], default="quick",
                   help="at start, in the background: quick = open the library, its index and the renderer; "
                        "full = also every asset's view features and symmetry (≈ 36 s for 481 assets, "
                        "first requests then as fast as later ones); off = the first request does it")
    p.set_defaults(func=_run)
