"""``scenewright app``: serve the web page (gradio) on this machine."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from scenewright.app.jobs import REPO_EXAMPLES, AppSettings
    from scenewright.errors import InputError
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port}: must be in 1..65535")
    if args.max_pixels < 64:
        raise InputError(f"--max-pixels {args.max_pixels}: must be at least 64")
    if not re.fullmatch(r"\d+\s*(b|kb|mb|gb)", args.max_file_size.strip().lower()):
        raise InputError(f"--max-file-size {args.max_file_size!r}: expected a size with its unit, like 200mb, 5gb or 500kb")
    if args.max_instances < 1:
        raise InputError(f"--max-instances {args.max_instances}: must be at least 1")
    if args.models and not Path(args.models).is_dir():
        raise InputError(f"--models {args.models}: folder not found")
    if args.weights and not Path(args.weights).is_dir():
        raise InputError(f"--weights {args.weights}: folder not found")
    for folder in args.examples or []:
        if not Path(folder).is_dir():
            raise InputError(f"--examples {folder}: folder not found")
    from scenewright import config
    library = config.resolve("library", args.library)
    args.library = library.value
    if not (Path(library.value) / "library.json").is_file():
        import logging
        logging.getLogger("scenewright.app").warning(
            f"{library.value}: no asset library (from {library.source}); the page offers only the methods "
            "that need none; choose one with --library DIR or `scenewright config set library DIR`")
    examples = tuple(([str(REPO_EXAMPLES)] if not args.no_default_examples else []) + list(args.examples or []))
    if args.work_dir:
        # old job folders are deleted from it: it must not be, hold or sit in anything the app reads
        from scenewright.fileio import refuse_overlap
        refuse_overlap(args.work_dir, [args.library, args.weights, args.models, *examples])
    settings = AppSettings(library=args.library, host=args.host, port=args.port,
                           weights=args.weights, examples=examples, work_dir=args.work_dir,
                           keep_jobs=args.keep_jobs, warmup=args.warmup,
                           max_pixels=args.max_pixels, max_instances=args.max_instances,
                           max_file_size=args.max_file_size.strip().lower(), models=args.models,
                           device=args.device)
    from scenewright.app import launch_app
    launch_app(settings, block=True)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="serve the web page (local, offline; no share links)",
                       description="Serve the scenewright web page: pick an example or upload a capture, "
                                   "reconstruct it, look at the 3D scene, download it.")
    p.add_argument("--library", default=None,
                   help="asset library (default: `scenewright config show`; missing: methods that need one "
                        "are not offered, with a warning)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--weights", default=None, metavar="DIR",
                   help="model checkpoint folder; enables the methods that need one")
    p.add_argument("--models", default=None, metavar="DIR",
                   help="perception models folder for photo input (default: $SCENEWRIGHT_MODELS, "
                        "else ~/.cache/scenewright/models; `scenewright models download depth detector segmenter`)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the perception models run")
    p.add_argument("--examples", action="append", metavar="DIR",
                   help="folder searched for capture folders to offer as examples (repeatable)")
    p.add_argument("--no-default-examples", action="store_true",
                   help="do not offer the shipped examples/ captures")
    p.add_argument("--work-dir", default=None, help="where job folders go (default: a temporary folder)")
    p.add_argument("--keep-jobs", type=int, default=20, help="job folders kept (older ones are deleted)")
    p.add_argument("--max-pixels", type=int, default=4_000_000,
                   help="largest picture accepted, in pixels (default 4 MP)")
    p.add_argument("--max-file-size", default="200mb",
                   help="largest uploaded file (default 200mb; larger uploads are refused by the server)")
    p.add_argument("--max-instances", type=int, default=64,
                   help="most instances (seg.png ids) per request (default 64; requests run one at a time)")
    p.add_argument("--warmup", choices=["off", "quick", "full"], default="quick",
                   help="at start, in the background: quick = open the library, its index and the renderer; "
                        "full = also every asset's view features and symmetry (≈ 36 s for 481 assets, "
                        "first requests then as fast as later ones); off = the first request does it")
    p.set_defaults(func=_run)
