"""The models folder: where it is, downloading from a (pre-populated, offline) hub cache, listing,
and the one-line errors for missing and corrupt models."""

from __future__ import annotations

import json
import shutil

import pytest

from scenewright.errors import InputError
from scenewright.models.folder import MODELS_ENV, default_models_dir, model_folder, models_dir
from scenewright.models.registry import MODELS

from .conftest import FIND_ALL, run_cli


def test_models_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "env"))
    assert models_dir(tmp_path / "flag") == tmp_path / "flag"           # the flag wins
    assert models_dir(None) == tmp_path / "env"                          # then the environment
    monkeypatch.delenv(MODELS_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert models_dir(None) == default_models_dir() == tmp_path / "cache" / "scenewright" / "models"


def test_missing_model_is_one_line_naming_the_download_command(tmp_path, photo):
    with pytest.raises(InputError, match=r"depth model not found; fetch it with `scenewright models download depth --to"):
        model_folder("depth", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "cap"
    result = run_cli("perceive", photo, "-o", out, "--models", empty, *FIND_ALL)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {empty / 'detector'}: detector model not found")
    assert f"`scenewright models download detector --to {empty}`" in lines[0]
    assert not out.exists()


def test_corrupt_model_folders(tmp_path, photo, tiny_models):
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    weights = models / "detector" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])                   # a download cut short
    result = run_cli("perceive", photo, "-o", tmp_path / "a", "--models", models, *FIND_ALL)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"error: {models / 'detector'}: cannot load") and "\n" not in line
    assert "scenewright models download detector" in line

    shutil.copytree(tiny_models / "detector", models / "detector", dirs_exist_ok=True)
    cfg = json.loads((models / "segmenter" / "config.json").read_text())
    cfg["model_type"] = "bert"                                           # someone else's model
    (models / "segmenter" / "config.json").write_text(json.dumps(cfg))
    result = run_cli("perceive", photo, "-o", tmp_path / "b", "--models", models, *FIND_ALL)
    assert result.returncode == 2 and "model_type 'bert', expected sam" in result.stderr
    (models / "segmenter" / "config.json").write_text("{ not json")
    result = run_cli("perceive", photo, "-o", tmp_path / "c", "--models", models, *FIND_ALL)
    assert result.returncode == 2 and "config.json: unreadable" in result.stderr
    assert not any((tmp_path / n).exists() for n in "abc")


def test_download_from_an_offline_hub_cache(tmp_path, tiny_models, photo, offline_hub):
    env, commit = offline_hub
    env = {**env, MODELS_ENV: str(tmp_path / "unused")}
    target = tmp_path / "models"
    for name in ("depth", "detector", "segmenter"):
        result = run_cli("models", "download", name, "--to", target, env_extra=env)
        assert result.returncode == 0, result.stderr
        assert (target / name / "config.json").read_bytes() == (tiny_models / name / "config.json").read_bytes()
        assert not any(p.is_symlink() for p in (target / name).iterdir())   # real files, movable
        marker = json.loads((target / name / "scenewright-model.json").read_text())
        assert marker["commit"] == commit and marker["repo_id"] == MODELS[name].repo_id

    listing = run_cli("models", "list", "--models", target, env_extra=env)
    assert listing.returncode == 0
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()[1:] if not line.startswith("     ")}
    assert "present" in lines["depth"] and commit[:12] in lines["depth"] and "apache-2.0" in lines["depth"]
    assert "absent" in lines["midi"] and "scenewright models download midi" in lines["midi"]

    # A revision the cache does not hold: one line, nothing written.
    result = run_cli("models", "download", "dinov2", "--to", target, "--revision", "v9", env_extra=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "cannot download facebook/dinov2-small@v9" in result.stderr and not (target / "dinov2").exists()

    # The downloaded folder is what perception loads, and the record names the commit.
    out = tmp_path / "cap"
    result = run_cli("perceive", photo, "-o", out, "--models", target, *FIND_ALL)
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "perception.json").read_text())
    assert record["inputs"]["depth"]["by"]["commit"] == commit
    assert record["inputs"]["seg"]["by"]["segmenter"]["repo_id"] == MODELS["segmenter"].repo_id


def test_memory_from_real_configs():
    from scenewright.models.memory import parameter_count
    # Published sizes: Depth Anything V2 Small 24.8 M, SAM ViT-B 93.7 M, Grounding DINO tiny 172 M,
    # DINOv2 ViT-S/14 21–22 M. The count is exact for the architecture; 2 % covers the rounding
    # of the published figures.
    for name, published in [("depth", 24.8e6), ("segmenter", 93.7e6), ("detector", 172e6), ("dinov2", 22e6)]:
        assert abs(parameter_count(name) - published) <= 0.02 * published, name
    assert parameter_count("midi") is None
