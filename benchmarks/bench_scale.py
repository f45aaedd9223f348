"""How the layout method's cost grows with the library: 1×, 10×, 50× the assets.

For each library size: library open time (Library + retrieval index, in a fresh process),
cold ``scenewright reconstruct`` wall time per scene (a new process per scene, as a user
runs it), warm per-scene time (one process reconstructing every scene with one library
and renderer, as a batch worker or the web page does; the first scene is left out), peak
memory of both — max RSS (VmHWM, which counts the pages of the memory-mapped index read so
far) and the peak anonymous memory (``RssAnon`` sampled every 20 ms: what the process
allocates, without the mapped index files) — and quality: the exact-asset rate on the benchmark counted up
to replica (a replica of the right asset is the right asset).

The 10× and 50× libraries are made by ``scenewright.library.replicas.make_scaled_library``
from the full library's index arrays (perturbed scale, colour and sample noise; no
rendering, see that module for exactly what is perturbed). The row ``1× no index`` is the
same library without ``LIB/index`` — retrieval then decodes views and computes
descriptors per candidate, as the code did before the index (same results: the scenes
are compared byte for byte apart from timings).

    .venv/bin/python benchmarks/bench_scale.py --library data/library [--factors 1 10 50] [--scenes 5]

Needs the library's index (``scenewright library build -o LIB --reuse`` adds it).
Writes ``--work`` (default out/bench_scale: benchmark, scaled libraries, outputs) and
prints a markdown table; ``--json`` also writes every figure with settings and machine.
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

PY = sys.executable
TIMING_KEYS = ("perception", "category", "retrieval", "pose", "graph", "optimize", "export")


HWM = ("import sys\nfrom pathlib import Path\n"
       "def hwm():\n    return int(Path('/proc/self/status').read_text().split('VmHWM:')[1].split()[0]) // 1024\n"
       f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
       "from bench_scale import start_anon_sampler\nanon_peak = start_anon_sampler()\n")


def start_anon_sampler(every_s: float = 0.02) -> list:
    """Sample this process's anonymous resident memory (``RssAnon``: heap, arrays, textures —
    not the memory-mapped index files, whose pages the kernel can drop and which VmHWM counts)
    every ``every_s`` seconds in a daemon thread; returns a one-item list holding the peak MiB
    seen so far."""
    import threading

    peak = [0]

    def sample() -> None:
        while True:
            text = Path("/proc/self/status").read_text()
            peak[0] = max(peak[0], int(text.split("RssAnon:")[1].split()[0]) // 1024)
            time.sleep(every_s)
    threading.Thread(target=sample, daemon=True, name="anon-sampler").start()
    return peak


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


LAST_CPU = [0.0]    # CPU seconds (user + system) of the last child run by _run
COLD_ANON = [0]     # sampled peak anonymous MiB of the last cold run
WARM_ANON = [0]     # … of the last warm worker


def _run(cmd: list[str]) -> tuple[float, str, str]:
    """Wall seconds, stdout and stderr of a child process (an error stops the benchmark);
    its CPU seconds go to ``LAST_CPU`` (on a shared machine they vary less than wall time)."""
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    LAST_CPU[0] = _children_cpu() - c0
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall, proc.stdout, proc.stderr


def open_time(lib: Path, repeats: int = 3) -> float:
    code = ("import time, sys; from scenewright.library.store import Library; "
            "from scenewright.methods.layout.retrieval import LibraryIndex; t = time.perf_counter(); "
            "idx = LibraryIndex(Library.open(sys.argv[1])); print(time.perf_counter() - t)")
    return statistics.median(float(_run([PY, "-c", code, str(lib)])[1]) for _ in range(repeats))


def cold_once(lib: Path, scene: Path, out: Path) -> tuple[float, int, float]:
    """Wall seconds of ``scenewright reconstruct`` in a new process, its peak memory (MiB) and CPU seconds.

    The peak is the process's own VmHWM read as it ends (a child's rusage would also count
    its parent's memory at the fork)."""
    code = HWM + ("from scenewright.cli import main\nrc = main(sys.argv[1:])\n"
                  "print('VmHWM', hwm(), 'AnonPeak', anon_peak[0], file=sys.stderr)\nsys.exit(rc)\n")
    wall, _, err = _run([PY, "-c", code, "reconstruct", str(scene / "capture"), "-o", str(out / scene.name),
                         "--library", str(lib), "--overwrite", "--no-preview"])
    COLD_ANON[0] = int(err.rsplit("AnonPeak", 1)[1].split()[0])
    return wall, int(err.rsplit("VmHWM", 1)[1].split()[0]), LAST_CPU[0]


