"""``scenewright bench make``: a benchmark of furnished, rendered rooms with ground truth."""

from __future__ import annotations

import argparse

from scenewright.errors import InputError


def parse_range(text: str, name: str = "--objects") -> tuple[int, int]:
    """``"4-10"`` → (4, 10); ``"6"`` → (6, 6). InputError otherwise."""
    try:
        parts = [int(p) for p in str(text).split("-")]
    except ValueError:
        raise InputError(f"{name} must be N or MIN-MAX (got {text!r})") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] > parts[1] or parts[0] < 1:
        raise InputError(f"{name} must be N or MIN-MAX with 1 ≤ MIN ≤ MAX (got {text!r})")
    return parts[0], parts[1]


def settings_from_args(args: argparse.Namespace):
    from scenewright.bench.generate import BenchSettings
    settings = BenchSettings(scenes=args.scenes, seed=args.seed, size=args.size,
                             objects=parse_range(args.objects),
                             assets_from=tuple(args.assets_from) if args.assets_from else None,
                             min_visible=args.min_visible, min_truncated=args.min_truncated)
    if args.themes:
        settings.themes = tuple(args.themes)
    return settings


def _make(args: argparse.Namespace) -> int:
    from scenewright.bench.generate import make_bench
    from scenewright.config import get
    settings = settings_from_args(args)
    manifest = make_bench(args.out, get("library", args.library), settings, overwrite=args.overwrite,
                          progress=not args.quiet)
    per = manifest["timings_s"]["per_scene"]
    mean = sum(p["total"] for p in per) / len(per)
    print(f"wrote {len(per)} scenes to {args.out} ({mean:.2f} s per scene, "
          f"{manifest['timings_s']['total']:.1f} s in all)")
    return 0


def _degrade(args: argparse.Namespace) -> int:
    from scenewright.bench.degrade import degrade_bench
    manifest = degrade_bench(args.bench, args.out, args.depth, seed=args.seed, overwrite=args.overwrite,
                             progress=not args.quiet, labels=args.labels)
    print(f"wrote {len(manifest['scenes'])} scenes to {args.out} (depth: {args.depth or 'kept'}, "
          f"labels: {'removed' if args.labels == 'none' else 'kept'}, seed {args.seed})")
    return 0


def _photoreal(args: argparse.Namespace) -> int:
    from scenewright.bench.photoreal import PhotorealSettings, photoreal_bench
    settings = PhotorealSettings(samples=args.samples, exposure_range=args.exposure_range, seed=args.seed)
    manifest = photoreal_bench(args.bench, args.out, settings, overwrite=args.overwrite, progress=not args.quiet)
    info = manifest["photoreal"]
    print(f"wrote {len(manifest['scenes'])} scenes to {args.out} (Cycles, {args.samples} samples, "
          f"±{args.exposure_range:g} stops; {info['seconds_per_scene']:.1f} s per scene, "
          f"silhouette IoU ≥ {info['iou_min']:.3f})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark scenes: furnished rooms, rendered captures, ground truth")
    bsub = p.add_subparsers(dest="bench_command", required=True)
    m = bsub.add_parser("make", help="generate a benchmark folder (capture/ + gt/ per scene)")
    m.add_argument("-o", "--out", required=True, help="output benchmark folder")
    m.add_argument("--library", default=None,
                   help="asset library folder (default: `scenewright config show`)")
    m.add_argument("--scenes", type=int, default=10, help="number of scenes")
    m.add_argument("--seed", type=int, default=0, help="random seed (scene i uses [seed, i])")
    m.add_argument("--size", type=int, default=512, help="image width = height in pixels")
    m.add_argument("--assets-from", nargs="+", default=None, metavar="CATALOG",
                   help="only furnish with assets of these catalogs (asset_id prefix = catalog file stem)")
    m.add_argument("--objects", default="4-10", help="objects per room, N or MIN-MAX")
    m.add_argument("--themes", nargs="+", default=None,
                   help="room themes to draw from (living bedroom dining office)")
    m.add_argument("--min-visible", type=int, default=3, help="reject views showing fewer objects")
    m.add_argument("--min-truncated", type=int, default=0,
                   help="reject views with fewer objects cut by the image frame (a truncated-objects split)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=_make)
    d = bsub.add_parser("degrade", help="copy a benchmark with each capture's depth degraded "
                                        "(none / mono estimate / relative disparity) and/or its labels "
                                        "removed; ground truth kept")
    d.add_argument("bench", help="benchmark folder made by 'bench make'")
    d.add_argument("-o", "--out", required=True, help="output benchmark folder")
    d.add_argument("--depth", default=None, choices=["none", "mono", "relative"],
                   help="none: removed; mono: metric estimate (scale 0.8–1.25×, ±8 %% warp, 2 px bleeding, "
                        "1 %% noise); relative: affine-invariant disparity with the same warp and bleeding")
    d.add_argument("--labels", default="keep", choices=["keep", "none"],
                   help="none: every instance unlabelled (\"label\": null), as a photo without labels; "
                        "keep (default): labels as they are")
    d.add_argument("--seed", type=int, default=0, help="random seed (capture i uses [seed, i])")
    d.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    d.add_argument("--quiet", action="store_true", help="no per-scene lines")
    d.set_defaults(func=_degrade)
    r = bsub.add_parser("photoreal", help="copy a benchmark with each picture re-rendered by Blender Cycles "
                                          "(lights, soft shadows, gloss, AgX, exposure; masks, depth, gt kept)")
    r.add_argument("bench", help="benchmark folder made by 'bench make'")
    r.add_argument("-o", "--out", required=True,
                   help="output benchmark folder (run again to finish an interrupted one)")
    r.add_argument("--samples", type=int, default=16, help="Cycles paths per pixel (denoised after)")
    r.add_argument("--exposure-range", type=float, default=1.0, metavar="STOPS",
                   help="exposure offset uniform in ±STOPS around the metered exposure")
    r.add_argument("--seed", type=int, default=0, help="random seed (scene i uses [seed, i])")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_photoreal)
