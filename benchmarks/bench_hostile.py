"""Hostile sizes: a capture with many tiny instances, and a very large photo, end to end.

Cases (each reconstructed by ``scenewright reconstruct --method layout`` in a fresh process,
timed by wall clock with its peak resident memory and the scene's per-stage timings):

- ``crowd``  — ``--objects`` (150) small library assets on a floor, rendered with real
               masks and depth (:func:`scenewright.bench.crowd.make_crowded_capture`);
- ``split``  — the shipped living-room capture with its 6 masks cut into ``--objects``
               tiles, each keeping its object's label (an over-eager segmenter,
               :func:`scenewright.bench.crowd.make_split_capture`): tiny instances whose
               retrieved assets overlap heavily — the optimiser's worst case;
- ``big``    — the living-room capture resampled to ``--big`` × ``--big`` pixels.

For ``crowd`` and ``split`` the layout optimiser alone is also timed on the very same
pre-optimisation layout (the pipeline run with ``optimize=False``, then the graph and
``optimize_layout`` as the pipeline calls them) with the broad phase and with every pair
checked (``broad_phase=False``, the obvious alternative), and the two results are compared
bit for bit. ``--baseline-src DIR`` (a checkout's folder holding the ``scenewright``
package, e.g. ``git worktree add /tmp/old <commit>``) also runs each case end to end with
that code, for a before/after ratio in one run.

    .venv/bin/python benchmarks/bench_hostile.py --library data/library [--objects 150]
        [--size 512] [--big 6000 | --big 0] [--baseline-src DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from machine_info import machine

ROOT = Path(__file__).resolve().parents[1]
LIVING_ROOM = ROOT / "examples" / "living_room" / "capture"


def reconstruct(capture: Path, out: Path, library: Path, src: Path, timeout: float) -> dict:
    """Run the CLI in a fresh process with ``src`` first on the path: wall seconds, peak RSS
    (MB, from the kernel's accounting of that process), exit code, the scene's stage timings."""
    env = {**os.environ, "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "scenewright", "reconstruct", str(capture), "-o", str(out),
           "--method", "layout", "--library", str(library), "--no-preview", "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    result = {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": proc.returncode,
              "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}
    if proc.returncode == 0:
        scene = json.loads((out / "scene.json").read_text())
        result["stages_s"] = scene.get("timings_s", {})
        result["instances"] = len(scene["instances"])
        result["remaining_collisions"] = len(scene.get("optimize", {}).get("colliding_pairs", []))
    else:
        result["error"] = err.strip().splitlines()[-1] if err.strip() else f"killed after {timeout:.0f} s"
    return result


def optimiser_only(capture: Path, library, tmp: Path) -> dict:
    """The layout optimiser on the pipeline's pre-optimisation layout: broad phase vs all pairs."""
    from scenewright.geometry.planes import Plane
    from scenewright.methods.layout.optimize import optimize_layout
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.run import run_to_folder
    from scenewright.methods.layout.scene_graph import build_scene_graph

    settings = LayoutSettings(optimize=False)
    scene = run_to_folder(capture, tmp / "unoptimised", "layout", settings, Resources(library=library),
                          overwrite=True, preview=False)
    floor = Plane(np.zeros(3), np.array([0.0, 1.0, 0.0])) if scene.floor is not None else None
    walls = [Plane.from_any(w) for w in scene.walls]
    relations = build_scene_graph(scene.instances, floor=floor, walls=walls, settings=settings.arrange.graph)
    runs = {}
    for name, broad in (("broad_phase", True), ("all_pairs", False)):
        t0 = time.perf_counter()
        items, report = optimize_layout(scene.instances, floor=floor, walls=walls, relations=relations,
                                        settings=settings.arrange.optimize, broad_phase=broad)
        runs[name] = (time.perf_counter() - t0, items, report)
    (t_fast, fast, rep_fast), (t_slow, slow, rep_slow) = runs["broad_phase"], runs["all_pairs"]
    same = all(np.array_equal(a.world_from_object, b.world_from_object) for a, b in zip(fast, slow)) and \
        rep_fast["colliding_pairs"] == rep_slow["colliding_pairs"]
    moved = sum(m["dxz_m"] > 0 or m["dy_m"] != 0 for m in rep_fast["moves"])
    return {"objects": len(scene.instances), "relations": len(relations), "moved": moved,
            "sweeps": rep_fast["sweeps"], "remaining_collisions": len(rep_fast["colliding_pairs"]),
            "broad_phase_s": round(t_fast, 3), "all_pairs_s": round(t_slow, 3),
            "speedup": round(t_slow / t_fast, 2) if t_fast > 0 else None,
            "broad_phase_stages_s": {k: round(v, 3) for k, v in rep_fast["timings_s"].items()},
            "all_pairs_stages_s": {k: round(v, 3) for k, v in rep_slow["timings_s"].items()},
            "identical_results": bool(same)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--library", required=True, help="asset library folder (the full one: scenewright library build)")
    p.add_argument("--objects", type=int, default=150, help="instances in the crowd and split captures")
    p.add_argument("--size", type=int, default=512, help="crowd capture image side, pixels")
    p.add_argument("--big", type=int, default=6000, help="side of the large capture, pixels (0: skip)")
    p.add_argument("--cases", nargs="+", default=["crowd", "split", "big"], choices=["crowd", "split", "big"])
    p.add_argument("--baseline-src", default=None, help="folder holding an older scenewright package to compare")
    p.add_argument("--no-optimiser-only", action="store_true", help="skip the broad phase vs all pairs timing")
    p.add_argument("--timeout", type=float, default=3600.0, help="per end-to-end run, seconds")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_hostile.json"))
    args = p.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from scenewright.bench.crowd import CrowdSettings, make_crowded_capture, make_split_capture, \
        make_upscaled_capture
    from scenewright.library import Library

    library = Path(args.library).resolve()
    console = Console(width=max(120, Console().width))
    info = machine()
    result = {"benchmark": "bench_hostile", "settings": {k: v for k, v in vars(args).items()},
              "machine": info, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="bench_hostile-") as tmpdir:
        tmp = Path(tmpdir)
        captures = {}
        t0 = time.perf_counter()
        if "crowd" in args.cases:
            crowd = make_crowded_capture(tmp / "crowd", library, CrowdSettings(objects=args.objects, size=args.size))
            captures["crowd"] = (tmp / "crowd" / "capture", {"visible": crowd["visible"], "assets": len(crowd["assets"]),
                                                              "size": args.size})
        if "split" in args.cases:
            captures["split"] = (make_split_capture(LIVING_ROOM, tmp / "split", args.objects),
                                 {"from": "examples/living_room/capture", "tiles": args.objects})
        if "big" in args.cases and args.big > 0:
            captures["big"] = (make_upscaled_capture(LIVING_ROOM, tmp / "big", args.big),
                               {"from": "examples/living_room/capture", "size": args.big})
        result["inputs_s"] = round(time.perf_counter() - t0, 2)
        lib = None
        for name, (capture, about) in captures.items():
            console.print(f"[bold]{name}[/]: {about}")
            case = {"capture": about}
            case["after"] = reconstruct(capture, tmp / f"{name}-after", library, ROOT, args.timeout)
            console.print(f"  this code: {case['after']}")
            if args.baseline_src:
                case["before"] = reconstruct(capture, tmp / f"{name}-before", library, Path(args.baseline_src),
                                             args.timeout)
                console.print(f"  baseline:  {case['before']}")
                if case["before"].get("exit") == 0 and case["after"].get("exit") == 0:
                    case["speedup_end_to_end"] = round(case["before"]["wall_s"] / case["after"]["wall_s"], 2)
            if name != "big" and not args.no_optimiser_only:
                lib = lib or Library.open(library)
                case["optimiser_only"] = optimiser_only(capture, lib, tmp / f"{name}-opt")
                console.print(f"  optimiser: {case['optimiser_only']}")
            result["cases"][name] = case
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    table = Table(title=f"hostile sizes, layout method ({info['cpu']}, {info['cores']} cores, "
                        f"load {info['load_average'][0]})")
    for col in ("case", "code", "wall", "peak RSS", "retrieval", "pose", "optimize", "optimiser: broad phase",
                "all pairs", "ratio"):
        table.add_column(col, justify="right")
    for name, case in result["cases"].items():
        opt = case.get("optimiser_only", {})
        for code in ("before", "after"):
            if code not in case:
                continue
            r = case[code]
            st = r.get("stages_s", {})
            row = [name, "baseline" if code == "before" else "this", f"{r['wall_s']:.1f} s", f"{r['peak_rss_mb']:.0f} MB",
                   f"{st.get('retrieval', float('nan')):.1f} s", f"{st.get('pose', float('nan')):.1f} s",
                   f"{st.get('optimize', float('nan')):.1f} s"]
            if code == "after" and opt:
                row += [f"{opt['broad_phase_s']:.2f} s", f"{opt['all_pairs_s']:.2f} s", f"×{opt['speedup']}"]
            else:
                row += ["", "", f"×{case['speedup_end_to_end']}" if code == "before" and "speedup_end_to_end" in case
                        else ""]
            table.add_row(*row)
    console.print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
