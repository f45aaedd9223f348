"""Shared fixtures of the MIDI tests: the midi-tiny checkpoint and its golden vectors.

The fixture (random-weight checkpoint + goldens from the original code) lives in the
shared folder beside the repository; ``SCENEWRIGHT_MIDI_TINY`` overrides its location
(see tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

# The tiny model's ops take microseconds; on a shared 2-core machine torch's intra-op
# threads then spend their time spinning. One thread is faster here and changes no
# golden by more than 1.2e-7 (fixture README, section 5).
torch.set_num_threads(1)

@pytest.fixture(scope="session")
def tiny(tiny_midi) -> Path:
    """The midi-tiny checkpoint (located by the shared tests/conftest.py)."""
    return tiny_midi


@pytest.fixture(scope="session")
def manifest(tiny) -> dict:
    return json.loads((tiny / "manifest.json").read_text())


@pytest.fixture(scope="session")
def golden(tiny):
    """golden(name) → dict of tensors of golden/<name>.safetensors."""
    from safetensors.torch import load_file
    cache: dict = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = load_file(str(tiny / "golden" / f"{name}.safetensors"))
        return cache[name]
    return get


@pytest.fixture(scope="session")
def atol(manifest):
    """atol(file, tensor) from manifest.json (the recommended float32 tolerance)."""
    def get(name: str, tensor: str) -> float:
        return float(manifest["files"][f"golden/{name}.safetensors"]["tensors"][tensor]["atol"])
    return get


@pytest.fixture(scope="session")
def pipe(tiny):
    from scenewright.methods.midi.pipeline import MIDIPipeline
    return MIDIPipeline.from_pretrained(tiny)


@pytest.fixture()
def tiny_copy(tiny, tmp_path) -> Path:
    """A writable copy of the checkpoint folder (without goldens) to break on purpose."""
    dst = tmp_path / "ckpt"
    shutil.copytree(tiny, dst, ignore=shutil.ignore_patterns("golden"))
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    dst.chmod(0o755)
    return dst


@pytest.fixture()
def capture_dir(tiny, tmp_path) -> Path:
    """A capture folder made of the fixture's scene_rgb.png and scene_seg.png."""
    cap = tmp_path / "capture"
    cap.mkdir()
    shutil.copy(tiny / "golden" / "scene_rgb.png", cap / "rgb.png")
    shutil.copy(tiny / "golden" / "scene_seg.png", cap / "seg.png")
    return cap


def maxdiff(a, b) -> float:
    import numpy as np
    import torch
    a = a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
    b = b.detach().float().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
