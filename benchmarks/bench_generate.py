"""Benchmark generator: speed per scene and the quality of what it makes.

    .venv/bin/python benchmarks/bench_generate.py --library data/library --scenes 5 --size 512

Makes a benchmark in a temporary folder (or ``--out``), then reads every scene back
and checks it with the independent checks of ``tests/bench/checks.py`` (trimesh, fcl,
manifold3d): interpenetrating pairs, floating objects, wall gaps, rest gaps on
supports, camera ranges. Prints one JSON report (timings in seconds per stage).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from checks import (back_gap_to_wall, camera_params, interpenetrating_pairs,  # noqa: E402
                    rest_gap_on, wall_planes)

from scenewright.bench.generate import BenchSettings, make_bench  # noqa: E402
from scenewright.capture import load_capture  # noqa: E402
from scenewright.library.categories import category_info  # noqa: E402
from scenewright.scene import read_scene  # noqa: E402


def check_bench(folder: Path) -> dict:
    """Quality numbers of a benchmark folder (independent of the generator's own bookkeeping)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    stats = {"scenes": len(manifest["scenes"]), "instances": [], "pairs_interpenetrating": 0,
             "floating": 0, "wall_gap_max_m": 0.0, "rest_gap_max_m": 0.0, "seg_gt_id_mismatch": 0,
             "relations": {}, "themes": {}, "camera": {"height": [], "pitch_deg": [], "hfov_deg": []},
             "categories": {}, "labels_distinct": set()}
    for name in manifest["scenes"]:
        gt = read_scene(folder / name / "gt")
        cap = load_capture(folder / name / "capture")
        ids = sorted(i.id for i in gt.instances)
        stats["seg_gt_id_mismatch"] += int(cap.instance_ids != ids)
        stats["instances"].append(len(ids))
        theme = gt.extra["bench"]["theme"]
        stats["themes"][theme] = stats["themes"].get(theme, 0) + 1
        for r in gt.relations:
            stats["relations"][r.type] = stats["relations"].get(r.type, 0) + 1
        walls = wall_planes(gt)
        on = {r.subject: r.object for r in gt.relations if r.type == "on"}
        for r in gt.relations:
            if r.type == "against_wall":
                stats["wall_gap_max_m"] = max(stats["wall_gap_max_m"],
                                              back_gap_to_wall(gt.instance(r.subject), walls[r.wall]))
        for inst in gt.instances:
            stats["categories"][inst.category] = stats["categories"].get(inst.category, 0) + 1
            stats["labels_distinct"].add(inst.label)
            if inst.id in on:
                gap = rest_gap_on(inst, gt.instance(on[inst.id]))
                stats["rest_gap_max_m"] = max(stats["rest_gap_max_m"], gap)
                stats["floating"] += int(not 0 <= gap <= 0.005)
            elif category_info(inst.category).role != "small":
                stats["floating"] += int(abs(inst.world_mesh().vertices[:, 1].min()) > 0.005)
            else:
                stats["floating"] += 1
        stats["pairs_interpenetrating"] += len(interpenetrating_pairs(gt))
        for k, v in camera_params(gt).items():
            if k in stats["camera"]:
                stats["camera"][k].append(round(v, 2))
    n = stats["instances"]
    stats["instances"] = {"mean": round(statistics.mean(n), 2), "min": min(n), "max": max(n)}
    stats["camera"] = {k: [min(v), max(v)] for k, v in stats["camera"].items()}
    stats["labels_distinct"] = len(stats["labels_distinct"])
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default=str(ROOT / "data" / "library"))
    ap.add_argument("--scenes", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep the benchmark here (default: a temporary folder)")
    args = ap.parse_args()
    settings = BenchSettings(scenes=args.scenes, seed=args.seed, size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "bench"
        t0 = time.perf_counter()
        manifest = make_bench(out, args.library, settings, overwrite=bool(args.out), progress=True)
        wall = time.perf_counter() - t0
        per = manifest["timings_s"]["per_scene"]
        stages = {k: round(float(np.mean([p[k] for p in per])), 3) for k in per[0] if k != "scene"}
        report = {"library": manifest["library"], "library_version": manifest["library_version"],
                  "size": args.size, "scenes": args.scenes, "seconds_total": round(wall, 1),
                  "seconds_per_scene": stages,
                  "seconds_per_scene_max": round(max(p["total"] for p in per), 3),
                  "quality": check_bench(out)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
