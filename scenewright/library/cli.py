"""``scenewright library build`` and ``scenewright library info``."""

from __future__ import annotations

import argparse


def _build(args: argparse.Namespace) -> int:
    from scenewright.library.build import BuildSettings, build_library
    if args.reuse:
        return _reuse(args)

    sources = list(args.sh3f or []) + list(args.folder or [])
    settings = BuildSettings(n_samples=args.samples, voxel_grid=args.voxels, views=not args.no_views,
                             view_size=args.view_size, missing_textures=args.missing_textures)
    report = build_library(args.out, sources or None, workers=args.workers, limit=args.limit,
                           only=args.only, categories=args.categories, progress=not args.quiet,
                           settings=settings, address=args.address)
    print(report.summary())
    for name, c in report.per_catalog.items():
        print(f"  {name:20s} items {c['items']:4d}  excluded {c['excluded']:4d}  "
              f"selected {c['selected']:4d}  kept {c['kept']:4d}  skipped {c['skipped']:3d}")
    for s in report.skipped:
        print(f"  skipped {s['asset_id']}: {s['reason']}")
    if report.warnings:
        print(f"  {len(report.warnings)} warning(s), listed in {report.out}/library.json")
    return 0


def _reuse(args: argparse.Namespace) -> int:
    """``library build -o LIB --reuse``: add the retrieval index to a built library (nothing rendered)."""
    import time
    from scenewright.library.build import write_retrieval_index
    from scenewright.library.store import Library
    if args.sh3f or args.folder or args.only or args.categories or args.limit is not None:
        from scenewright.errors import InputError
        raise InputError(f"{args.out}: --reuse indexes the library as built; it takes no sources or selection")
    t0 = time.perf_counter()
    lib = Library.open(args.out)
    path = write_retrieval_index(lib.folder, progress=not args.quiet)
    print(f"{path}: retrieval index of {len(lib)} assets written in {time.perf_counter() - t0:.1f} s")
    return 0


def _info(args: argparse.Namespace) -> int:
    from scenewright.library.info import library_info
    print(library_info(args.library, as_json=args.json))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("library", help="build or inspect an asset library")
    lsub = p.add_subparsers(dest="library_command", required=True)

    b = lsub.add_parser("build", help="build (or resume) a library from Sweet Home 3D catalogs or a folder")
    b.add_argument("-o", "--out", required=True, help="library folder (resumed if it exists)")
    b.add_argument("--sh3f", nargs="+", metavar="CATALOG",
                   help="catalog files (default: every .sh3f in /usr/share/sweethome3d/furniture)")
    b.add_argument("--folder", nargs="+", metavar="DIR",
                   help="folders of GLB/OBJ files with assets.csv (id,name,category,width,depth,height in metres)")
    b.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    b.add_argument("--limit", type=int, default=None, help="build only the first N kept assets")
    b.add_argument("--only", nargs="+", metavar="ASSET_ID", help="build only these asset ids")
    b.add_argument("--categories", nargs="+", metavar="CATEGORY", help="build only these categories")
    b.add_argument("--samples", type=int, default=8192, help="surface samples per asset")
    b.add_argument("--voxels", type=int, default=32, help="voxel grid size G (G³ occupancy)")
    b.add_argument("--view-size", type=int, default=128, help="rendered view size in pixels")
    b.add_argument("--no-views", action="store_true", help="do not render views")
    b.add_argument("--missing-textures", choices=["diffuse", "skip"], default="diffuse",
                   help="an MTL naming an absent texture: use its colour (default) or skip the asset")
    b.add_argument("--address", default=None, metavar="local|auto|HOST:PORT",
                   help="build the assets as Ray tasks: local (a private cluster of --workers CPUs), "
                        "auto (the cluster of `ray start --head`) or HOST:PORT; LIB must be shared by every node")
    b.add_argument("--reuse", action="store_true",
                   help="only (re)write the retrieval index LIB/index of an existing library (no rendering)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)

    i = lsub.add_parser("info", help="counts per category, sizes, build settings")
    i.add_argument("library", help="library folder")
    i.add_argument("--json", action="store_true", help="print machine-readable JSON")
    i.set_defaults(func=_info)
