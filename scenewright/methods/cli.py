"""``scenewright reconstruct``, ``scenewright models`` and ``scenewright demo``.

Every method is reached the same way: ``--method NAME`` picks it from the registry,
``--library``/``--weights`` give its resources, and its settings come from ``--seed``,
``--config FILE`` and ``--set KEY=VALUE`` (``--help-settings`` lists them all).
"""

from __future__ import annotations

import argparse

from scenewright.methods.registry import DEFAULT_METHOD, method_names


def add_method_arguments(p: argparse.ArgumentParser, library_default: str | None = "data/library") -> None:
    """The options every command running a method shares (reconstruct, batch)."""
    p.add_argument("--method", choices=method_names(), default=DEFAULT_METHOD,
                   help="reconstruction method (" + ", ".join(method_names()) + ")")
    p.add_argument("--library", default=library_default, help="asset library folder (methods that need one)")
    p.add_argument("--weights", default=None, help="model checkpoint folder (methods that need one)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the method's)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="method settings from a .json or .toml file (applied before --set)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set one method setting (JSON value, dotted keys: pose.render_assets=5); repeatable; "
                        "--help-settings lists them")
    p.add_argument("--help-settings", action="store_true",
                   help="list the chosen --method's settings (default and meaning) and exit")


def print_settings_help(method: str) -> int:
    from scenewright.methods.registry import get_method
    from scenewright.settings import settings_help
    cls = get_method(method)
    print(settings_help(cls.Settings, f"{method}: {cls.summary}\n"
                                      f"settings (--set KEY=VALUE, or a --config file of them):"))
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    from scenewright.errors import InputError
    if args.help_settings:
        return print_settings_help(args.method)
    if args.capture is None or args.out is None:
        raise InputError("reconstruct needs a CAPTURE folder and -o OUT")
    from scenewright.methods.base import Resources
    from scenewright.methods.registry import get_method
    from scenewright.run import run_to_folder
    from scenewright.settings import build_settings

    cls = get_method(args.method)
    settings = build_settings(cls.Settings, seed=args.seed, config=args.config, overrides=args.overrides)
    resources = Resources(library=args.library, weights=args.weights)
    try:
        scene = run_to_folder(args.capture, args.out, args.method, settings, resources,
                              overwrite=args.overwrite, preview=not args.no_preview, progress=True)
    finally:
        resources.close()
    n_mesh = sum(i.mesh is not None for i in scene.instances)
    print(f"wrote {args.out}: {n_mesh}/{len(scene.instances)} objects with a mesh, {len(scene.relations)} "
          f"relations ({', '.join(f'{k} {v:.1f}' for k, v in scene.timings_s.items())} s)")
    for note in scene.extra.get("notes", []):
        print(f"note: {note}")
    return 0


def _models_download(args: argparse.Namespace) -> int:
    from scenewright.methods.midi.weights import download_cli
    return download_cli(args)


def _demo(args: argparse.Namespace) -> int:
    from scenewright.demo import run_demo
    return run_demo(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="capture folder → scene folder (" + ", ".join(method_names()) + ")")
    p.add_argument("capture", nargs="?", help="capture folder (rgb.png, seg.png, depth, camera.json)")
    p.add_argument("-o", "--out", help="output scene folder")
    add_method_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-preview", action="store_true", help="do not render preview.png")
    p.set_defaults(func=_reconstruct)

    m = sub.add_parser("models", help="fetch model weights (when online)")
    msub = m.add_subparsers(dest="models_command", required=True)
    d = msub.add_parser("download", help="download a checkpoint with huggingface_hub")
    d.add_argument("name", choices=["midi"])
    d.add_argument("--to", default=None, help="target folder (default: the cache folder)")
    d.set_defaults(func=_models_download)

    demo = sub.add_parser("demo", help="run the layout method end to end on the shipped capture")
    demo.add_argument("--library", default="data/library")
    demo.add_argument("-o", "--out", default="out/demo")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(func=_demo)
