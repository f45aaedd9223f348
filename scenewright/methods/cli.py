"""``scenewright reconstruct`` and ``scenewright demo``.

Every method is reached the same way: ``--method NAME`` picks it from the registry,
``--library``/``--weights`` give its resources, and its settings come from ``--seed``,
``--config FILE`` and ``--set KEY=VALUE`` (``--help-settings`` lists them all).
"""

from __future__ import annotations

import argparse

from scenewright.methods.registry import DEFAULT_METHOD, method_names


def add_method_arguments(p: argparse.ArgumentParser, library_default: str | None = None) -> None:
    """The options every command running a method shares (reconstruct, batch)."""
    p.add_argument("--method", choices=method_names(), default=DEFAULT_METHOD,
                   help="reconstruction method (" + ", ".join(method_names()) + ")")
    p.add_argument("--library", default=library_default,
                   help="asset library folder (methods that need one; default: `scenewright config show`)")
    p.add_argument("--weights", default=None,
                   help="model checkpoint folder (methods that need one; default: the models folder's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the method's)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="method settings from a .json or .toml file (applied before --set)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set one method setting (JSON value, dotted keys: pose.render_assets=5); repeatable; "
                        "--help-settings lists them")
    p.add_argument("--help-settings", action="store_true",
                   help="list the chosen --method's settings (default and meaning) and exit")
    p.add_argument("--depth", choices=["given", "estimated", "relative", "none"], default=None,
                   help="take the capture's depth as metric (given), a depth model's metres (estimated), "
                        "up to scale and shift (relative), or leave it out (none), whatever depth.json "
                        "declares (default: as declared; a capture without depth has it estimated unless none)")
    p.add_argument("--max-pixels", type=int, default=16_000_000, metavar="N",
                   help="refuse a larger picture (default 16 MP: minutes of CPU and GBs of RAM beyond)")
    p.add_argument("--max-instances", type=int, default=None, metavar="N",
                   help="refuse a seg.png with more instances (default: the method's max_instances "
                        "setting if it has one, else 255)")


def print_settings_help(method: str) -> int:
    from scenewright.methods.registry import get_method
    from scenewright.settings import settings_help
    cls = get_method(method)
    print(settings_help(cls.Settings, f"{method}: {cls.summary}\n"
                                      f"settings (--set KEY=VALUE, or a --config file of them):"))
    return 0


def input_limits(args: argparse.Namespace, settings) -> tuple[int, int]:
    """(max pixels, max instances) a capture may have for this run; InputError for a bad flag."""
    from scenewright.capture import DEFAULT_MAX_INSTANCES
    from scenewright.errors import InputError
    if args.max_pixels < 64:
        raise InputError(f"--max-pixels {args.max_pixels}: must be at least 64")
    if args.max_instances is not None and args.max_instances < 1:
        raise InputError(f"--max-instances {args.max_instances}: must be at least 1")
    max_instances = args.max_instances
    if max_instances is None:       # MIDI denoises all instances jointly: its setting is the limit
        max_instances = getattr(settings, "max_instances", None) or DEFAULT_MAX_INSTANCES
    return args.max_pixels, max_instances


