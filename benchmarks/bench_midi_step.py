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

Each path first runs alone in its own process (peak memory, final latents: both start from
the same noise and are compared); then one process times one step of each path in turn
(``--rounds`` rounds, order reversed every other round), so the load of other jobs on a
shared machine hits both alike. Then the ``midi-tiny``
fixture runs end to end once through ``scenewright reconstruct`` and its time is reported.

    .venv/bin/python benchmarks/bench_midi_step.py [--rounds 5] [--width 256 --heads 4] [--ablate]
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
    steps: int = 1                   # steps of each path in its own process (memory, latents)
    rounds: int = 5                  # interleaved rounds, one step of every path per round
    guidance: float = 7.0
    seed: int = 42
    threads: int = 2


def _build(s: "BenchSettings"):
    import torch

    from scenewright.methods.midi.attention import pack_attention_weights
    from scenewright.methods.midi.pipeline import MIDIPipeline
    from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
    from scenewright.methods.midi.transformer import MIDITransformer, MIDITransformerConfig

    torch.set_num_threads(s.threads)
    torch.manual_seed(0)
    cfg = MIDITransformerConfig(num_attention_heads=s.heads, width=s.width, in_channels=s.in_channels,
                                num_layers=s.layers, cross_attention_dim=s.cross_attention_dim,
                                cross_attention_2_dim=s.cross_attention_2_dim)
    # Packed as load_components packs it (the reference path does not use the fused view).
    tr = pack_attention_weights(MIDITransformer(cfg).eval())

    class _C:  # the two components denoise() uses
        transformer = tr
        scheduler = RectifiedFlowScheduler()

    g = torch.Generator().manual_seed(1)
    e1 = torch.randn(s.instances, 1, s.cross_attention_dim, generator=g)
    e2 = torch.randn(s.instances, s.dino_tokens, s.cross_attention_2_dim, generator=g)
    params_m = sum(p.numel() for p in tr.parameters()) / 1e6
    return MIDIPipeline(_C(), "cpu", "float32"), e1, e2, params_m


def _as_fast(fast):
    from scenewright.methods.midi.pipeline import FastPaths
    return FastPaths(**fast) if isinstance(fast, dict) else fast


def _child(settings: dict, mode: str, paths: list, queue) -> None:
    """Child process. mode "memory": one path, ``steps`` steps, peak RSS and final latents.
    mode "interleaved": one step of each path in turn, ``rounds`` times, so that the load
    of other jobs on a shared machine hits all paths alike."""
    s = BenchSettings(**settings)
    pipe, e1, e2, params_m = _build(s)

    def one(fast, steps):
        t0 = time.perf_counter()
        lat, _ = pipe.denoise(e1, e2, steps=steps, guidance=s.guidance, seed=s.seed,
                              fast=_as_fast(fast), keep_trace=False)
        return (time.perf_counter() - t0) / steps, lat

    if mode == "memory":
        t, lat = one(paths[0], s.steps)
        queue.put({"step_s": t, "latents": lat.numpy(), "params_m": params_m,
                   "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})
        return
    times: dict[int, list] = {i: [] for i in range(len(paths))}
    for r in range(s.rounds):
        order = range(len(paths)) if r % 2 == 0 else reversed(range(len(paths)))
        for i in order:
            times[i].append(one(paths[i], 1)[0])
    queue.put({"times": [times[i] for i in range(len(paths))]})


def run_child(settings: "BenchSettings", mode: str, paths: list) -> dict:
    """Run ``_child`` in a fresh process (spawn), so each has its own peak memory."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(asdict(settings), mode, paths, q))
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
                str(fixture), "--set", "steps=3", "--set", "octree_depth=5", "--set", "smooth=false",
                "--set", "extraction=dense", "--seed", "42", "--no-preview"]
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
    ap.add_argument("--rounds", type=int, default=BenchSettings.rounds)
    ap.add_argument("--ablate", action="store_true",
                    help="also time the fast path with each fast path turned off in turn")
    ap.add_argument("--fixture", default=None, help="midi-tiny folder (default: the shared one)")
    ap.add_argument("--out", default=str(REPO / "out" / "bench_midi_step.json"))
    a = ap.parse_args()
    s = BenchSettings(steps=a.steps, width=a.width, heads=a.heads, instances=a.instances, threads=a.threads,
                      rounds=a.rounds)

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    fast = run_child(s, "memory", [True])
    ref = run_child(s, "memory", [False])
    diff = float(np.abs(fast["latents"] - ref["latents"]).max())
    paths: dict[str, object] = {"fast": True}
    if a.ablate:
        for off in ("batched_cfg", "cache_cross_kv", "skip_zero_cond", "sdpa"):
            paths[f"fast without {off}"] = {"batched_cfg": True, "cache_cross_kv": True,
                                            "skip_zero_cond": True, "sdpa": True, off: False}
    paths["reference"] = False
    times = dict(zip(paths, run_child(s, "interleaved", list(paths.values()))["times"]))
    med = {k: float(np.median(v)) for k, v in times.items()}
    # Best-of-rounds: other jobs on a shared machine only ever add time, so the minimum is
    # the least disturbed estimate; the median is reported beside it.
    best = {k: float(np.min(v)) for k, v in times.items()}
    mf, mr = best["fast"], best["reference"]
    ratios = [r / f for f, r in zip(times["fast"], times["reference"])]

    fixture = Path(a.fixture) if a.fixture else next(
        (p for p in [REPO.parent / "shared" / "fixtures" / "midi-tiny", Path("/work/shared/fixtures/midi-tiny")]
         if (p / "model_index.json").is_file()), None)
    fx = run_fixture(fixture) if fixture else None

    table = Table(title=f"MIDI denoising step: width {s.width}, {s.layers} layers, {s.heads} heads, "
                        f"N={s.instances}, {s.width} tokens, CFG {s.guidance}, {fast['params_m']:.1f} M params")
    for col in ("path", "best s/step", "median s/step", "interleaved steps (s)", "peak RSS MiB"):
        table.add_column(col)
    rss = {"fast": fast["peak_rss_mib"], "reference": ref["peak_rss_mib"]}
    for name, ts in times.items():
        table.add_row(name, f"{best[name]:.3f}", f"{med[name]:.3f}", " ".join(f"{t:.2f}" for t in ts),
                      f"{rss[name]:.0f}" if name in rss else "")
    con = Console()
    con.print(table)
    con.print(f"speed-up {mr / mf:.2f}x best-of-rounds, {med['reference'] / med['fast']:.2f}x median (per-round ratios {', '.join(f'{r:.2f}' for r in ratios)}); "
              f"max |latents fast − reference| after {s.steps} step(s) = {diff:.2e}")
    if fx:
        con.print(f"fixture end to end: {fx['wall_s']:.2f} s wall (exit {fx['exit_code']}); stages {fx['timings_s']}")

    result = {"benchmark": "bench_midi_step", "settings": asdict(s),
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "load_avg_1min": os.getloadavg()[0]},
              "best_step_s": best, "median_step_s": med, "interleaved_step_s": times, "round_speedups": ratios,
              "peak_rss_mib": rss, "speedup": mr / mf, "speedup_median": med["reference"] / med["fast"], "max_abs_latent_diff": diff,
              "params_m": fast["params_m"], "fixture_end_to_end": fx}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    con.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
