"""LoRA training on a tiny random pipeline and a tiny real benchmark: loss falls, checkpoints
resume to the same result, the LoRA loads into generate's image path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from scenewright.errors import InputError
from scenewright.text.train import LoraTrainSettings, caption_from_scene, train_image_lora


@pytest.fixture(scope="session")
def tiny_bench(text_library, tmp_path_factory):
    from scenewright.bench.generate import BenchSettings, make_bench
    out = tmp_path_factory.mktemp("lora_bench") / "bench"
    make_bench(out, text_library, BenchSettings(scenes=2, seed=0, size=64, objects=(3, 4)), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_pipe(tmp_path_factory):
    from scenewright.text.tiny import build_tiny_pipeline
    return build_tiny_pipeline(tmp_path_factory.mktemp("pipe_train") / "pipe")


SETTINGS = dict(rank=4, learning_rate=3e-3, batch_size=2, size=32, seed=0, eval_pairs=8)


def test_captions_come_from_scene_json():
    data = {"bench": {"theme": "bedroom"}, "instances": [{"category": "bed"}, {"category": "nightstand"},
                                                         {"category": "nightstand"}]}
    assert caption_from_scene(data) == "a bedroom with a bed and two nightstands"


def test_loss_falls_and_the_lora_loads_into_generate(tiny_bench, tiny_pipe, tmp_path):
    from scenewright.text.image import text_to_image
    out = tmp_path / "lora"
    rec = train_image_lora(tiny_bench, tiny_pipe, out, LoraTrainSettings(steps=60, checkpoint_every=30, **SETTINGS))
    assert rec["eval_loss_after"] < rec["eval_loss_before"]
    assert len(rec["losses"]) == 60 and json.loads((out / "train.json").read_text())["losses"] == rec["losses"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000030", "step_000060"]
    lora = out / "pytorch_lora_weights.safetensors"
    plain = text_to_image("a bedroom with a bed", tiny_pipe, steps=2, size=64)
    tuned = text_to_image("a bedroom with a bed", tiny_pipe, lora=lora, steps=2, size=64)
    assert not np.array_equal(plain, tuned)


def _resumed_equals_unbroken(bench, pipe, tmp_path, steps: int) -> tuple[dict, dict]:
    """Train ``steps`` in one run and in two halves (the second resuming from the first's
    checkpoint); the adapters must agree. Returns (resumed run's record, unbroken run's train.json)."""
    half = steps // 2
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_image_lora(bench, pipe, whole, LoraTrainSettings(steps=steps, checkpoint_every=half, **SETTINGS))
    train_image_lora(bench, pipe, parts, LoraTrainSettings(steps=half, checkpoint_every=half, **SETTINGS))
    rec = train_image_lora(bench, pipe, parts, LoraTrainSettings(steps=steps, checkpoint_every=half, **SETTINGS))
    assert rec["resumed_from"] == f"step_{half:06d}"
    a = load_file(str(whole / "checkpoints" / f"step_{steps:06d}" / "adapter.safetensors"))
    b = load_file(str(parts / "checkpoints" / f"step_{steps:06d}" / "adapter.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        # same operations in the same order on one CPU thread count: equal up to float32 rounding
        # of a few Adam steps (relative 1e-5 of the weights' scale)
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=1e-5, atol=1e-5 * float(a[k].abs().max()))
    return rec, json.loads((whole / "train.json").read_text())


def test_resume_equals_an_unbroken_run(tiny_bench, tiny_pipe, tmp_path):
    _resumed_equals_unbroken(tiny_bench, tiny_pipe, tmp_path, steps=8)


def test_mixed_precision_through_accelerate(tiny_bench, tiny_pipe, tmp_path):
    # bf16 autocast exists on CPUs too: the same run in bf16 learns, is recorded as such and
    # differs from the full-precision one (the autocast really wraps the denoiser's forward)
    runs = {}
    for mp in ("no", "bf16"):
        runs[mp] = train_image_lora(tiny_bench, tiny_pipe, tmp_path / mp,
                                    LoraTrainSettings(steps=6, checkpoint_every=6, mixed_precision=mp,
                                                      device="cpu", **SETTINGS))
        assert runs[mp]["mixed_precision"] == mp and runs[mp]["device"] == "cpu"
        assert np.all(np.isfinite(runs[mp]["losses"]))
    assert runs["bf16"]["losses"] != runs["no"]["losses"]
    with pytest.raises(InputError, match="--mixed-precision must be auto, no, bf16 or fp16, got 'fp8'"):
        train_image_lora(tiny_bench, tiny_pipe, tmp_path / "o", LoraTrainSettings(mixed_precision="fp8"))
    assert not (tmp_path / "o").exists()


def test_not_a_pipeline_or_bench_is_refused(tiny_bench, tiny_pipe, tmp_path):
    with pytest.raises(InputError, match="model_index.json"):
        train_image_lora(tiny_bench, tmp_path, tmp_path / "o")
    with pytest.raises(InputError, match="manifest.json"):
        train_image_lora(tmp_path, tiny_pipe, tmp_path / "o")
    assert not (tmp_path / "o").exists()


# FLUX.1: flow matching on packed latents with the scheduler's shifted sigmas

@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory):
    from scenewright.text.tiny import build_tiny_flux_pipeline
    return build_tiny_flux_pipeline(tmp_path_factory.mktemp("flux_train") / "pipe")


def test_flux_loss_falls_and_the_lora_loads_into_generate(tiny_bench, tiny_flux, tmp_path):
    from scenewright.text.image import text_to_image
    out = tmp_path / "flux_lora"
    rec = train_image_lora(tiny_bench, tiny_flux, out, LoraTrainSettings(steps=60, checkpoint_every=30, **SETTINGS))
    assert rec["pipeline"] == "FluxPipeline" and rec["objective"] == "flow matching (FLUX)"
    assert rec["eval_loss_after"] < rec["eval_loss_before"]
    assert len(rec["losses"]) == 60 and np.mean(rec["losses"][-15:]) < np.mean(rec["losses"][:15])
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000030", "step_000060"]
    lora = out / "pytorch_lora_weights.safetensors"
    assert all(k.startswith("transformer.") for k in load_file(str(lora)))
    plain = text_to_image("a bedroom with a bed", tiny_flux, steps=2, size=64)
    tuned = text_to_image("a bedroom with a bed", tiny_flux, lora=lora, steps=2, size=64)
    assert not np.array_equal(plain, tuned)


def test_flux_resume_equals_an_unbroken_run(tiny_bench, tiny_flux, tmp_path):
    rec, whole_rec = _resumed_equals_unbroken(tiny_bench, tiny_flux, tmp_path, steps=6)
    assert len(rec["losses"]) == 6
    # the first three losses come from the first run's checkpoint, the rest recomputed: same draws
    np.testing.assert_allclose(rec["losses"], whole_rec["losses"], rtol=1e-4)


def test_flux_sigmas_are_the_schedulers_shifted_ones(tiny_flux):
    """Training noise levels follow the scheduler's resolution-dependent shift: bigger pictures
    (longer packed sequences) train noisier, as FLUX.1-dev denoises them."""
    import torch

    from scenewright.text.image import load_pipeline
    from scenewright.text.train import FluxFlowMatching
    pipe = load_pipeline(tiny_flux)
    levels = {}
    for size in (32, 128):
        objective = FluxFlowMatching(pipe, LoraTrainSettings(size=size), tiny_flux)
        with torch.no_grad():
            objective.encode(torch.zeros(1, 3, size, size), ["a bedroom"])
        sig = objective.sigmas.numpy()
        n = pipe.scheduler.config.num_train_timesteps
        assert sig.shape == (n,) and sig[0] == pytest.approx(1.0) and np.all(np.diff(sig) < 0) and sig[-1] > 0
        # mu > 0 shifts every level above the linear schedule 1 … 1/n
        assert objective.mu > 0 and np.all(sig[1:-1] > np.linspace(1.0, 1.0 / n, n)[1:-1])
        levels[size] = sig
    assert np.all(levels[128][1:-1] > levels[32][1:-1])


def test_flux_without_guidance_embedding_trains(tiny_bench, tmp_path):
    """FLUX.1-schnell's layout (no guidance embedding) trains too: the guidance input is left out."""
    from scenewright.text.tiny import build_tiny_flux_pipeline
    pipe = build_tiny_flux_pipeline(tmp_path / "schnell", guidance_embeds=False)
    rec = train_image_lora(tiny_bench, pipe, tmp_path / "o", LoraTrainSettings(steps=2, checkpoint_every=2, **SETTINGS))
    assert len(rec["losses"]) == 2 and np.all(np.isfinite(rec["losses"]))


