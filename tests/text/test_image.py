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


def test_generate_with_image_model_end_to_end_and_repair(engine, text_library, tiny_image_model, tmp_path):
    pipe, lora = tiny_image_model
    out = tmp_path / "room"
    r = subprocess.run([sys.executable, "-m", "scenewright", "generate", "a bedroom with a bed and a nightstand",
                        "-o", str(out), "--library", str(text_library), "--image-model", str(pipe),
                        "--lora", str(lora), "--image-steps", "2", "--image-size", "128"],
                       capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "scene.json").read_text())
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
