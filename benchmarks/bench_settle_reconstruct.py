"""What ``reconstruct --settle`` costs: the same reconstruction with and without settling.

The capture is the shipped ``examples/living_room/capture`` unless ``--capture`` says
otherwise, reconstructed by ``run_to_folder`` (the path of ``scenewright reconstruct``)
with the layout method from ``--library``, preview on, alternately without and with
``settle=True``, ``--repeat`` times each. Reported: wall and CPU seconds of the whole
run (medians), the ``settle`` stage's own seconds (colliders, simulation), the ratio,
and the load average before and after (the machine is shared: wall times move with it).

    .venv/bin/python benchmarks/bench_settle_reconstruct.py --library data/library [--repeat 2] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--capture", default=str(ROOT / "examples" / "living_room" / "capture"))
    p.add_argument("--library", required=True)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args()

    from scenewright.methods.base import Resources
    from scenewright.run import run_to_folder

    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"plain": [], "settle": []}
    resources = Resources(library=args.library)
    with tempfile.TemporaryDirectory() as tmp:
        # One warm-up: the library index and the renderer load once per process.
        run_to_folder(args.capture, Path(tmp) / "warm", "layout", resources=resources, overwrite=True)
        for k in range(args.repeat):
            for mode in ("plain", "settle"):
                wall, cpu = time.perf_counter(), time.process_time()
                scene = run_to_folder(args.capture, Path(tmp) / f"{mode}{k}", "layout", resources=resources,
                                      overwrite=True, settle=mode == "settle")
                row = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                       "timings_s": dict(scene.timings_s)}
                if mode == "settle":
                    physics = scene.extra["physics"]
                    row.update(seconds=physics["seconds"], objects=physics["objects"],
                               median_moved_m=physics["median_moved_m"], max_moved_m=physics["max_moved_m"],
                               n_tipped=physics["n_tipped"])
                runs[mode].append(row)
    resources.close()
    figures = {}
    for mode, rows in runs.items():
        figures[mode] = {"wall_s": statistics.median(r["wall_s"] for r in rows),
                         "cpu_s": statistics.median(r["cpu_s"] for r in rows)}
    settle_rows = runs["settle"]
    figures["settle_stage_s"] = statistics.median(r["timings_s"]["settle"] for r in settle_rows)
    figures["colliders_s"] = statistics.median(r["seconds"]["colliders"] for r in settle_rows)
    figures["simulate_s"] = statistics.median(r["seconds"]["simulate"] for r in settle_rows)
    figures["wall_ratio"] = figures["settle"]["wall_s"] / figures["plain"]["wall_s"]
    figures["cpu_ratio"] = figures["settle"]["cpu_s"] / figures["plain"]["cpu_s"]
    figures["load_before"], figures["load_after"] = load_before, os.getloadavg()
    figures["capture"], figures["repeat"] = args.capture, args.repeat
    figures["runs"] = runs
    print(f"living room, layout, preview on, median of {args.repeat} (load {load_before[0]:.1f} → "
          f"{figures['load_after'][0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  without --settle: wall {figures['plain']['wall_s']:.2f} s, CPU {figures['plain']['cpu_s']:.2f} s")
    print(f"  with --settle:    wall {figures['settle']['wall_s']:.2f} s, CPU {figures['settle']['cpu_s']:.2f} s "
          f"(settle stage {figures['settle_stage_s']:.2f} s: colliders {figures['colliders_s']:.2f} s, "
          f"simulation {figures['simulate_s']:.2f} s)")
    print(f"  ratio: wall ×{figures['wall_ratio']:.2f}, CPU ×{figures['cpu_ratio']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
