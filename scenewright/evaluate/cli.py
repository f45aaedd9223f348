"""``scenewright eval PRED_ROOT BENCH [--out report.json]``: score predictions against a benchmark.

``scenewright eval perception BENCH [--json out.json]``: measure the perception stage (floor,
walls, object boxes, scene graph) against the benchmark's ground truth.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score predicted scene folders (or perception) against a benchmark folder",
                       usage="scenewright eval PRED_ROOT BENCH [options]\n"
                             "       scenewright eval perception BENCH [perception options]")
    p.add_argument("pred_root", help="folder with one predicted scene folder per benchmark scene, or the word "
                                     "'perception' to measure perception (write ./perception for a folder so named)")
    p.add_argument("bench", help="benchmark folder (manifest.json + scene_XXXX/{capture,gt})")
    p.add_argument("--out", default=None, help="write the full report (JSON) here")
    p.add_argument("--points", type=int, default=20480, help="surface points per object")
    p.add_argument("--seed", type=int, default=0, help="base seed of the point sampling")
    p.add_argument("--icp-iterations", type=int, default=50)
    p.add_argument("--icp-points", type=int, default=8192,
                   help="pred points ICP estimates its transform on (0 = all; metrics always use all)")
    p.add_argument("--symmetry-source", choices=("geometry", "category"), default="geometry",
                   help="symmetry group of the symmetric rotation error: from the GT mesh (categories "
                        "with symmetry 'none' stay 'none'; default) or from the category alone (evaluator 1.0)")
    p.add_argument("--symmetry-tol", type=float, default=0.01,
                   help="allowed excess mean Chamfer distance of a turned GT shape, fraction of its bbox diagonal")
    p.add_argument("--exempt-category", action="append", default=[],
                   help="category left out of the plausibility checks (repeatable; reported)")
    g = p.add_argument_group("perception options (scenewright eval perception BENCH)")
    g.add_argument("--limit", type=int, default=None, help="only the first N scenes")
    g.add_argument("--json", default=None, help="write per-scene results and the summary here")
    g.add_argument("--depth-noise", type=float, default=0.0, help="multiplicative depth noise σ (e.g. 0.02)")
    g.add_argument("--nan-fraction", type=float, default=0.0, help="share of depth pixels dropped")
    g.add_argument("--default-camera", action="store_true", help="ignore camera.json (default field of view)")
    g.add_argument("--estimate-focal", action="store_true", help="PerceptionSettings(estimate_focal=True)")
    p.set_defaults(func=run_eval)


def run_perception(args: argparse.Namespace) -> int:
    import json

    from scenewright.evaluate.perception import measure_bench
    from scenewright.fileio import write_json
    from scenewright.perception import PerceptionSettings
    result = measure_bench(args.bench, PerceptionSettings(estimate_focal=args.estimate_focal), limit=args.limit,
                           depth_noise=args.depth_noise, nan_fraction=args.nan_fraction,
                           default_camera=args.default_camera)
    print(json.dumps(result["summary"], indent=2, default=float))
    if args.json:
        write_json(args.json, result)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    if args.pred_root == "perception":
        return run_perception(args)
    from rich.console import Console

    from scenewright.errors import InputError
    from scenewright.evaluate.evaluator import EvalSettings, evaluate_bench, read_manifest
    from scenewright.evaluate.plausibility import PlausibilitySettings
    from scenewright.evaluate.report import print_report
    from scenewright.geometry.symmetry import SymmetrySettings
    from scenewright.fileio import check_output_file, write_json
    from scenewright.progress import make_progress
    from pathlib import Path

    if args.out:     # before the evaluation: an unusable --out must not cost a whole run
        check_output_file(args.out, overwrite=True, inputs=[args.pred_root, args.bench])
    if args.points < 100:
        raise InputError(f"--points {args.points}: need at least 100 points per object")
    if args.icp_iterations < 0:
        raise InputError(f"--icp-iterations {args.icp_iterations}: must be ≥ 0")
    if not 0 < args.symmetry_tol < 1:
        raise InputError(f"--symmetry-tol {args.symmetry_tol}: must be in (0, 1)")
    settings = EvalSettings(points_per_object=args.points, seed=args.seed,
                            icp_iterations=args.icp_iterations, icp_max_points=args.icp_points,
                            plausibility=PlausibilitySettings(exempt_categories=tuple(args.exempt_category)),
                            symmetry=SymmetrySettings(source=args.symmetry_source, tol=args.symmetry_tol))
    console = Console(stderr=True)
    n = len(read_manifest(Path(args.bench)))
    with make_progress(True, "eval", transient=True) as bar:
        task = bar.add_task("", total=n)
        seen = []

        def step(name: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(name)
            bar.update(task, description=name)
        report = evaluate_bench(args.pred_root, args.bench, settings, progress=step)
        bar.advance(task)
    print_report(report, Console())
    if args.out:
        write_json(args.out, report)
        console.print(f"report written to {args.out}")
    return 0
