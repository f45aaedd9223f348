"""Warm per-scene CPU of two checkouts side by side, and whether they wrote the same scenes.

Each checkout runs the layout method over the same bench in its own process (one process per
checkout: the library index and the renderer are reused from scene to scene, as in
``bench_layout.py`` and a batch worker), both at once, so a shared machine's changing load
weighs on both alike. Reports each side's median and summed CPU seconds per scene, the per-scene
ratio after / before (median), and the scenes whose ``scene.json`` differ apart from the
timings (a speed change that keeps results must list none).

    .venv/bin/python benchmarks/bench_warm_pair.py --before ../base --after . \\
        --bench /work/benches/none --library data/library --out /tmp/warm_pair [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold import same_scene  # noqa: E402  (scene.json equal apart from timings)

WORKER = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "import scenewright\n"
    "sys.path.insert(0, str(Path(scenewright.__file__).resolve().parents[1] / 'benchmarks'))\n"
    "import bench_layout as bl\n"
    "from scenewright import get_method\n"
    "from scenewright.library import Library\n"
    "from scenewright.settings import build_settings\n"
    "bench, out, library = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]\n"
    "settings = build_settings(get_method('layout').Settings, seed=0, values={}, overrides=sys.argv[4:])\n"
    "runs = bl.run_method(bench, out / 'pred', Library.open(library), settings)\n"
    "(out / 'runs.json').write_text(json.dumps(runs, indent=1, default=str))\n"
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, required=True, help="checkout measured first in the table")
    p.add_argument("--after", type=Path, required=True)
    p.add_argument("--bench", type=Path, required=True, help="a bench folder (manifest.json, scene_*/capture)")
    p.add_argument("--library", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--set", nargs="*", default=[], help="settings overrides for both sides")
    a = p.parse_args(argv)
    procs = {}
    for side, checkout in (("before", a.before), ("after", a.after)):
        out = a.out / side
        out.mkdir(parents=True, exist_ok=True)
        # -P: the working directory must not come before PYTHONPATH (both sides would import it)
        procs[side] = subprocess.Popen(
            [sys.executable, "-P", "-c", WORKER, str(a.bench), str(out), str(a.library), *a.set],
            env={**os.environ, "PYTHONPATH": str(checkout.resolve())},
            stdout=open(out / "log.txt", "w"), stderr=subprocess.STDOUT)
    for side, proc in procs.items():
        if proc.wait():
            raise SystemExit(f"{side}: the bench run failed (see {a.out / side / 'log.txt'})")
    runs = {side: {r["scene"]: r for r in json.loads((a.out / side / "runs.json").read_text())} for side in procs}
    names = [n for n in runs["before"] if n in runs["after"]]
    cpu = {side: [runs[side][n]["cpu_seconds"] for n in names] for side in procs}
    ratio = statistics.median(x / y for x, y in zip(cpu["after"], cpu["before"]))
    differ = [n for n in names if not same_scene(a.out / "before" / "pred" / n, a.out / "after" / "pred" / n)]
    result = {"bench": str(a.bench), "scenes": len(names), "load_after": os.getloadavg()[0],
              **{f"{side}_cpu_median_s": statistics.median(cpu[side]) for side in procs},
              **{f"{side}_cpu_sum_s": sum(cpu[side]) for side in procs},
              "after_over_before_median": ratio, "scene_json_differ": differ}
    (a.out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
