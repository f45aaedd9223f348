"""MIDI denoising step: the fast path against a straightforward implementation.

A mid-size DiT with random weights (MIDI's structure: 21 blocks, MI attention on blocks
8–12, CLIP 1-token and DINOv2 257-token conditions) denoises N instances with guidance,
two ways, each in its own process so peak memory is its own:

- ``fast``      — what ``MIDIPipeline`` runs: ONE batched CFG pass over [uncond ×N, cond ×N],
                  cross-attention K/V of the fixed conditions computed once, the uncond
                  half's cross-attentions skipped (zero conditions give exactly the bias),
                  fused QKV matmul, torch's fused ``scaled_dot_product_attention``;
- ``reference`` — the straightforward loop: two separate passes (uncond, cond) per step,
                  cross K/V recomputed every step, explicit softmax(QKᵀ)V attention.

Both start from the same noise; the final latents are compared. Then the ``midi-tiny``
fixture runs end to end once through ``scenewright reconstruct`` and its time is reported.

    .venv/bin/python benchmarks/bench_midi_step.py [--steps 2] [--width 256 --heads 4]
        [--instances 3] [--threads 2] [--out out/bench_midi_step.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class BenchSettings:
    width: int = 256                 # DiT width = latent tokens per instance (as in MIDI)
    heads: int = 4                   # head dim 64
    layers: int = 21
    in_channels: int = 64
    cross_attention_dim: int = 768   # CLIP image_embeds, 1 token
    cross_attention_2_dim: int = 1024
    dino_tokens: int = 257           # DINOv2-L at 224 px: CLS + 16×16 patches
    instances: int = 3
    steps: int = 2                   # timed denoising steps per path
    warmup: int = 0                  # untimed steps first (CPU kernels need little warm-up)
    guidance: float = 7.0
    seed: int = 42
    threads: int = 2


def _run_path(settings: dict, fast, queue) -> None:
    """Child process: build the model, denoise, report step times, latents and peak RSS."""
    import torch

    from scenewright.methods.midi.attention import pack_attention_weights
    from scenewright.methods.midi.pipeline import FastPaths, MIDIPipeline
    from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
    from scenewright.methods.midi.transformer import MIDITransformer, MIDITransformerConfig

    s = BenchSettings(**settings)
    torch.set_num_threads(s.threads)
    torch.manual_seed(0)
    cfg = MIDITransformerConfig(num_attention_heads=s.heads, width=s.width, in_channels=s.in_channels,
                                num_layers=s.layers, cross_attention_dim=s.cross_attention_dim,
                                cross_attention_2_dim=s.cross_attention_2_dim)
    tr = MIDITransformer(cfg).eval()
    if fast:   # as load_components does: fused projections read the weights in place
        pack_attention_weights(tr)

    class _C:  # the two components denoise() uses
        transformer = tr
        scheduler = RectifiedFlowScheduler()

    pipe = MIDIPipeline(_C(), "cpu", "float32")
    g = torch.Generator().manual_seed(1)
    e1 = torch.randn(s.instances, 1, s.cross_attention_dim, generator=g)
    e2 = torch.randn(s.instances, s.dino_tokens, s.cross_attention_2_dim, generator=g)
    if isinstance(fast, dict):
        fast = FastPaths(**fast)
    if s.warmup:
        pipe.denoise(e1, e2, steps=s.warmup, guidance=s.guidance, seed=s.seed, fast=fast, keep_trace=False)
    stamps = []
    t0 = time.perf_counter()
    latents, _ = pipe.denoise(e1, e2, steps=s.steps, guidance=s.guidance, seed=s.seed, fast=fast,
                              keep_trace=False, on_step=lambda k: stamps.append(time.perf_counter()))
    times = [b - a for a, b in zip([t0] + stamps[:-1], stamps)]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    queue.put({"step_s": times, "latents": latents.numpy(), "peak_rss_mib": peak_mib,
               "params_m": sum(p.numel() for p in tr.parameters()) / 1e6})


def run_path(settings: BenchSettings, fast) -> dict:
    """Run one path (True, False or a FastPaths as a dict) in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run_path, args=(asdict(settings), fast, q))
    p.start()
    out = q.get()
    p.join()
    return out


