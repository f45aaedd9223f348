"""Tiny random-weight Depth Anything, Grounding DINO and SAM, saved once per session."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "living_room" / "capture"
# Random weights score every box and label near 0.5: thresholds of 0 keep every query box
# (a real "found something" run), thresholds of 1 keep none (a real "found nothing" run).
FIND_ALL = ["--box-threshold", "0", "--text-threshold", "0"]
FIND_NOTHING = ["--box-threshold", "1", "--text-threshold", "1"]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    from scenewright.models.tiny import build_tiny_models
    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> Path:
    """A 320x240 JPEG of the example room (a real picture, not noise)."""
    path = tmp_path_factory.mktemp("photo") / "room.jpg"
    Image.open(EXAMPLE / "rgb.png").convert("RGB").resize((320, 240)).save(path, quality=90)
    return path


def populate_hub_cache(cache: Path, repo_id: str, files_from: Path, commit: str) -> None:
    """The layout huggingface_hub's cache has after an online download (blobs, snapshot, ref)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for f in files_from.iterdir():
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snap / f.name).symlink_to(Path("../../blobs") / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture
def offline_hub(tmp_path, tiny_models) -> tuple[dict, str]:
    """An offline hub cache holding the tiny depth, detector and segmenter at one commit:
    (the environment that points huggingface_hub at it, that commit)."""
    from scenewright.models.registry import MODELS
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    for name in ("depth", "detector", "segmenter"):
        populate_hub_cache(cache, MODELS[name].repo_id, tiny_models / name, commit)
    return {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}, commit


def run_cli(*args, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "scenewright", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)


def rgb_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image (gradients + blocks), so JPEG stays close to it."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    ((x // 16 + y // 16) % 2) * 200], axis=2)
    return img.astype(np.uint8)
