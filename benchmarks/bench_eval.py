"""Evaluator benchmark: its speed per scene, and the scores of ground truth and of the box baseline.

    .venv/bin/python benchmarks/bench_eval.py --bench data/bench-512 [--scenes N] [--points 20480]
    .venv/bin/python benchmarks/bench_eval.py --toy 5          # a toy bench of primitives instead

For the chosen benchmark: (1) ground truth scored against itself (must be perfect),
(2) the box baseline (``reconstruct --method boxes``) on every capture, then scored.
Prints one JSON report: summary means, pooled AUCs, failures, evaluator seconds per scene
(wall and CPU; the machine is shared, so CPU time is the steadier number). Full reports
go to ``--out`` (default ``out/bench_eval``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scenewright.capture import load_capture
from scenewright.evaluate.evaluator import EvalSettings, evaluate_bench, read_manifest
from scenewright.testing.toy_bench import ToyBenchSettings, make_toy_bench
from scenewright.fileio import atomic_dir, dumps_json, write_json
from scenewright.methods.boxes import reconstruct_boxes
from scenewright.scene import write_scene

KEYS = ["recovery", "p1_cd_s", "p1_f_s", "p1_cd_o", "p1_f_o", "p1_iou_b", "p2_cd", "p2_f@0.05",
        "p2_f@0.1", "rot_err_deg", "rot_err_sym_deg", "trans_err_m", "auc_rot60", "auc_rot60_sym",
        "auc_trans0.5", "n_interpenetrating_pairs", "n_floating", "n_below_floor"]


def subset_bench(bench: Path, n: int | None, work: Path) -> Path:
    """``bench`` itself, or a folder of symlinks to its first ``n`` scenes."""
    names = read_manifest(bench)
    if n is None or n >= len(names):
        return bench
    sub = work / "bench"
    sub.mkdir(parents=True)
    manifest = json.loads((bench / "manifest.json").read_text())
    manifest["scenes"] = names[:n]
    (sub / "manifest.json").write_text(dumps_json(manifest))
    for name in names[:n]:
        (sub / name).symlink_to((bench / name).resolve())
    return sub


def brief(report: dict) -> dict:
    return {"summary": {k: report["summary"][k]["mean"] for k in KEYS},
            "pooled": report["pooled"], "n_failures": len(report["failures"]),
            "failures": report["failures"][:10],
            "seconds_per_scene": report["timings_s"]["per_scene_mean"],
            "cpu_seconds_per_scene": report["timings_s"]["per_scene_cpu_mean"],
            "interpenetration_methods": sorted({p["method"] for s in report["scenes"]
                                                for p in ((s.get("plausibility") or {}).get("pairs_checked") or [])})}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="data/bench-512")
    ap.add_argument("--toy", type=int, default=0, help="use a toy bench of N scenes instead")
    ap.add_argument("--scenes", type=int, default=None, help="only the first N scenes")
    ap.add_argument("--points", type=int, default=20480)
    ap.add_argument("--out", default="out/bench_eval")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = EvalSettings(points_per_object=args.points)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.toy:
            bench = make_toy_bench(work / "toy", ToyBenchSettings(n_scenes=args.toy, objects_per_scene=8,
                                                                  width=256, height=192))
        else:
            bench = subset_bench(Path(args.bench), args.scenes, work)
        names = read_manifest(bench)
        result = {"bench": str(args.bench if not args.toy else f"toy({args.toy})"), "scenes": len(names),
                  "points_per_object": args.points}

        gt_root = work / "gt_pred"
        gt_root.mkdir()
        for name in names:
            shutil.copytree(bench / name / "gt", gt_root / name)
        rep = evaluate_bench(gt_root, bench, settings, progress=lambda n: print(f"gt {n}", file=sys.stderr))
        write_json(out / "gt_vs_gt.json", rep)
        result["ground_truth"] = brief(rep)

        t = time.perf_counter()
        box_root = work / "boxes"
        with atomic_dir(box_root) as folder:
            for name in names:
                scene = reconstruct_boxes(load_capture(bench / name / "capture"))
                write_scene(scene, folder / name)
        result["boxes_reconstruct_s_per_scene"] = (time.perf_counter() - t) / len(names)
        rep = evaluate_bench(box_root, bench, settings, progress=lambda n: print(f"boxes {n}", file=sys.stderr))
        write_json(out / "boxes.json", rep)
        result["boxes"] = brief(rep)
    print(dumps_json(result))
    write_json(out / "summary.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
