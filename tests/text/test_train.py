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


def test_resume_equals_an_unbroken_run(tiny_bench, tiny_pipe, tmp_path):
    whole = tmp_path / "whole"
    train_image_lora(tiny_bench, tiny_pipe, whole, LoraTrainSettings(steps=8, checkpoint_every=4, **SETTINGS))
    parts = tmp_path / "parts"
    train_image_lora(tiny_bench, tiny_pipe, parts, LoraTrainSettings(steps=4, checkpoint_every=4, **SETTINGS))
    rec = train_image_lora(tiny_bench, tiny_pipe, parts, LoraTrainSettings(steps=8, checkpoint_every=4, **SETTINGS))
    assert rec["resumed_from"] == "step_000004"
    a = load_file(str(whole / "checkpoints" / "step_000008" / "adapter.safetensors"))
    b = load_file(str(parts / "checkpoints" / "step_000008" / "adapter.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        # same operations in the same order on one CPU thread count: equal up to float32 rounding
        # of 8 Adam steps (relative 1e-5 of the weights' scale)
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=1e-5, atol=1e-5 * float(a[k].abs().max()))


def test_not_a_pipeline_or_bench_is_refused(tiny_bench, tiny_pipe, tmp_path):
    with pytest.raises(InputError, match="model_index.json"):
        train_image_lora(tiny_bench, tmp_path, tmp_path / "o")
    with pytest.raises(InputError, match="manifest.json"):
        train_image_lora(tmp_path, tiny_pipe, tmp_path / "o")
    assert not (tmp_path / "o").exists()
