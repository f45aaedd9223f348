"""MIDI fine-tuning on the midi-tiny checkpoint: throughput and loss curve.

Builds a small real library and a 4-scene benchmark (``bench make``), then trains
``--steps`` optimizer steps with full fine-tuning and with LoRA (rank 8) at lr 1e-3 with
torch on 1 thread, and ``--steps-default`` steps of each on torch's default thread count
(much slower on a busy machine, hence fewer). Reports optimizer steps per
second, the ratios LoRA/full and 1-thread/default, the training loss per block of 10 steps
and the fixed-noise evaluation loss before and after. Writes out/bench_midi_train.json.

    .venv/bin/python benchmarks/bench_midi_train.py [--steps 40] [--tiny DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import machine  # noqa: E402

FURNITURE = Path("/usr/share/sweethome3d/furniture")
ASSETS = ["BlendSwap-CC-0/couch2", "BlendSwap-CC-0/glassDoorCabinet", "BlendSwap-CC-0/bedsideTable2",
          "BlendSwap-CC-0/oakTable", "BlendSwap-CC-0/chair2", "BlendSwap-CC-0/desklamp",
          "BlendSwap-CC-0/littlePlant", "BlendSwap-CC-0/desk"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--steps-default", type=int, default=8)
    ap.add_argument("--tiny", default="/work/shared/fixtures/midi-tiny")
    ap.add_argument("--work", default="out/bench_midi_train")
    ap.add_argument("--out", default="out/bench_midi_train.json")
    args = ap.parse_args()
    import shutil

    import numpy as np
    import torch

    from scenewright.bench.generate import BenchSettings, make_bench
    from scenewright.library import BuildSettings, build_library
    from scenewright.methods.midi.train.data import DataSettings
    from scenewright.methods.midi.train.trainer import TrainSettings, train
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    build_library(work / "library", [FURNITURE / "BlendSwap-CC-0.sh3f"], workers=1, only=ASSETS,
                  progress=False, settings=BuildSettings(n_samples=256, voxel_grid=8, views=False))
    make_bench(work / "bench", work / "library", BenchSettings(scenes=4, seed=0, size=96, objects=(2, 4)),
               progress=False)
    default_threads = torch.get_num_threads()
    runs = {}
    for kind in ("full", "lora"):
        for threads in (1, default_threads):
            torch.set_num_threads(threads)
            s = TrainSettings(steps=args.steps if threads == 1 else args.steps_default, lr=1e-3, lora=kind == "lora", lora_rank=8, lora_alpha=8.0,
                              checkpoint_every=10 ** 6, data=DataSettings(num_points=1024))
            t0 = time.perf_counter()
            r = train(work / "bench", args.tiny, work / f"{kind}_{threads}", s, cache=work / "cache",
                      progress=False, evaluate=True)
            runs[f"{kind}_threads{threads}"] = {
                "steps_per_s": round(r.steps_per_s, 3), "wall_s": round(time.perf_counter() - t0, 2),
                "loss_per_10_steps": [round(float(np.mean(r.losses[i:i + 10])), 4)
                                      for i in range(0, len(r.losses), 10)],
                "eval_loss_before": round(r.eval_loss_before, 4), "eval_loss_after": round(r.eval_loss_after, 4)}
            print(kind, threads, runs[f"{kind}_threads{threads}"], flush=True)
    d = default_threads
    ratios = {"lora_over_full_1thread": round(runs["lora_threads1"]["steps_per_s"]
                                              / runs["full_threads1"]["steps_per_s"], 3),
              "one_thread_over_default_full": round(runs["full_threads1"]["steps_per_s"]
                                                    / runs[f"full_threads{d}"]["steps_per_s"], 3)}
    report = {"machine": machine(), "steps": args.steps, "scenes": 4, "default_threads": d,
              "runs": runs, "ratios": ratios}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