def test_flux_training_refuses_bad_sizes_and_broken_folders(tiny_bench, tiny_flux, tmp_path):
    import shutil
    with pytest.raises(InputError, match="multiple of 4"):
        train_image_lora(tiny_bench, tiny_flux, tmp_path / "o", LoraTrainSettings(steps=1, size=30))
    broken = tmp_path / "broken"
    shutil.copytree(tiny_flux, broken)
    shutil.rmtree(broken / "text_encoder_2")
    with pytest.raises(InputError, match="text_encoder_2/"):
        train_image_lora(tiny_bench, broken, tmp_path / "o2", LoraTrainSettings(steps=1, size=32))
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


def test_train_image_lora_cli_shows_progress_and_resumes(tiny_bench, tiny_flux, tmp_path):
    import os
    import subprocess
    import sys
    out = tmp_path / "cli_lora"
    base = [sys.executable, "-m", "scenewright", "train", "image-lora", "--bench", str(tiny_bench), "--image-model",
            str(tiny_flux), "-o", str(out), "--rank", "4", "--batch-size", "2", "--size", "32",
            "--checkpoint-every", "2", "--lr", "3e-3"]
    r = subprocess.run(base + ["--steps", "2"], capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "train: step 1/2" in r.stdout and "train: step 2/2" in r.stdout
    assert "FluxPipeline, flow matching (FLUX)" in r.stdout and (out / "pytorch_lora_weights.safetensors").is_file()
    r = subprocess.run(base + ["--steps", "4"], capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "train: step 1/4" not in r.stdout and "train: step 4/4" in r.stdout
    rec = json.loads((out / "train.json").read_text())
    assert rec["resumed_from"] == "step_000002" and len(rec["losses"]) == 4
