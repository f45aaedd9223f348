"""``scenewright batch INPUT -o OUT_ROOT --method ...``: many captures, on Ray or in this process."""

from __future__ import annotations

import argparse

from scenewright.methods.cli import add_method_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch", help="reconstruct many captures (a benchmark, a folder or a list) on Ray",
        description="Reconstruct every capture of INPUT into OUT_ROOT/<name>/ (one scene folder each) with "
                    "a pool of Ray workers, each keeping its library, index and renderer warm. "
                    "OUT_ROOT/batch.json records settings, cluster, per-capture status/seconds/worker "
                    "and totals. Exit code 0 when at least one capture succeeded or was already done, "
                    "1 when every capture failed, 2 on bad input.")
    p.add_argument("input", nargs="?", help="benchmark folder (manifest.json), folder of capture folders "
                                 "and/or images (NAME.jpg|png|webp or NAME_rgb.png, optional NAME_seg.png, "
                                 "labels in NAME.txt or labels.json), text file listing them, or one image")
    p.add_argument("-o", "--out", help="output root: one scene folder per capture")
    add_method_arguments(p)
    p.add_argument("--address", default="local",
                   help="local (start a cluster on this machine), auto (join the one `ray start --head` started "
                        "here), HOST:PORT (a head node's address), ray://HOST:PORT (Ray Client) or none "
                        "(in this process, no Ray)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker actors (default: as many as the cluster's CPUs allow)")
    p.add_argument("--cpus-per-task", type=float, default=1.0, help="CPUs each worker reserves")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip captures whose scene.json exists with the same settings")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing scene folders this batch did not write")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=False,
                   help="render preview.png for every scene")
    p.add_argument("--settle", action="store_true",
                   help="settle every scene under gravity (MuJoCo) before writing it, as reconstruct --settle")
    p.add_argument("--no-room", action="store_true",
                   help="leave the room (floor, walls) out of every scene.glb, as reconstruct --no-room")
    p.add_argument("--ceiling", action="store_true", help="add a ceiling to every scene's room")
    p.add_argument("--eval", dest="eval_bench", default=None, metavar="BENCH",
                   help="score the results against this benchmark afterwards (OUT_ROOT/eval.json)")
    p.add_argument("--eval-points", type=int, default=20480, help="surface points per object for --eval")
    p.add_argument("--limit", type=int, default=None, help="only the first N captures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from scenewright.perception.cli import add_input_arguments
    add_input_arguments(p, seg=False, title="images (and captures without seg.png): what is missing is estimated",
                        labels_help='what to look for in images without NAME.txt or a labels.json entry, '
                                    'e.g. "sofa, armchair" (default: the library categories)')
    p.set_defaults(func=run_from_args)


def settings_from_args(args: argparse.Namespace):
    from scenewright.batch.settings import BatchSettings
    from scenewright import config
    from scenewright.config import device_overrides, library_for
    from scenewright.methods.registry import get_method
    cls = get_method(args.method)
    device = getattr(args, "device", None)
    overrides = device_overrides(cls.Settings, args.config, args.overrides, device)
    return BatchSettings(method=args.method, library=library_for(cls.needs, args.library, check=False),
                         weights=args.weights if "weights" in cls.needs else None, address=args.address,
                         workers=args.workers, cpus_per_task=args.cpus_per_task, resume=args.resume,
                         overwrite=args.overwrite, preview=args.preview, settle=args.settle,
                         room=not args.no_room, ceiling=args.ceiling, depth=args.depth, seed=args.seed,
                         config=args.config, overrides=tuple(overrides),
                         limit=args.limit, eval_bench=args.eval_bench,
                         eval_points=args.eval_points, max_pixels=args.max_pixels,
                         max_instances=args.max_instances, models=args.models, labels=args.labels,
                         fov=args.fov, box_threshold=args.box_threshold, text_threshold=args.text_threshold,
                         max_side=args.max_side, device=config.get("device", device))


def exit_code(report: dict) -> int:
    """0: something was produced or already there; 1: every capture failed."""
    t = report["totals"]
    return 0 if t["ok"] + t["skipped"] > 0 else 1


def run_from_args(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from scenewright.batch.runner import BATCH_FILE, EVAL_FILE, run_batch

    if args.help_settings:
        from scenewright.methods.cli import print_settings_help
        return print_settings_help(args.method)
    if args.input is None or args.out is None:
        from scenewright.errors import InputError
        raise InputError("batch needs an INPUT and -o OUT_ROOT")
    report = run_batch(args.input, args.out, settings_from_args(args), progress=not args.no_progress)
    console = Console()
    failed = [r for r in report["captures"] if r["status"] == "failed"]
    if failed:
        table = Table(title=f"{len(failed)} failed", title_justify="left")
        table.add_column("capture")
        table.add_column("error", overflow="fold")
        for r in failed:
            table.add_row(r["name"], r.get("error", "?"))
        console.print(table)
    t = report["totals"]
    ray = report.get("ray")
    where = "" if not report["workers"] else " in this process" if ray is None else (
        f" on Ray {ray['version']} ({len(ray['nodes'])} node(s), {ray['cpus']:g} CPUs, "
        f"{len(report['workers'])} workers)")
    rate = f", {t['throughput_per_min']:.1f} captures/min" if t["throughput_per_min"] else ""
    console.print(f"batch: {t['ok']} ok, {t['failed']} failed, {t['skipped']} skipped of {t['captures']}"
                  f"{where}; startup {t['startup_s']:.1f} s, run {t['run_s']:.1f} s{rate} "
                  f"→ {Path(args.out) / BATCH_FILE}")
    if report.get("eval"):
        import json

        from scenewright.evaluate.report import print_report
        print_report(json.loads((Path(args.out) / EVAL_FILE).read_text()), console)
        console.print(f"evaluation written to {Path(args.out) / EVAL_FILE}")
    return exit_code(report)
