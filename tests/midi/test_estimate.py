"""The released-model time estimate and the MIDI progress bars.

The FLOP counts of ``estimate.py`` are checked against torch's own count of the matrix
products a real (small, random-weight) DiT and VAE decoder run — with explicit attention,
whose products torch counts (its fused CPU kernel it does not).
"""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from scenewright.methods.midi import estimate
from scenewright.methods.midi.attention import pack_attention_weights
from scenewright.methods.midi.pipeline import FastPaths, MIDIPipeline
from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
from scenewright.methods.midi.transformer import MIDITransformer, MIDITransformerConfig
from scenewright.methods.midi.vae import MIDIVAE, MIDIVAEConfig

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CAPTURE = REPO / "examples" / "living_room" / "capture"
# what the count leaves out: norms, activations, the time embedding, proj_in/out (≪ 1 %)
COUNT_TOLERANCE = 0.01


def test_docstring_examples():
    result = doctest.testmod(estimate, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def counted_step_flops(width: int, heads: int, instances: int) -> tuple[float, MIDITransformerConfig]:
    """torch's count of one denoising step: two steps minus one (the condition keys and values
    are computed once per run)."""
    torch.manual_seed(0)
    cfg = MIDITransformerConfig(num_attention_heads=heads, width=width, num_layers=21)
    transformer = pack_attention_weights(MIDITransformer(cfg).eval())

    class Components:
        scheduler = RectifiedFlowScheduler()
    Components.transformer = transformer
    pipe = MIDIPipeline(Components(), "cpu", "float32")
    e1 = torch.randn(instances, 1, cfg.cross_attention_dim)
    e2 = torch.randn(instances, estimate.DINO_TOKENS, cfg.cross_attention_2_dim)
    flops = []
    for steps in (1, 2):
        with FlopCounterMode(display=False) as counter:
            pipe.denoise(e1, e2, steps=steps, guidance=7.0, seed=0, keep_trace=False, fast=FastPaths(sdpa=False))
        flops.append(counter.get_total_flops())
    return flops[1] - flops[0], cfg


@pytest.mark.parametrize("width, heads, instances", [(64, 1, 3), (128, 2, 1)])
def test_dit_step_flops_match_the_counted_products(width, heads, instances):
    counted, cfg = counted_step_flops(width, heads, instances)
    assert estimate.dit_step_flops(cfg, instances) == pytest.approx(counted, rel=COUNT_TOLERANCE)


@pytest.mark.parametrize("queries", [0, 2000])
def test_decoder_flops_match_the_counted_products(queries):
    torch.manual_seed(0)
    cfg = MIDIVAEConfig(width_encoder=32, width_decoder=64, num_layers_encoder=1, num_layers_decoder=3,
                        num_attention_heads=2, latent_channels=8)
    vae = MIDIVAE(cfg).eval()
    latent_tokens = 128
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        query = vae.query_fn(torch.randn(latent_tokens, cfg.latent_channels))
        if queries:
            query(torch.rand(queries, 3) * 2 - 1)
    assert estimate.decoder_flops(cfg, latent_tokens, queries) == pytest.approx(
        counter.get_total_flops(), rel=COUNT_TOLERANCE)


def test_estimate_scales_with_the_settings():
    small_step, queries, rate = 0.25, [100_000, 50_000], 50e9
    base = estimate.estimate_released(50, 2, small_step, queries, rate=rate)
    assert base.step_s == pytest.approx(small_step + estimate.dit_step_flops(MIDITransformerConfig(), 2) / rate)
    assert estimate.estimate_released(100, 2, small_step, queries, rate=rate).denoise_s == pytest.approx(
        2 * base.denoise_s)
    more_queries = estimate.estimate_released(50, 2, small_step, [200_000, 100_000], rate=rate)
    assert more_queries.decode_s > base.decode_s and more_queries.denoise_s == base.denoise_s
    assert base.total_s == pytest.approx(base.denoise_s + base.decode_s)


def test_tiny_run_bars_and_hint(tiny, tmp_path):
    """A run with the tiny checkpoint: the bars end complete (so their elapsed time stops),
    and the note and scene.json say what the released model would take."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TTY_COMPATIBLE": "1", "COLUMNS": "160", "XDG_CONFIG_HOME": str(tmp_path / "config-home")}
    steps = 2
    proc = subprocess.run([sys.executable, "-m", "scenewright", "reconstruct", str(EXAMPLE_CAPTURE), "-o",
                           str(tmp_path / "out"), "--method", "midi", "--weights", str(tiny), "--no-preview",
                           "--set", f"steps={steps}", "--set", "octree_depth=4"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    scene = json.loads((tmp_path / "out" / "scene.json").read_text())
    n = len(scene["instances"])
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", proc.stderr).replace("\r", "\n")
    denoise_lines = [line for line in plain.splitlines() if f"denoising {n} instances" in line]
    decode_lines = [line for line in plain.splitlines() if "midi decoding" in line]
    assert denoise_lines and f"{steps}/{steps}" in denoise_lines[-1]
    assert decode_lines and f"{2 * n}/{2 * n}" in decode_lines[-1]
    assert len(decode_lines[-1].split("midi decoding")) == 2          # one decode bar, not one per pass

    est = scene["released_model_estimate"]
    assert est["total_s"] == pytest.approx(est["denoise_s"] + est["decode_s"], abs=0.1)
    assert est["small_step_s"] == pytest.approx(scene["timings_s"]["denoise"] / steps, rel=0.01, abs=1e-3)
    assert est["queries"] > 0 and est["rate_gflops"] > 0
    assert est["denoise_s"] > steps * estimate.dit_step_flops(MIDITransformerConfig(), n) / (est["rate_gflops"] * 1e9)
    assert "note: the released MIDI model would take about" in proc.stdout
