"""MIDI grid decoding: hierarchical (coarse-to-fine) against dense extraction.

For each case the same field is decoded on the full ``(2**depth + 1)³`` grid (257³ at the
original's depth 8) both ways, and the benchmark reports decoder queries, wall time,
occupancy IoU (``values <= 0``), the largest difference at refined points, and whether
marching cubes gives the same mesh:

- ``analytic/<name>``: closed-form signed distances (a sphere; a table-like union of
  boxes with thin legs and a rod, several primitives per query);
- ``tiny/inst<i>/pass1|pass2``: the ``midi-tiny`` fixture's VAE decoder (real weights
  loaded from the checkpoint) on the golden ``latents_final`` of instance i, on the
  first-pass box [-1.005, 1.005]³ and on the second-pass (progressive) box, as the
  pipeline runs them.

    .venv/bin/python benchmarks/bench_midi_decode.py [--depth 8] [--instances 0] \
        [--threads 0] [--out out/bench_midi_decode.json]

Prints a table and writes JSON with settings, machine info and per-case numbers.
The machine is shared, so wall times move with its load (recorded as ``loadavg``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scenewright.fileio import write_json  # noqa: E402
from scenewright.methods.midi import extract as ex  # noqa: E402


# ----------------------------------------------------------------- analytic fields

def sphere(p: torch.Tensor) -> torch.Tensor:
    return p.norm(dim=1) - 0.55


def _box(p, centre, half):
    q = (p - torch.tensor(centre)).abs() - torch.tensor(half)
    return q.clamp(min=0).norm(dim=1) + q.max(dim=1).values.clamp(max=0)


def table(p: torch.Tensor) -> torch.Tensor:
    """A table: top slab, four legs 0.04 wide, a crossbar rod 0.015 thick (y up)."""
    d = _box(p, [0.0, 0.35, 0.0], [0.7, 0.03, 0.45])
    for x in (-0.62, 0.62):
        for z in (-0.38, 0.38):
            d = torch.minimum(d, _box(p, [x, -0.25, z], [0.02, 0.58, 0.02]))
    rod = torch.stack([p[:, 1] + 0.5, p[:, 2] - 0.38], dim=1).norm(dim=1) - 0.0075
    rod = torch.maximum(rod, p[:, 0].abs() - 0.62)
    return torch.minimum(d, rod)


ANALYTIC = {"sphere": sphere, "table": table}


# ----------------------------------------------------------------- fixture decoder

def find_fixture() -> Path | None:
    for c in (os.environ.get("SCENEWRIGHT_MIDI_TINY"), REPO.parent / "shared" / "fixtures" / "midi-tiny",
              "/work/shared/fixtures/midi-tiny"):
        if c and (Path(c) / "vae" / "config.json").is_file():
            return Path(c)
    return None


def tiny_queries(fixture: Path, instances: list[int]):
    """(name, query_fn, bbox_min, bbox_max) for both passes of the chosen instances."""
    from safetensors.torch import load_file
    from scenewright.methods.midi.vae import MIDIVAE, MIDIVAEConfig
    vae = MIDIVAE(MIDIVAEConfig.from_dict(json.loads((fixture / "vae" / "config.json").read_text())))
    vae.load_state_dict(load_file(str(fixture / "vae" / "diffusion_pytorch_model.safetensors")))
    vae.eval()
    golden = load_file(str(fixture / "golden" / "e2e.safetensors"))
    for i in instances:
        fn = vae.query_fn(golden["latents_final"][i])
        yield f"tiny/inst{i}/pass1", fn, ex.DEFAULT_BBOX_MIN, ex.DEFAULT_BBOX_MAX
        yield (f"tiny/inst{i}/pass2", fn, golden["progressive_bbox_min"][i].numpy(),
               golden["progressive_bbox_max"][i].numpy())


# ----------------------------------------------------------------- one case

def run_case(name, fn, lo, hi, depth, settings: ex.HierarchicalSettings, repeat: int) -> dict:
    def best(method):
        runs = []
        for _ in range(repeat):
            c0 = time.process_time()
            res = ex.decode_grid(fn, lo, hi, depth, method=method, hierarchical=settings)
            res.settings["cpu_seconds"] = time.process_time() - c0   # all threads; robust to load
            runs.append(res)
        return min(runs, key=lambda r: r.seconds)
    dense, hier = best("dense"), best("hierarchical")
    t0 = time.perf_counter()
    m_dense = ex.grid_to_mesh(dense.values, lo, hi, depth)
    t_mesh = time.perf_counter() - t0
    m_hier = ex.grid_to_mesh(hier.values, lo, hi, depth)
    same_faces = np.array_equal(m_dense.faces, m_hier.faces)
    vdiff = (float(np.abs(m_dense.vertices - m_hier.vertices).max())
             if same_faces and len(m_dense.vertices) else None)
    return {
        "case": name,
        "grid": f"{dense.resolution}^3",
        "bbox_min": np.asarray(lo, np.float64).tolist(), "bbox_max": np.asarray(hi, np.float64).tolist(),
        "dense": {"queries": dense.n_queries, "seconds": round(dense.seconds, 3),
                  "cpu_seconds": round(dense.settings["cpu_seconds"], 3)},
        "hierarchical": {"queries": hier.n_queries, "seconds": round(hier.seconds, 3),
                         "cpu_seconds": round(hier.settings["cpu_seconds"], 3), "levels": hier.level_stats},
        "query_ratio": round(dense.n_queries / hier.n_queries, 2),
        "speedup": round(dense.seconds / hier.seconds, 2),
        "cpu_speedup": round(dense.settings["cpu_seconds"] / hier.settings["cpu_seconds"], 2),
        "occupancy_iou": ex.occupancy_iou(dense.values, hier.values),
        "occupancy_mismatches": int(np.count_nonzero((dense.values <= 0) != (hier.values <= 0))),
        "inside_fraction": float(np.count_nonzero(dense.values <= 0) / dense.values.size),
        "max_abs_diff_at_refined": float(np.abs(dense.values - hier.values)[hier.exact].max()),
        "mesh_faces": int(len(m_dense.faces)),
        "mesh_same_faces": bool(same_faces),
        "mesh_max_vertex_diff": vdiff,
        "marching_cubes_seconds": round(t_mesh, 3),
    }


def machine_info() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "numpy": np.__version__, "loadavg_start": os.getloadavg(), "gpu": torch.cuda.is_available()}


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title="MIDI grid decoding: hierarchical vs dense")
    for col in ("case", "grid", "dense queries", "hier queries", "×fewer", "dense s", "hier s",
                "×faster", "×faster cpu", "IoU", "same mesh"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        t.add_row(r["case"], r["grid"], f"{r['dense']['queries']:,}", f"{r['hierarchical']['queries']:,}",
                  f"{r['query_ratio']:.1f}", f"{r['dense']['seconds']:.2f}", f"{r['hierarchical']['seconds']:.2f}",
                  f"{r['speedup']:.1f}", f"{r['cpu_speedup']:.1f}", f"{r['occupancy_iou']:.6f}",
                  "yes" if r["mesh_same_faces"] else "no")
    Console(width=160).print(t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=8, help="octree depth: grid (2**depth+1)^3 (8 = 257^3)")
    ap.add_argument("--instances", default="0", help="fixture instances, comma separated (0..2); '' skips")
    ap.add_argument("--analytic-repeat", type=int, default=3, help="runs per analytic case (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--out", default=str(REPO / "out" / "bench_midi_decode.json"))
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    settings = ex.HierarchicalSettings()
    machine = machine_info()
    rows = []
    for name, fn in ANALYTIC.items():
        rows.append(run_case(f"analytic/{name}", fn, ex.DEFAULT_BBOX_MIN, ex.DEFAULT_BBOX_MAX,
                             args.depth, settings, args.analytic_repeat))
        print(json.dumps({k: rows[-1][k] for k in ("case", "query_ratio", "speedup", "cpu_speedup", "occupancy_iou")}), flush=True)
    instances = [int(s) for s in args.instances.split(",") if s.strip()]
    fixture = find_fixture()
    if instances and fixture is None:
        print("midi-tiny fixture not found (set SCENEWRIGHT_MIDI_TINY): fixture cases skipped")
    elif instances:
        for name, fn, lo, hi in tiny_queries(fixture, instances):
            rows.append(run_case(name, fn, lo, hi, args.depth, settings, 1))
            print(json.dumps({k: rows[-1][k] for k in ("case", "query_ratio", "speedup", "cpu_speedup",
                                                      "occupancy_iou")}), flush=True)
    print_table(rows)
    result = {"benchmark": "midi_decode", "settings": {"octree_depth": args.depth, "chunk": ex.DEFAULT_CHUNK,
                                                       "hierarchical": dataclasses.asdict(settings),
                                                       "analytic_repeat": args.analytic_repeat,
                                                       "instances": instances,
                                                       "fixture": str(fixture) if fixture else None},
              "machine": {**machine, "loadavg_end": os.getloadavg()},
              "targets": {"query_ratio": 5.0, "speedup": 3.0, "occupancy_iou": 0.99},
              "cases": rows}
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
