"""The image path on tiny random pipelines built from configs: text → picture (diffusers, LoRA),
picture → scene (tiny perception models, layout method), repair by the request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scenewright.errors import InputError


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory, models_dir):
    from scenewright.models.tiny import build_tiny_models
    from scenewright.text.tiny import build_tiny_lora, build_tiny_pipeline
    build_tiny_models(models_dir)                     # depth, detector, segmenter beside MiniLM
    root = tmp_path_factory.mktemp("image_model")
    pipe = build_tiny_pipeline(root / "pipe")
    lora = build_tiny_lora(pipe, root / "lora" / "tiny_lora.safetensors")
    return pipe, lora


def test_text_to_image_runs_the_pipeline_folder_and_the_lora(tiny_image_model):
    from scenewright.text.image import text_to_image
    pipe, lora = tiny_image_model
    a = text_to_image("a bedroom", pipe, steps=2, size=64, seed=1)
    again = text_to_image("a bedroom", pipe, steps=2, size=64, seed=1)
    other = text_to_image("a bedroom", pipe, steps=2, size=64, seed=2)
    with_lora = text_to_image("a bedroom", pipe, lora=lora, steps=2, size=64, seed=1)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, again)
    assert not np.array_equal(a, other) and not np.array_equal(a, with_lora)


def test_bad_image_model_and_lora_are_input_errors(tiny_image_model, tmp_path):
    from scenewright.text.image import text_to_image
    pipe, _ = tiny_image_model
    with pytest.raises(InputError, match="model_index.json"):
        text_to_image("a bed", tmp_path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a lora")
    with pytest.raises(InputError, match=str(bad)):
        text_to_image("a bed", pipe, lora=bad, steps=1, size=64)


def _generate_bedroom(out, library, pipe, lora, size: int) -> dict:
    """``scenewright generate`` of a bedroom through the image model and LoRA; its scene.json."""
    r = subprocess.run([sys.executable, "-m", "scenewright", "generate", "a bedroom with a bed and a nightstand",
                        "-o", str(out), "--library", str(library), "--image-model", str(pipe),
                        "--lora", str(lora), "--image-steps", "2", "--image-size", str(size)],
                       capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "scene.json").read_text())


def test_generate_with_image_model_end_to_end_and_repair(engine, text_library, tiny_image_model, tmp_path):
    pipe, lora = tiny_image_model
    out = tmp_path / "room"
    data = _generate_bedroom(out, text_library, pipe, lora, size=128)
    assert data["image"]["lora"] == str(lora.resolve()) and data["request"]["room_type"] == "bedroom"
    assert (out / "generated.png").is_file() and (out / "preview.png").is_file()
    present = {i["category"] for i in data["instances"]}
    assert {o["category"] for o in data["request"]["objects"]} <= present      # repaired if lost

    # a request asking for more than the picture shows: what is missing is added, clear of the rest
    from scenewright.evaluate.plausibility import check_plausibility
    from scenewright.scene import read_scene
    from scenewright.text.image import repair
    recon = read_scene(out)
    request = engine.parse("a bedroom with a bed, a nightstand and a sofa and two armchairs")
    scene, report = repair(engine, request, recon, seed=0)
    had = {c: sum(i.category == c for i in recon.instances) for c in ("sofa", "armchair")}
    assert report["missing"].get("armchair", 0) == max(0, 2 - had["armchair"])
    counts = {c: sum(i.category == c for i in scene.instances) for c in ("sofa", "armchair")}
    assert counts["sofa"] >= 1 and counts["armchair"] >= 2
    added = set(report["added_ids"])
    assert added and min(added) > max(i.id for i in recon.instances)
    plaus = check_plausibility({i.id: i.world_mesh() for i in scene.instances}, None)
    assert not [p for p in plaus["interpenetrating_pairs"] if added & set(p)]


# FLUX.1, as Imaginarium runs it: a tiny random FluxPipeline folder (transformer with a guidance
# embedding, 16-channel VAE, CLIP + T5 text encoders with locally assembled tokenizers)

@pytest.fixture(scope="session")
def tiny_flux_model(tmp_path_factory):
    from scenewright.text.tiny import build_tiny_flux_pipeline, build_tiny_lora
    root = tmp_path_factory.mktemp("flux_model")
    pipe = build_tiny_flux_pipeline(root / "pipe")
    lora = build_tiny_lora(pipe, root / "lora" / "tiny_flux_lora.safetensors")
    return pipe, lora


def test_tiny_flux_folder_loads_as_flux_pipeline(tiny_flux_model):
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from scenewright.text.image import load_pipeline
    pipe = load_pipeline(tiny_flux_model[0])
    assert isinstance(pipe, FluxPipeline) and isinstance(pipe.transformer, FluxTransformer2DModel)
    assert isinstance(pipe.scheduler, FlowMatchEulerDiscreteScheduler) and pipe.scheduler.config.use_dynamic_shifting
    assert pipe.vae.config.latent_channels == 16 and pipe.transformer.config.in_channels == 16 * 4
    assert pipe.transformer.config.guidance_embeds
    # both tokenizers work offline and tell letters apart
    assert pipe.tokenizer("a bed").input_ids != pipe.tokenizer("a bet").input_ids
    t5 = pipe.tokenizer_2("a bed").input_ids
    assert t5[-1] == pipe.tokenizer_2.eos_token_id and pipe.tokenizer_2.unk_token_id not in t5


def test_flux_text_to_image_and_lora(tiny_flux_model):
    from scenewright.text.image import text_to_image
    pipe, lora = tiny_flux_model
    a = text_to_image("a bedroom", pipe, steps=2, size=64, seed=1)
    again = text_to_image("a bedroom", pipe, steps=2, size=64, seed=1)
    other_seed = text_to_image("a bedroom", pipe, steps=2, size=64, seed=2)
    other_prompt = text_to_image("a kitchen", pipe, steps=2, size=64, seed=1)
    with_lora = text_to_image("a bedroom", pipe, lora=lora, steps=2, size=64, seed=1)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, again)
    for b in (other_seed, other_prompt, with_lora):
        assert not np.array_equal(a, b)


def test_broken_flux_folders_and_foreign_loras_are_input_errors(tiny_flux_model, tiny_image_model, tmp_path):
    import shutil

    from scenewright.text.image import load_pipeline, text_to_image
    pipe, _ = tiny_flux_model
    no_transformer = tmp_path / "no_transformer"
    shutil.copytree(pipe, no_transformer)
    shutil.rmtree(no_transformer / "transformer")
    with pytest.raises(InputError, match="transformer/ .FluxTransformer2DModel."):
        load_pipeline(no_transformer)
    no_t5_tokenizer = tmp_path / "no_t5_tokenizer"
    shutil.copytree(pipe, no_t5_tokenizer)
    shutil.rmtree(no_t5_tokenizer / "tokenizer_2")
    with pytest.raises(InputError, match="tokenizer_2/"):
        load_pipeline(no_t5_tokenizer)
    broken_weights = tmp_path / "broken_weights"
    shutil.copytree(pipe, broken_weights)
    (broken_weights / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(InputError, match=str(broken_weights)):
        load_pipeline(broken_weights)
    broken_index = tmp_path / "broken_index"
    shutil.copytree(pipe, broken_index)
    (broken_index / "model_index.json").write_text("{")
    with pytest.raises(InputError, match="model_index.json: not readable JSON"):
        load_pipeline(broken_index)
    # a Stable Diffusion LoRA names no FLUX layer: refused instead of silently ignored
    _, sd_lora = tiny_image_model
    with pytest.raises(InputError, match="no layer of FluxPipeline"):
        text_to_image("a bed", pipe, lora=sd_lora, steps=1, size=64)
    with pytest.raises(InputError, match="multiple of 4"):
        text_to_image("a bed", pipe, steps=1, size=66)


def test_generate_cli_with_a_flux_folder_and_lora(engine, text_library, tiny_image_model, tiny_flux_model, tmp_path):
    pipe, lora = tiny_flux_model
    out = tmp_path / "flux_room"
    data = _generate_bedroom(out, text_library, pipe, lora, size=64)
    assert data["image"]["model"] == str(pipe.resolve()) and data["image"]["lora"] == str(lora.resolve())
    assert (out / "generated.png").is_file() and (out / "preview.png").is_file()
    assert {o["category"] for o in data["request"]["objects"]} <= {i["category"] for i in data["instances"]}
