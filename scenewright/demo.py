"""``scenewright demo`` (``make demo``): the layout method end to end on the shipped capture.

1. Build the asset library from the Debian Sweet Home 3D catalogs if it is missing
   or unfinished (the build resumes where it stopped).
2. Reconstruct ``examples/living_room/capture`` with the layout method.
3. Write ``OUT/scene.glb``, ``scene.json`` and ``preview.png`` and print a summary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scenewright.config import shipped_examples
from scenewright.errors import InputError
from scenewright.fileio import check_output_dir, refuse_overlap
from scenewright.library.build import build_library
from scenewright.library.sources import DEFAULT_CATALOG_DIR
from scenewright.methods.base import Resources
from scenewright.methods.registry import DEFAULT_METHOD
from scenewright.run import run_to_folder

EXAMPLE = shipped_examples() / "living_room" / "capture"


def _library_ready(folder: Path) -> bool:
    info = folder / "library.json"
    if not (info.is_file() and (folder / "index.sqlite").is_file()):
        return False
    try:
        return json.loads(info.read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def ensure_library(folder: str | Path, workers: int = 2) -> Path:
    """Build (or finish building) the library at ``folder`` from the Debian catalogs."""
    folder = Path(folder)
    if _library_ready(folder):
        return folder
    print(f"building the asset library in {folder} (resumable; a few minutes on 2 cores)")
    report = build_library(folder, None, workers=workers, progress=True)
    print(report.summary())
    return folder


def run_demo(args) -> int:
    """CLI entry of ``scenewright demo --library LIB -o OUT [--overwrite]``."""
    from scenewright.config import get
    args.library = get("library", args.library)
    capture = Path(getattr(args, "capture", None) or EXAMPLE)
    if not (capture / "rgb.png").is_file():
        raise InputError(f"{capture}: the demo capture is missing (examples/living_room/capture)")
    # Before the library build (minutes): the scene folder and the library it may build must
    # stay clear of each other and of the capture and the catalogs.
    check_output_dir(args.out, getattr(args, "overwrite", False), inputs=[capture, args.library])
    refuse_overlap(args.library, [capture, DEFAULT_CATALOG_DIR, args.out])
    library = ensure_library(args.library)
    t0 = time.perf_counter()
    resources = Resources(library=library)
    try:
        scene = run_to_folder(capture, args.out, DEFAULT_METHOD, resources=resources,
                              overwrite=getattr(args, "overwrite", False), preview=True, progress=True)
    finally:
        resources.close()
    wall = time.perf_counter() - t0
    out = Path(args.out)
    print(f"demo: {capture} → {out}")
    for inst in scene.instances:
        x, y, z = inst.world_from_object[:3, 3]
        print(f"  inst_{inst.id:<3d} {str(inst.label)[:22]:22s} → {inst.category:13s} {inst.asset_id:40s} "
              f"at ({x:+.2f}, {y:+.2f}, {z:+.2f}) m  score {inst.score:.2f}")
    kinds: dict[str, int] = {}
    for r in scene.relations:
        kinds[r.type] = kinds.get(r.type, 0) + 1
    print(f"  relations: {kinds or 'none'}")
    print("  timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in scene.timings_s.items())
          + f"; wall {wall:.1f}")
    files = [p.name for p in sorted(out.iterdir())]
    print(f"  wrote {', '.join(files)}")
    return 0