def run_fixture(fixture: Path) -> dict:
    """The midi-tiny fixture through the CLI (3 steps, depth 5, dense, no smoothing)."""
    from scenewright.cli import main
    from scenewright.scene import read_scene
    tmp = Path(tempfile.mkdtemp(prefix="bench_midi_"))
    try:
        cap = tmp / "capture"
        cap.mkdir()
        shutil.copy(fixture / "golden" / "scene_rgb.png", cap / "rgb.png")
        shutil.copy(fixture / "golden" / "scene_seg.png", cap / "seg.png")
        args = ["reconstruct", str(cap), "-o", str(tmp / "scene"), "--method", "midi", "--weights",
                str(fixture), "--steps", "3", "--octree-depth", "5", "--no-smooth", "--extraction",
                "dense", "--seed", "42"]
        t0 = time.perf_counter()
        rc = main(args)
        wall = time.perf_counter() - t0
        scene = read_scene(tmp / "scene", load_meshes=False)
        return {"command": "scenewright " + " ".join(args), "exit_code": rc, "wall_s": round(wall, 3),
                "timings_s": scene.timings_s}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=BenchSettings.steps)
    ap.add_argument("--width", type=int, default=BenchSettings.width)
    ap.add_argument("--heads", type=int, default=BenchSettings.heads)
    ap.add_argument("--instances", type=int, default=BenchSettings.instances)
    ap.add_argument("--threads", type=int, default=BenchSettings.threads)
    ap.add_argument("--warmup", type=int, default=BenchSettings.warmup)
    ap.add_argument("--ablate", action="store_true",
                    help="also time the fast path with each fast path turned off in turn")
    ap.add_argument("--fixture", default=None, help="midi-tiny folder (default: the shared one)")
    ap.add_argument("--out", default=str(REPO / "out" / "bench_midi_step.json"))
    a = ap.parse_args()
    s = BenchSettings(steps=a.steps, width=a.width, heads=a.heads, instances=a.instances, threads=a.threads,
                      warmup=a.warmup)

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    fast = run_path(s, fast=True)
    ref = run_path(s, fast=False)
    diff = float(np.abs(fast["latents"] - ref["latents"]).max())
    ablations = {}
    if a.ablate:
        for off in ("batched_cfg", "cache_cross_kv", "skip_zero_cond", "sdpa"):
            opts = {"batched_cfg": True, "cache_cross_kv": True, "skip_zero_cond": True, "sdpa": True, off: False}
            ablations[f"fast without {off}"] = run_path(s, opts)
    mf, mr = float(np.median(fast["step_s"])), float(np.median(ref["step_s"]))

    fixture = Path(a.fixture) if a.fixture else next(
        (p for p in [REPO.parent / "shared" / "fixtures" / "midi-tiny", Path("/work/shared/fixtures/midi-tiny")]
         if (p / "model_index.json").is_file()), None)
    fx = run_fixture(fixture) if fixture else None

    table = Table(title=f"MIDI denoising step: width {s.width}, {s.layers} layers, {s.heads} heads, "
                        f"N={s.instances}, {s.width} tokens, CFG {s.guidance}, {fast['params_m']:.1f} M params")
    for col in ("path", "median s/step", "steps (s)", "peak RSS MiB"):
        table.add_column(col)
    for name, r in (("fast", fast), *ablations.items(), ("reference", ref)):
        table.add_row(name, f"{np.median(r['step_s']):.3f}", " ".join(f"{t:.2f}" for t in r["step_s"]),
                      f"{r['peak_rss_mib']:.0f}")
    con = Console()
    con.print(table)
    con.print(f"speed-up {mr / mf:.2f}x; max |latents fast − reference| = {diff:.2e}")
    if fx:
        con.print(f"fixture end to end: {fx['wall_s']:.2f} s wall (exit {fx['exit_code']}); stages {fx['timings_s']}")

    result = {"benchmark": "bench_midi_step", "settings": asdict(s),
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "load_avg_1min": os.getloadavg()[0]},
              "fast": {"step_s": fast["step_s"], "median_step_s": mf, "peak_rss_mib": fast["peak_rss_mib"]},
              "reference": {"step_s": ref["step_s"], "median_step_s": mr, "peak_rss_mib": ref["peak_rss_mib"]},
              "ablations": {k: {"step_s": r["step_s"], "median_step_s": float(np.median(r["step_s"])),
                                "peak_rss_mib": r["peak_rss_mib"]} for k, r in ablations.items()},
              "speedup": mr / mf, "max_abs_latent_diff": diff, "params_m": fast["params_m"],
              "fixture_end_to_end": fx}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    con.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
