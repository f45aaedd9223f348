"""One table for every method on one benchmark: layout, boxes and midi (registered).

    .venv/bin/python benchmarks/bench_methods.py --library LIB [--bench DIR] [--scenes 5]
        [--midi-weights DIR [--midi-tiny]] [-o OUT]

Each method reconstructs every scene with ``scenewright reconstruct`` (midi with
``--set register=auto``: depth when the capture has it, so its scene is in the camera frame,
metric, floor at 0 and scored like the others) and is scored with ``scenewright eval``.
Without ``--midi-weights`` the midi row says "needs real weights". ``--midi-tiny`` marks a
run with the ``midi-tiny`` random-weight fixture: it proves the path (reconstruct →
register → eval), its numbers say nothing about MIDI's quality. Writes OUT/report.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = [("recovery", "recovery"), ("category_match", "category"), ("auc_rot60", "rot AUC@60°"),
           ("auc_trans0.5", "trans AUC@0.5 m"), ("p1_f_s", "F-S"), ("p1_iou_b", "IoU-B"),
           ("n_interpenetrating_pairs", "interpen."), ("n_floating", "floating")]


def sh(cmd: list[str], log: Path) -> int:
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        return subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)


def metric(report: dict, key: str):
    pooled = report.get("pooled", {})
    if key in pooled:
        return pooled[key]
    return (report.get("summary", {}).get(key) or {}).get("mean")


def fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--library", default="data/library")
    p.add_argument("--bench", default=None, help="benchmark folder (made with `bench make` if absent)")
    p.add_argument("--scenes", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--midi-weights", default=None)
    p.add_argument("--midi-tiny", action="store_true", help="the weights are the random midi-tiny fixture")
    p.add_argument("--midi-steps", type=int, default=50)
    p.add_argument("--points", type=int, default=4096, help="eval surface points per object")
    p.add_argument("-o", "--out", default="out/bench_methods")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.txt"
    py = [sys.executable, "-m", "scenewright"]
    bench = Path(args.bench).resolve() if args.bench else out / "bench"
    if not (bench / "manifest.json").is_file():
        rc = sh(py + ["bench", "make", "-o", str(bench), "--library", args.library, "--scenes", str(args.scenes),
                      "--size", str(args.size), "--quiet"], log)
        if rc:
            sys.exit(f"bench make failed, see {log}")
    names = json.loads((bench / "manifest.json").read_text())["scenes"]
    methods = {"layout": ["--method", "layout", "--library", args.library],
               "boxes": ["--method", "boxes"]}
    if args.midi_weights:
        methods["midi"] = ["--method", "midi", "--weights", args.midi_weights, "--set", "register=auto",
                           "--library", args.library, "--set", f"steps={args.midi_steps}"]
        if args.midi_tiny:
            methods["midi"] += ["--set", "octree_depth=5", "--set", "smooth=false", "--set", "extraction=dense"]
    rows = {}
    for name, flags in methods.items():
        pred = out / "pred" / name
        t0 = time.perf_counter()
        failed = [s for s in names
                  if sh(py + ["reconstruct", str(bench / s / "capture"), "-o", str(pred / s), "--overwrite",
                              "--no-preview", *flags], log)]
        seconds = (time.perf_counter() - t0) / len(names)
        rc = sh(py + ["eval", str(pred), str(bench), "--out", str(out / f"eval_{name}.json"),
                      "--points", str(args.points)], log)
        if rc:
            rows[name] = {"note": f"eval failed (see {log})", "failed_scenes": failed}
            continue
        report = json.loads((out / f"eval_{name}.json").read_text())
        rows[name] = {k: metric(report, k) for k, _ in COLUMNS}
        rows[name].update(seconds_per_scene=seconds, failed_scenes=failed,
                          note="midi-tiny random weights: proves the path, not quality"
                          if name == "midi" and args.midi_tiny else "")
        print(f"{name}: done ({seconds:.1f} s per scene)", flush=True)
    if "midi" not in rows:
        rows["midi"] = {"note": "needs real weights (scenewright models download midi; --midi-weights DIR)"}
    head = "| method | " + " | ".join(label for _, label in COLUMNS) + " | s/scene | note |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt(r.get(k)) for k, _ in COLUMNS)
                     + f" | {fmt(r.get('seconds_per_scene'))} | {r.get('note', '')} |")
    table = "\n".join(lines)
    print(table)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from machine_info import machine
    (out / "report.json").write_text(json.dumps({"bench": str(bench), "scenes": len(names), "rows": rows,
                                                 "table": table, "machine": machine()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