def warm_worker(lib: str, out: str, scenes: list[str]) -> None:
    """In one process: reconstruct every scene with one library and renderer; print JSON times."""
    from scenewright.methods.base import Resources
    from scenewright.run import build_method, run_to_folder
    anon_peak = start_anon_sampler()
    resources = Resources(library=lib)
    method = build_method("layout", resources=resources)       # library, index and renderer built once
    times, cpu = [], []
    for scene in scenes:
        t0, c0 = time.perf_counter(), time.process_time()
        run_to_folder(Path(scene) / "capture", Path(out) / Path(scene).name, method, overwrite=True, preview=False)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    hwm = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) // 1024
    print(json.dumps({"times": times, "cpu": cpu, "peak_mb": hwm, "anon_peak_mb": anon_peak[0]}))


def warm_once(lib: Path, scenes: list[Path], out: Path) -> tuple[list[float], int, list[float]]:
    """Per-scene wall seconds of one process reconstructing every scene (the first left out), its
    peak MiB, and the per-scene CPU seconds (likewise)."""
    _, text, _ = _run([PY, __file__, "--warm-worker", str(lib), str(out), *map(str, scenes)])
    res = json.loads(text.strip().splitlines()[-1])
    WARM_ANON[0] = res["anon_peak_mb"]
    return res["times"][1:] or res["times"], res["peak_mb"], res["cpu"][1:] or res["cpu"]


def exact_up_to_replica(bench_scenes: list[Path], out: Path) -> float:
    from scenewright.library.replicas import replica_of
    hit = n = 0
    for scene in bench_scenes:
        gt = json.loads((scene / "gt" / "scene.json").read_text())["instances"]
        pred = {i["id"]: i.get("asset_id") for i in json.loads((out / scene.name / "scene.json").read_text())["instances"]}
        for inst in gt:
            n += 1
            hit += replica_of(pred.get(inst["id"])) == inst.get("asset_id")
    return hit / max(n, 1)


def same_scenes(a: Path, b: Path, scenes: list[Path]) -> bool:
    """scene.json byte-equal apart from the timings block."""
    for scene in scenes:
        ja, jb = (json.loads((d / scene.name / "scene.json").read_text()) for d in (a, b))
        for j in (ja, jb):
            j.pop("timings_s", None)
        if ja != jb:
            return False
    return True


