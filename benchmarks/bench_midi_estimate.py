"""How good is the released-model time estimate (``scenewright.methods.midi.estimate``)?

The estimate extrapolates from a small model's measured step time plus FLOPs / matmul
rate. Here the same rule predicts the step time of random-weight DiTs of MIDI's structure
(21 blocks, MI on 5, CLIP 1 and DINOv2 257 condition tokens) at growing widths from the
smallest one's measured step, and each prediction is set against the measured step.

    .venv/bin/python benchmarks/bench_midi_estimate.py [--widths 32 128 256 512] [--instances 3]
        [--rounds 3] [--threads 2] [--out out/bench_midi_estimate.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 128, 256, 512])
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "out" / "bench_midi_estimate.json"))
    args = ap.parse_args()

    import torch

    from bench_midi_step import BenchSettings, _build
    from scenewright.methods.midi.estimate import dit_step_flops, matmul_rate

    torch.set_num_threads(args.threads)
    rows = []
    for width in args.widths:
        s = BenchSettings(width=width, heads=max(1, width // 64) if width >= 64 else 4,
                          instances=args.instances, threads=args.threads)
        pipe, e1, e2, params_m = _build(s)
        pipe.denoise(e1, e2, steps=1, guidance=7.0, seed=42, keep_trace=False)      # warm
        best = float("inf")
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            pipe.denoise(e1, e2, steps=1, guidance=7.0, seed=42, keep_trace=False)
            best = min(best, time.perf_counter() - t0)
        rate = matmul_rate()          # measured beside each model: the load drifts
        rows.append({"width": width, "params_m": round(params_m, 1), "measured_s": best,
                     "flops": dit_step_flops(pipe.c.transformer.config, args.instances), "rate": rate})
        del pipe
    base = rows[0]
    print(f"| width | params M | measured s/step | predicted from width {base['width']} | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        r["predicted_s"] = base["measured_s"] + r["flops"] / r["rate"]
        r["ratio"] = r["predicted_s"] / r["measured_s"]
        print(f"| {r['width']} | {r['params_m']} | {r['measured_s']:.3f} | {r['predicted_s']:.3f} | {r['ratio']:.2f} |")
    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.threads} torch threads, load {load:.1f}; matmul {rows[-1]['rate'] / 1e9:.0f} GFLOP/s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": vars(args), "load": load, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
