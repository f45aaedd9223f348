"""``scenewright settle SCENE [-o OUT]``: drop a scene under gravity in MuJoCo, report what moved,
and (with ``-o``) write the scene with every object where it came to rest."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settle", help="simulate a scene under gravity (MuJoCo): what moves, what falls over")
    p.add_argument("scene", help="scene folder (scene.json + scene.glb)")
    p.add_argument("-o", "--out", default=None, help="write the settled scene folder here")
    p.add_argument("--report", default=None, help="write the report (JSON) here")
    p.add_argument("--duration", type=float, default=2.0, help="simulated seconds")
    p.add_argument("--timestep", type=float, default=0.002, help="simulation step, seconds")
    p.add_argument("--colliders", choices=("vhacd", "hull"), default="vhacd",
                   help="convex decomposition (V-HACD) or one convex hull per object")
    p.add_argument("--max-hulls", type=int, default=16, help="V-HACD: most convex pieces per object")
    p.add_argument("--no-walls", action="store_true", help="leave the walls out (floor only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress, no table")
    p.set_defaults(func=run_settle)


def run_settle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scenewright.fileio import check_output_dir, check_output_file, write_json
    from scenewright.physics.colliders import ColliderSettings
    from scenewright.physics.settle import SettleSettings, room_planes, settle_scene
    from scenewright.scene import read_scene, write_scene

    source = Path(args.scene)
    settings = SettleSettings(duration_s=args.duration, timestep_s=args.timestep, walls=not args.no_walls,
                              colliders=ColliderSettings(method=args.colliders, max_hulls=args.max_hulls))
    settings.check("settle")
    # Outputs are checked before the work: an unusable -o or --report must not cost a simulation.
    if args.out:
        check_output_dir(args.out, overwrite=args.overwrite, inputs=[source])
    if args.report:
        check_output_file(args.report, overwrite=True, inputs=[source])
    scene = read_scene(source)
    room_planes(scene, settings, str(source / "scene.json"))     # no floor: refused before any work
    console = Console(stderr=True)
    with Progress(TextColumn("colliders"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.quiet) as bar:
        task = bar.add_task("", total=len(scene.instances))
        settled, report = settle_scene(scene, settings, source=str(source / "scene.json"),
                                       progress=lambda i, n: bar.update(task, completed=i))
    if args.out:
        write_scene(settled, args.out, overwrite=args.overwrite, inputs=[source])
    if args.report:
        write_json(args.report, report.to_json())
    if not args.quiet:
        print(format_report(report))
    return 0


def format_report(report) -> str:
    """The report as a plain text table, one row per object, then the verdict against the targets."""
    lines = [f"{'id':>4} {'label':<20} {'hulls':>5} {'moved cm':>9} {'turned °':>9} {'tilt °':>7}  fell"]
    for o in report.objects:
        lines.append(f"{o.id:>4} {str(o.label)[:20]:<20} {o.hulls:>5} {100 * o.moved_m:>9.2f} "
                     f"{o.rotated_deg:>9.2f} {o.tilt_deg:>7.2f}  {'yes' if o.tipped else 'no'}")
    s, t = report.summary(), report.settings
    lines.append(f"median motion {100 * s['median_moved_m']:.2f} cm (target < {100 * t['median_target_m']:g}), "
                 f"max {100 * s['max_moved_m']:.2f} cm (target ≤ {100 * t['max_target_m']:g}), "
                 f"fell over {s['n_tipped']}: {'PASS' if s['passed'] else 'FAIL'}  "
                 f"({t['duration_s']:g} s simulated, {t['engine']}; colliders "
                 f"{report.seconds['colliders']:.1f} s, simulation {report.seconds['simulate']:.1f} s)")
    if report.skipped:
        lines.append(f"skipped (no mesh): {report.skipped}")
    return "\n".join(lines)


def settle_summary(physics: dict) -> str:
    """What ``--settle`` did, in a few lines: the motions, then every object that moved far or fell over."""
    limit = physics["settings"]["max_target_m"]
    lines = [f"settled ({physics['settings']['duration_s']:g} s under gravity, {physics['settings']['engine']}): "
             f"median motion {100 * physics['median_moved_m']:.2f} cm, max {100 * physics['max_moved_m']:.2f} cm, "
             f"{physics['n_over_max']} over {100 * limit:g} cm, {physics['n_tipped']} fell over"]
    for o in physics["per_object"]:
        if o["tipped"] or o["moved_m"] > limit:
            what = "fell over" if o["tipped"] else "moved far"
            lines.append(f"warning: object {o['id']} ({o['label']}) {what}: moved {100 * o['moved_m']:.1f} cm, "
                         f"tilted {o['tilt_deg']:.0f}°")
    return "\n".join(lines)