def without_index(lib: Path, target: Path) -> Path:
    """A view of ``lib`` without its index: symlinks to everything else."""
    if not target.exists():
        target.mkdir(parents=True)
        for p in lib.iterdir():
            if p.name != "index":
                os.symlink(p.resolve(), target / p.name)
    return target


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--warm-worker":
        warm_worker(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--library", required=True, help="the full library (with its index)")
    p.add_argument("--factors", type=int, nargs="+", default=[1, 10, 50])
    p.add_argument("--scenes", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="out/bench_scale")
    p.add_argument("--json", default=None, help="write every figure here")
    args = p.parse_args()

    from scenewright.bench.generate import BenchSettings, make_bench
    from scenewright.library import Library
    from scenewright.library.index import open_index
    from scenewright.library.replicas import ReplicaSettings, make_scaled_library

    lib = Path(args.library).resolve()
    if open_index(Library.open(lib)) is None:
        raise SystemExit(f"{lib}: no retrieval index; add it with: scenewright library build -o {lib} --reuse")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bench = work / f"bench-seed{args.seed}-{args.scenes}"
    if not bench.exists():
        print(f"making the benchmark ({args.scenes} scenes, seed {args.seed})", flush=True)
        make_bench(bench, lib, BenchSettings(scenes=args.scenes, seed=args.seed), progress=False)
    scenes = sorted(p for p in bench.iterdir() if (p / "capture").is_dir())

    libraries = [("1x no index", without_index(lib, work / "lib-noindex"), None)]
    for f in args.factors:
        if f == 1:
            libraries.append(("1x", lib, 0.0))
            continue
        target = work / f"lib-x{f}"
        made = None
        if not target.exists():
            print(f"making the {f}x library", flush=True)
            t0 = time.perf_counter()
            make_scaled_library(lib, target, ReplicaSettings(factor=f, seed=args.seed))
            made = time.perf_counter() - t0
        libraries.append((f"{f}x", target, made))

    # Interleaved (scene by scene across the libraries, warm rounds in both orders): a shared
    # machine's load changes over minutes and must not favour one library.
    rows = [{"library": name, "assets": len(Library.open(path)), "made_s": made, "path": path,
             "out": str(work / "pred" / name.replace(" ", "-")), "cold_s": [], "cold_mb": [], "cold_cpu": [],
             "cold_anon_mb": [], "warm_s": [], "warm_mb": [], "warm_cpu": [], "warm_anon_mb": []} for name, path, made in libraries]
    for r in rows:
        r["open_s"] = open_time(r["path"])
    for scene in scenes:
        print(f"cold {scene.name}", flush=True)
        for r in rows:
            wall, mb, cpu = cold_once(r["path"], scene, Path(r["out"]) / "cold")
            r["cold_s"].append(wall)
            r["cold_mb"].append(mb)
            r["cold_cpu"].append(cpu)
            r["cold_anon_mb"].append(COLD_ANON[0])
    for order in (rows, rows[::-1]):
        print("warm round", flush=True)
        for r in order:
            times, mb, cpu = warm_once(r["path"], scenes, Path(r["out"]) / "warm")
            r["warm_s"] += times
            r["warm_mb"].append(mb)
            r["warm_cpu"] += cpu
            r["warm_anon_mb"].append(WARM_ANON[0])
    for r in rows:
        r["cold"] = {"wall_s": r["cold_s"], "median_s": statistics.median(r["cold_s"]), "max_rss_mb": max(r["cold_mb"]),
                     "max_anon_mb": max(r["cold_anon_mb"]), "cpu_s": r["cold_cpu"], "median_cpu_s": statistics.median(r["cold_cpu"])}
        r["warm"] = {"times_s": r["warm_s"], "median_s": statistics.median(r["warm_s"]), "max_rss_mb": max(r["warm_mb"]),
                     "max_anon_mb": max(r["warm_anon_mb"]), "cpu_s": r["warm_cpu"], "median_cpu_s": statistics.median(r["warm_cpu"])}
        r["exact_up_to_replica"] = exact_up_to_replica(scenes, Path(r["out"]) / "warm")
        r["path"] = str(r["path"])
    base = next(r for r in rows if r["library"] == "1x")
    noidx = rows[0]
    same = same_scenes(Path(noidx["out"]) / "cold", Path(base["out"]) / "cold", scenes)
    print()
    print(f"machine: {machine()['cpu']}, {os.cpu_count()} cores; {len(scenes)} scenes, seed {args.seed}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| library | assets | open s | cold s/scene | cold CPU s | warm s/scene | warm CPU s | peak MB cold / warm "
          "| peak anonymous MB cold / warm | exact asset (up to replica) |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def cell(r, kind, key):
        return f"{r[kind][key]:.2f} ({r[kind][key] / base[kind][key]:.2f}×)"
    for r in rows:
        print(f"| {r['library']} | {r['assets']} | {r['open_s']:.3f} | {cell(r, 'cold', 'median_s')} | "
              f"{cell(r, 'cold', 'median_cpu_s')} | {cell(r, 'warm', 'median_s')} | {cell(r, 'warm', 'median_cpu_s')} | "
              f"{r['cold']['max_rss_mb']} / {r['warm']['max_rss_mb']} | "
              f"{r['cold']['max_anon_mb']} / {r['warm']['max_anon_mb']} | {r['exact_up_to_replica']:.3f} |")
    print(f"1x with and without the index: scenes {'identical' if same else 'DIFFER'} (apart from timings)")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "scenes": len(scenes), "seed": args.seed,
                                               "rows": rows, "same_with_and_without_index": same}, indent=2))


if __name__ == "__main__":
    main()
