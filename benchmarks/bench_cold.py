"""Cold ``scenewright reconstruct`` of two checkouts side by side: wall, CPU, peak memory, same scenes?

Each run is a new process (imports, library open, renderer, everything a user's first
command pays), run with ``PYTHONPATH`` set to one checkout. The two checkouts alternate
capture by capture and repeat by repeat, so a shared machine's changing load favours
neither. Reports the medians per checkout, their ratio, the per-stage times of
``scene.json`` (``timings_s``), and whether both checkouts wrote the same ``scene.json``
(apart from the timings).

    .venv/bin/python benchmarks/bench_cold.py --before ../base --after . \\
        --captures examples/living_room/capture /work/benches/bench_main/scene_000{0..4}/capture \\
        --library data/library --repeats 3 --out /tmp/bench_cold [--json result.json] \\
        [--library-before OLD_LIB]     # a library format change: the before code reads OLD_LIB
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import machine  # noqa: E402

WRAPPER = ("import sys\nfrom pathlib import Path\nfrom scenewright.cli import main\nrc = main(sys.argv[1:])\n"
           "hwm = int(Path('/proc/self/status').read_text().split('VmHWM:')[1].split()[0]) // 1024\n"
           "print('VmHWM', hwm, file=sys.stderr)\nsys.exit(rc)\n")


def cold_run(checkout: Path, capture: Path, library: Path, out: Path) -> dict:
    """One ``reconstruct`` in a new process with ``checkout`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # -P: `python -c` puts the working directory first on the path, ahead of PYTHONPATH; run from
    # a checkout, both sides would import that checkout
    proc = subprocess.run([sys.executable, "-P", "-c", WRAPPER, "reconstruct", str(capture), "-o", str(out),
                           "--library", str(library), "--overwrite", "--no-preview", "--quiet"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{checkout}: reconstruct {capture} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    scene = json.loads((out / "scene.json").read_text())
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": int(proc.stderr.rsplit("VmHWM", 1)[1].split()[0]), "stages_s": scene.get("timings_s", {}),
            "load": os.getloadavg()[0]}


def same_scene(a: Path, b: Path) -> bool:
    ja, jb = (json.loads((d / "scene.json").read_text()) for d in (a, b))
    for j in (ja, jb):
        j.pop("timings_s", None)
    return ja == jb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="checkout of the code compared against")
    p.add_argument("--after", required=True, help="checkout of the code measured")
    p.add_argument("--captures", nargs="+", required=True)
    p.add_argument("--library", required=True)
    p.add_argument("--library-before", default=None,
                   help="the library the 'before' code reads (default --library): compares a library format change")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="out/bench_cold")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    sides = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    captures = [Path(c).resolve() for c in args.captures]
    libraries = {"after": Path(args.library).resolve(),
                 "before": Path(args.library_before or args.library).resolve()}
    out = Path(args.out).resolve()
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    for rep in range(args.repeats):
        for i, capture in enumerate(captures):
            order = list(sides) if (rep + i) % 2 == 0 else list(sides)[::-1]
            for side in order:
                r = cold_run(sides[side], capture, libraries[side], out / side / f"{i:02d}")
                r.update(capture=str(capture), repeat=rep)
                runs[side].append(r)
                print(f"{side} {capture.parent.name} #{rep}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} CPU-s, "
                      f"{r['peak_mb']} MB, load {r['load']:.1f}", flush=True)
    same = all(same_scene(out / "before" / f"{i:02d}", out / "after" / f"{i:02d}") for i in range(len(captures)))
    med = {side: {k: statistics.median(r[k] for r in runs[side]) for k in ("wall_s", "cpu_s", "peak_mb")}
           for side in sides}
    stages = {side: {s: round(statistics.median(r["stages_s"].get(s, 0.0) for r in runs[side]), 3)
                     for s in runs[side][0]["stages_s"]} for side in sides}
    loads = [r["load"] for v in runs.values() for r in v]
    print()
    print(f"machine: {machine()['cpu']}, {os.cpu_count()} cores; {len(captures)} captures × {args.repeats}; "
          f"load {min(loads):.1f}-{max(loads):.1f}")
    print("| code | wall s (median) | CPU s (median) | peak MB (median) | stages s (median) |")
    print("|---|---|---|---|---|")
    for side in sides:
        print(f"| {side} | {med[side]['wall_s']:.2f} | {med[side]['cpu_s']:.2f} | {med[side]['peak_mb']:.0f} | "
              + ", ".join(f"{k} {v}" for k, v in stages[side].items() if v >= 0.01) + " |")
    print(f"after / before: wall {med['after']['wall_s'] / med['before']['wall_s']:.2f}×, "
          f"CPU {med['after']['cpu_s'] / med['before']['cpu_s']:.2f}×, "
          f"peak {med['after']['peak_mb'] / med['before']['peak_mb']:.2f}×")
    print(f"scene.json: {'identical' if same else 'DIFFER'} (apart from timings)")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "captures": [str(c) for c in captures],
                                               "libraries": {k: str(v) for k, v in libraries.items()},
                                               "repeats": args.repeats, "runs": runs, "medians": med,
                                               "stages": stages, "same": same}, indent=2))


if __name__ == "__main__":
    main()