def _reconstruct(args: argparse.Namespace) -> int:
    from scenewright.errors import InputError
    if args.help_settings:
        return print_settings_help(args.method)
    if args.capture is None or args.out is None:
        raise InputError("reconstruct needs a CAPTURE folder (or a photo) and -o OUT")
    from scenewright.capture import check_limits, load_capture
    from scenewright.config import device_overrides, library_for
    from scenewright.fileio import check_output_dir
    from scenewright.methods.base import Resources
    from scenewright.methods.registry import get_method
    from scenewright.models.used import resolve_method_models
    from scenewright.perception.cli import needs_perception, perceive_path, settings_from_args
    from scenewright.run import run_to_folder
    from scenewright.settings import build_settings

    cls = get_method(args.method)
    overrides = device_overrides(cls.Settings, args.config, args.overrides, getattr(args, "device", None))
    settings = build_settings(cls.Settings, seed=args.seed, config=args.config, overrides=overrides)
    settings_from_args(args)             # bad photo options (--fov 500) fail before anything loads
    # --weights, else the models folder's checkpoint; DINOv2 features from the models folder too.
    weights = resolve_method_models(cls, settings, args.weights, args.models)
    resources = Resources(library=library_for(cls.needs, args.library, check=False), weights=weights)
    inputs = [args.capture, args.seg, args.models, *resources.paths(cls.needs), *cls.reads(settings)]
    # Before any work: an unusable -o (a file, a non-empty folder without --overwrite, an
    # input or a folder holding one) must not cost a whole reconstruction.
    check_output_dir(args.out, overwrite=args.overwrite, inputs=inputs)
    max_pixels, max_instances = input_limits(args, settings)
    # Size limits from the image headers: refuse before the library or weights load.
    check_limits(args.capture, max_pixels=max_pixels, max_instances=max_instances)
    capture, perception = args.capture, None
    perceive = needs_perception(args, cls)      # a photo, or a capture missing what the method needs
    if not perceive:                     # a bad capture (camera.json, seg) is named before the library
        capture = load_capture(args.capture, require_seg="seg" in cls.capture_needs)
    library_for(cls.needs, args.library)        # a missing library: where its path came from, how to fix it
    if perceive:
        capture, perception = perceive_path(args.capture, args)
        if len(capture.instance_ids) > max_instances:
            raise InputError(f"{args.capture}: {len(capture.instance_ids)} instances found, more than "
                             f"the limit of {max_instances} (raise it: --max-instances)")
    try:
        scene = run_to_folder(capture, args.out, cls, settings, resources, overwrite=args.overwrite,
                              preview=not args.no_preview, progress=True, inputs=inputs,
                              perception=perception, room=not args.no_room, ceiling=args.ceiling,
                              settle=args.settle, depth=args.depth)
    finally:
        resources.close()
    n_mesh = sum(i.mesh is not None for i in scene.instances)
    print(f"wrote {args.out}: {n_mesh}/{len(scene.instances)} objects with a mesh, {len(scene.relations)} "
          f"relations ({', '.join(f'{k} {v:.1f}' for k, v in scene.timings_s.items())} s)")
    for note in scene.extra.get("notes", []):
        print(f"note: {note}")
    if scene.extra.get("physics", {}).get("settled"):
        from scenewright.physics.cli import settle_summary
        print(settle_summary(scene.extra["physics"]))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from scenewright.demo import run_demo
    return run_demo(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="capture folder or photo → scene folder (" + ", ".join(method_names()) + ")")
    p.add_argument("capture", nargs="?",
                   help="capture folder (rgb.png, seg.png, depth, camera.json) or a photo (perceived first)")
    p.add_argument("-o", "--out", help="output scene folder")
    add_method_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-preview", action="store_true", help="do not render preview.png")
    p.add_argument("--no-room", action="store_true",
                   help="leave floor and walls out of scene.glb (and out of its exports)")
    p.add_argument("--ceiling", action="store_true", help="add a ceiling to the room")
    p.add_argument("--settle", action="store_true",
                   help="drop the scene under gravity (MuJoCo, 2 s) and keep the poses where objects came "
                        "to rest; scene.json records the report (`scenewright settle` for its options)")
    from scenewright.perception.cli import add_input_arguments
    add_input_arguments(p)
    p.set_defaults(func=_reconstruct)

    demo = sub.add_parser("demo", help="run the layout method end to end on the shipped capture")
    demo.add_argument("--library", default=None,
                      help="asset library, built there when missing (default: `scenewright config show`)")
    demo.add_argument("-o", "--out", default="out/demo")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    demo.set_defaults(func=_demo)
