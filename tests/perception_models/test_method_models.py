"""The methods' own models (MIDI's checkpoint, layout's DINOv2 features) come from the models
folder too, and every scene names the models that made it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .conftest import EXAMPLE, run_cli


def _sha256_of_weights(folder: Path) -> str:
    """The documented hash: every weight file in path order, its relative path then its bytes."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt",
                                                                                    ".pth", ".ckpt")):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def test_midi_from_the_models_folder_on_rgb_and_seg(tmp_path, tiny_models, tiny_midi):
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "depth", models / "depth")
    shutil.copytree(tiny_midi, models / "midi", ignore=shutil.ignore_patterns("golden"))
    out = tmp_path / "scene"
    # MIDI's own inputs: an rgb and a seg png, no --weights: the models folder's checkpoint is used.
    result = run_cli("reconstruct", tiny_midi / "golden" / "scene_rgb.png", "--seg", tiny_midi / "golden" / "scene_seg.png",
                     "-o", out, "--method", "midi", "--models", models, "--no-preview",
                     "--set", "steps=1", "--set", "octree_depth=3", "--set", "extraction=dense")
    assert result.returncode == 0, result.stderr
    scene = json.loads((out / "scene.json").read_text())
    used = {m["name"]: m for m in scene["models"]}
    assert set(used) == {"midi", "depth"}
    assert used["midi"]["folder"] == str(models / "midi")
    assert used["midi"]["config_sha256"] == hashlib.sha256((models / "midi" / "model_index.json").read_bytes()).hexdigest()[:16]
    assert scene["inputs"]["inputs"]["seg"]["source"] == "given"

    listing = run_cli("models", "list", "--models", models)
    assert listing.returncode == 0, listing.stderr
    midi_line = next(line for line in listing.stdout.splitlines() if line.split()[:1] == ["midi"])
    assert "present" in midi_line and "licence mit" in midi_line
    assert f"weights sha256 {_sha256_of_weights(models / 'midi')[:16]}" in midi_line
    # --memory counts the checkpoint's tensors (MIDI has no config-only model here).
    from safetensors.torch import load_file
    n = sum(t.numel() for f in (models / "midi").rglob("*.safetensors") for t in load_file(f).values())
    listing = run_cli("models", "list", "--models", models, "--memory")
    midi_line = next(line for line in listing.stdout.splitlines() if line.split()[:1] == ["midi"])
    assert f"{n / 1e6:.1f} M params" in midi_line


def test_missing_midi_checkpoint_is_one_line(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    result = run_cli("reconstruct", EXAMPLE, "-o", tmp_path / "o", "--method", "midi", "--models", empty)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: --method midi needs --weights DIR or its checkpoint in the models folder: {empty / 'midi'}: "
        f"midi model not found; fetch it with `scenewright models download midi --to {empty}`")
    result = run_cli("batch", EXAMPLE, "-o", tmp_path / "o", "--method", "midi", "--models", empty)
    assert result.returncode == 2 and f"`scenewright models download midi --to {empty}`" in result.stderr
    assert not (tmp_path / "o").exists()


def test_layout_dinov2_features_from_the_models_folder(tmp_path, small_library, tiny_dinov2):
    models = tmp_path / "models"
    shutil.copytree(tiny_dinov2, models / "dinov2")
    out = tmp_path / "scene"
    result = run_cli("reconstruct", EXAMPLE, "-o", out, "--library", small_library, "--models", models,
                     "--no-preview", "--set", "features=dinov2", "--set", "pose.render_assets=1")
    assert result.returncode == 0, result.stderr
    scene = json.loads((out / "scene.json").read_text())
    assert scene["method"]["settings"]["dinov2_weights"] == str(models / "dinov2")
    used = {m["name"]: m for m in scene["models"]}
    assert set(used) == {"dinov2"}
    assert used["dinov2"]["config_sha256"] == hashlib.sha256((models / "dinov2" / "config.json").read_bytes()).hexdigest()[:16]
    # Without it there: one line naming the download command.
    shutil.rmtree(models / "dinov2")
    result = run_cli("reconstruct", EXAMPLE, "-o", tmp_path / "o2", "--library", small_library, "--models", models,
                     "--set", "features=dinov2")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {models / 'dinov2'}: dinov2 model not found; fetch it with "
                                      f"`scenewright models download dinov2 --to {models}` (or --set dinov2_weights=DIR)")


def test_fov_is_checked_before_any_work(tmp_path, photo):
    for command in ("reconstruct", "perceive"):
        for fov in ("0.5", "179.5", "-60"):
            result = run_cli(command, photo, "-o", tmp_path / "o", "--fov", fov, "--models", tmp_path / "none",
                             "--method" if command == "reconstruct" else "--overwrite",
                             *(["boxes"] if command == "reconstruct" else []))
            assert result.returncode == 2, (command, fov)
            assert result.stderr.strip() == (f"error: --fov {float(fov):g}: expected the horizontal field of view in "
                                              "degrees, between 1 and 179 (a phone's main camera is about 65-75)")
    assert not (tmp_path / "o").exists()


def test_scene_names_downloaded_models_by_revision_commit_and_hash(tmp_path, photo, offline_hub):
    from scenewright.models.folder import MODELS_ENV
    from scenewright.models.registry import MODELS

    from .conftest import FIND_ALL
    env, commit = offline_hub
    env = {**env, MODELS_ENV: str(tmp_path / "models")}
    for name in ("depth", "detector", "segmenter"):
        assert run_cli("models", "download", name, env_extra=env).returncode == 0
    out = tmp_path / "scene"
    result = run_cli("reconstruct", photo, "-o", out, "--method", "boxes", "--no-preview", *FIND_ALL, env_extra=env)
    assert result.returncode == 0, result.stderr
    used = {m["name"]: m for m in json.loads((out / "scene.json").read_text())["models"]}
    assert set(used) == {"depth", "detector", "segmenter"}
    for name, entry in used.items():
        assert entry["repo_id"] == MODELS[name].repo_id and entry["revision"] == "main" and entry["commit"] == commit
        assert entry["weights_sha256"] == _sha256_of_weights(tmp_path / "models" / name)
