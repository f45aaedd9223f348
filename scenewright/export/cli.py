"""``scenewright export SCENE_DIR -o OUT_FILE [--format usd|usda|usdc|usdz|blend|glb] [--overwrite]
[--no-room] [--no-camera] [--no-textures] [--sensor-width MM] [--colors srgb|linear] [--single-sided]``."""

from __future__ import annotations

import argparse

FORMAT_CHOICES = ("usd", "usda", "usdc", "usdz", "blend", "glb")


def export_from_args(args: argparse.Namespace) -> int:
    """Export a scene folder to one file; every bad input is an InputError (exit 2)."""
    import sys
    import time
    from pathlib import Path

    from scenewright.export import ExportSettings, export_scene, infer_format, texture_dir_for

    settings = ExportSettings(room=not args.no_room, camera=not args.no_camera, textures=not args.no_textures,
                              sensor_width_mm=args.sensor_width, srgb_colors=args.colors == "srgb",
                              double_sided=not args.single_sided)
    t0 = time.perf_counter()
    out = export_scene(args.scene, args.out, format=args.format, settings=settings, overwrite=args.overwrite,
                       progress=not args.quiet and sys.stderr.isatty())
    elapsed = time.perf_counter() - t0
    fmt = infer_format(out, args.format)
    size = out.stat().st_size
    extra = ""
    tex = texture_dir_for(Path(out))
    if fmt in ("usd", "usda", "usdc") and tex.is_dir():
        n = len(list(tex.iterdir()))
        extra = f", {n} texture{'s' if n != 1 else ''} in {tex}"
    print(f"wrote {out} ({fmt}, {size / 1e6:.2f} MB{extra}, {elapsed:.2f} s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a scene folder to USD (usda/usdc/usdz), Blender (.blend) or GLB",
                       description="Export a scene folder (scene.glb + scene.json) to one file. Objects keep "
                                   "their transforms (world_from_object), materials and textures, labels, "
                                   "relations and the assets' attribution; the room and the camera come along "
                                   "unless switched off.")
    p.add_argument("scene", help="scene folder (scene.json + scene.glb)")
    p.add_argument("-o", "--out", required=True, help="output file (.usda .usdc .usd .usdz .blend .glb)")
    p.add_argument("--format", choices=FORMAT_CHOICES, default=None,
                   help="output format (default: from the output file's extension)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-room", action="store_true", help="leave out floor, walls and ceiling")
    p.add_argument("--no-camera", action="store_true", help="leave out the input camera")
    p.add_argument("--no-textures", action="store_true", help="base colours only, no image textures")
    p.add_argument("--sensor-width", type=float, default=36.0, metavar="MM",
                   help="camera film back width in mm; the focal length follows from K (default 36)")
    p.add_argument("--colors", choices=("srgb", "linear"), default="srgb",
                   help="how to read the scene's colour factors and vertex colours: srgb (default; as "
                        "scenewright renders them, converted to linear for USD/Blender) or linear "
                        "(glTF's rule; copied unchanged)")
    p.add_argument("--single-sided", action="store_true",
                   help="honour each material's doubleSided flag instead of drawing both sides of every "
                        "triangle as scenewright's renderer does")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=export_from_args)
