"""A readable table of an evaluation report (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from scenewright.evaluate.evaluator import METRICS, P1_LABEL, P2_LABEL

_SECTIONS = {"recovery": "layout", "p1_cd_s": P1_LABEL, "p2_cd": P2_LABEL,
             "rot_err_deg": "pose", "n_interpenetrating_pairs": "plausibility (per scene)"}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100 or value == 0:
        return f"{value:.2f}"
    return f"{value:.4g}"


def print_report(report: dict, console: Console | None = None) -> None:
    """Means over scenes per metric, the pooled AUCs, failures and timings."""
    console = console or Console()
    table = Table(title=f"scenewright eval {report['evaluator']['version']}: "
                        f"{report['n_scored']}/{report['n_scenes']} scenes scored")
    table.add_column("metric")
    table.add_column("mean over scenes", justify="right")
    table.add_column("scenes", justify="right")
    table.add_column("better", justify="center")
    for key, label, higher in METRICS:
        if key in _SECTIONS:
            table.add_section()
            table.add_row(f"[bold]{_SECTIONS[key]}[/bold]", "", "", "")
        s = report["summary"][key]
        table.add_row(label, _fmt(s["mean"]), str(s["n"]), "↑" if higher else "↓")
    console.print(table)
    pooled = report.get("pooled") or {}
    if pooled:
        console.print(f"pooled over {pooled['n_objects']} objects: AUC rot@60° {pooled['auc_rot60']:.3f} "
                      f"(sym. {pooled['auc_rot60_sym']:.3f}), AUC trans@0.5 m {pooled['auc_trans0.5']:.3f}")
    sym = (report.get("protocols") or {}).get("rotation_symmetry")
    if sym and sym.get("groups"):
        groups = ", ".join(f"{k}: {v}" for k, v in sym["groups"].items())
        console.print(f"rotation symmetry from {sym['source']} (category -> used: {groups})")
    aligned = [s["scene"] for s in report["scenes"] if s.get("status") == "ok" and not s.get("registered")]
    if aligned:
        console.print(f"[yellow]{len(aligned)} scene(s) without world_from_camera: only alignment-based "
                      f"metrics ({', '.join(aligned[:5])}{' ...' if len(aligned) > 5 else ''})[/yellow]")
    if report["failures"]:
        console.print(f"[red]{len(report['failures'])} failure(s):[/red]")
        for f in report["failures"][:20]:
            obj = "" if f.get("id") is None else f" object {f['id']}"
            console.print(f"  {f['scene']}{obj}: {f['reason']}")
        if len(report["failures"]) > 20:
            console.print(f"  ... {len(report['failures']) - 20} more in the JSON report")
    for g in report.get("gt_errors", []):
        console.print(f"[red]ground truth broken, scene not scored: {g['scene']}: {g['reason']}[/red]")
    t = report["timings_s"]
    per = t.get("per_scene_mean")
    cpu = t.get("per_scene_cpu_mean")
    console.print(f"time: {t['total']:.1f} s total" + (f", {per:.2f} s per scene" if per else "")
                  + (f" ({cpu:.2f} s CPU)" if cpu else ""))
