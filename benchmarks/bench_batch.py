"""Batch throughput: the same captures in one process, then on Ray with N workers.

Both runs go through ``scenewright.batch.run_batch`` — ``--address none`` (one
Reconstructor in this process) and ``--address local --workers N`` (a fresh local Ray
cluster, N actors) — so they differ only in where the same code runs. Reported per
run: Ray start-up (cluster start + connecting), worker warm-up (library, index and
renderer per worker), the reconstruction wall time and its throughput; the speedup
compares reconstruction wall times (start-up shown apart, it is paid once per batch),
and also whole-batch times. The outputs of the two runs are compared transform by
transform (the methods are deterministic: the largest difference should be 0).

Inputs: ``data/bench-512`` and ``data/library`` when they exist; else a small library
and a 256 px benchmark are built in a temporary folder first (not timed).

    .venv/bin/python benchmarks/bench_batch.py [--n 10] [--workers 2] [--method layout]
        [--bench DIR] [--library DIR] [--out benchmarks/results/bench_batch.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine_info import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scenewright.methods.registry import DEFAULT_METHOD, get_method, method_names  # noqa: E402


def prepare_inputs(args, tmp: Path) -> tuple[Path, Path | None, dict]:
    """(bench, library, notes): the given or shipped ones, else small ones built in ``tmp``."""
    notes = {}
    needs_library = "library" in get_method(args.method).needs
    library = Path(args.library) if args.library else ROOT / "data" / "library"
    if needs_library or not args.bench:
        if not (library / "library.json").is_file():
            from scenewright.testing.library import build_small_library
            t = time.perf_counter()
            library = tmp / "library"
            build_small_library(library, n_per_category=2)
            notes["library"] = f"built a small library ({time.perf_counter() - t:.1f} s, not timed)"
    bench = Path(args.bench) if args.bench else ROOT / "data" / "bench-512"
    if not (bench / "manifest.json").is_file():
        from scenewright.bench.generate import BenchSettings, make_bench
        t = time.perf_counter()
        bench = tmp / "bench"
        make_bench(bench, library, BenchSettings(scenes=args.n, seed=0, size=256), progress=False)
        notes["bench"] = f"built a {args.n}-scene 256 px benchmark ({time.perf_counter() - t:.1f} s, not timed)"
    return bench, library if needs_library else None, notes


def max_difference(root_a: Path, root_b: Path, names: list[str]) -> float:
    """Largest |Δ| of any world_from_object entry between two batch outputs (inf if ids differ)."""
    worst = 0.0
    for name in names:
        a = json.loads((root_a / name / "scene.json").read_text())["instances"]
        b = json.loads((root_b / name / "scene.json").read_text())["instances"]
        if [i["id"] for i in a] != [i["id"] for i in b]:
            return float("inf")
        for x, y in zip(a, b):
            worst = max(worst, float(np.abs(np.array(x["world_from_object"]) - np.array(y["world_from_object"])).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10, help="captures (the first N of the benchmark)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--method", choices=[m for m in method_names() if set(get_method(m).needs) <= {"library"}],
                   default=DEFAULT_METHOD, help="a method that needs at most a library")
    p.add_argument("--bench", default=None)
    p.add_argument("--library", default=None)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_batch.json"))
    args = p.parse_args(argv)

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from rich.console import Console
    from rich.table import Table

    from scenewright.batch import BatchSettings, run_batch

    console = Console(width=max(110, Console().width))
    with tempfile.TemporaryDirectory(prefix="bench_batch-") as tmpdir:
        tmp = Path(tmpdir)
        bench, library, notes = prepare_inputs(args, tmp)
        base = dict(method=args.method, library=str(library) if library else None, limit=args.n,
                    resume=False)
        info_before = machine()
        t0 = time.perf_counter()
        seq = run_batch(bench, tmp / "seq", BatchSettings(address="none", **base), progress=True)
        seq_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        ray = run_batch(bench, tmp / "ray", BatchSettings(address="local", workers=args.workers, **base),
                        progress=True)
        ray_wall = time.perf_counter() - t0
        names = [r["name"] for r in seq["captures"] if r["status"] == "ok"]
        diff = max_difference(tmp / "seq", tmp / "ray", names)

    s, r = seq["totals"], ray["totals"]
    result = {
        "benchmark": "bench_batch", "method": args.method, "captures": args.n, "workers": args.workers,
        "bench": str(bench) if "bench" not in notes else "generated (256 px)",
        "library": None if library is None else (str(library) if "library" not in notes else "small, generated"),
        "notes": notes, "machine": info_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "sequential": {"warmup_s": s["startup_s"], "run_s": s["run_s"], "wall_s": round(seq_wall, 3),
                       "throughput_per_min": s["throughput_per_min"], "mean_capture_s": s["mean_capture_s"],
                       "ok": s["ok"], "failed": s["failed"]},
        "ray": {"connect_s": ray["ray"]["connect_s"], "warmup_s": ray["ray"]["warmup_s"],
                "startup_s": r["startup_s"], "run_s": r["run_s"], "wall_s": round(ray_wall, 3),
                "throughput_per_min": r["throughput_per_min"], "mean_capture_s": r["mean_capture_s"],
                "ok": r["ok"], "failed": r["failed"], "captures_per_worker": r["captures_per_worker"],
                "ray_version": ray["ray"]["version"], "cluster_cpus": ray["ray"]["cpus"]},
        "speedup_run": round(s["run_s"] / r["run_s"], 3) if r["run_s"] else None,
        "speedup_wall": round(seq_wall / ray_wall, 3) if ray_wall else None,
        "max_transform_difference": diff,
    }

    table = Table(title=f"batch: {args.n} captures, method {args.method}, {args.workers} Ray workers "
                        f"({info_before['cores']} cores, load {info_before['load_average'][0]})")
    for col in ("run", "Ray start", "warm-up", "reconstruction", "captures/min", "s/capture", "whole batch"):
        table.add_column(col, justify="right")
    sq, ry = result["sequential"], result["ray"]
    table.add_row("in process", "—", f"{sq['warmup_s']:.1f} s", f"{sq['run_s']:.1f} s",
                  f"{sq['throughput_per_min']:.1f}", f"{sq['mean_capture_s']:.2f}", f"{sq['wall_s']:.1f} s")
    table.add_row(f"Ray ×{args.workers}", f"{ry['connect_s']:.1f} s", f"{ry['warmup_s']:.1f} s",
                  f"{ry['run_s']:.1f} s", f"{ry['throughput_per_min']:.1f}", f"{ry['mean_capture_s']:.2f}",
                  f"{ry['wall_s']:.1f} s")
    console.print(table)
    console.print(f"speedup: reconstruction {result['speedup_run']}×, whole batch {result['speedup_wall']}×; "
                  f"largest transform difference between the runs: {diff:g}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {out}")
    return 0 if s["failed"] == 0 and r["failed"] == 0 and diff <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
