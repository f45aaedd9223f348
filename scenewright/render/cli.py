"""``scenewright render SCENE_DIR -o preview.png [--over CAPTURE_DIR] [--size W H]``."""

from __future__ import annotations

import argparse

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def render_from_args(args: argparse.Namespace) -> int:
    """Render a scene folder to an image file; every bad input is an InputError."""
    import json
    import time
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from scenewright.errors import InputError
    from scenewright.fileio import atomic_file, refuse_to_replace
    from scenewright.render.scene_render import PreviewSettings, render_scene
    from scenewright.scene import read_scene

    out = Path(args.out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{out}: output must be a .png or .jpg file")
    if out.is_dir():
        raise InputError(f"{out}: is a folder, expected an image file name")
    refuse_to_replace(out, args.overwrite, empty_folder_ok=False)
    scene_dir = Path(args.scene)
    if not scene_dir.is_dir():
        raise InputError(f"{scene_dir}: scene folder not found")
    if args.size is not None and (min(args.size) < 1 or max(args.size) > 16384):
        raise InputError(f"--size {args.size[0]} {args.size[1]}: width and height must be in 1..16384")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha {args.alpha}: must be in [0, 1]")

    t0 = time.perf_counter()
    scene = read_scene(scene_dir)
    capture = None
    if args.over is not None:
        from scenewright.capture import load_capture
        capture = load_capture(args.over, require_seg=False)
    notes: list[str] = []
    settings = PreviewSettings(alpha=args.alpha, outline=not args.no_outline,
                               include_room=args.room)
    image = render_scene(scene, over=capture, size=tuple(args.size) if args.size else None,
                         settings=settings, notes=notes)
    elapsed = time.perf_counter() - t0
    with atomic_file(out) as tmp:
        img = Image.fromarray(np.asarray(image, np.uint8))
        if out.suffix.lower() == ".png":
            # the settings, notes and timing travel with the image (a PNG text chunk)
            from PIL.PngImagePlugin import PngInfo
            info = PngInfo()
            info.add_text("scenewright", json.dumps({
                "command": "render", "scene": str(scene_dir), "over": args.over,
                "size": [int(image.shape[1]), int(image.shape[0])], "settings": settings.to_json(),
                "notes": notes, "time_s": round(elapsed, 3)}))
            img.save(tmp, format="PNG", pnginfo=info)
        else:
            img.save(tmp, format="JPEG", quality=92)
    for msg in notes:
        print(f"note: {msg}")
    h, w = image.shape[:2]
    print(f"wrote {out} ({w}x{h}, {len(scene.instances)} instances, {elapsed:.2f} s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a scene folder to an image (optionally over its capture)")
    p.add_argument("scene", help="scene folder (scene.json + scene.glb)")
    p.add_argument("-o", "--out", required=True, help="output image (.png or .jpg)")
    p.add_argument("--over", default=None, metavar="CAPTURE_DIR",
                   help="blend the render over this capture's rgb.png")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="output size (default: the capture's, else the scene camera's)")
    p.add_argument("--alpha", type=float, default=0.8, help="object opacity over the capture")
    p.add_argument("--no-outline", action="store_true", help="do not outline instances")
    p.add_argument("--room", action=argparse.BooleanOptionalAction, default=None,
                   help="draw floor/walls (default: only without --over)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output image")
    p.set_defaults(func=render_from_args)
