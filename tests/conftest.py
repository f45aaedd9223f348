"""Fixtures every test area may use: where the shared inputs are, and one small real library
and benchmark built once per session.

- ``FURNITURE``: Debian's Sweet Home 3D catalogs (``sweethome3d-furniture``);
- ``TINY_MIDI``: the midi-tiny checkpoint (``SCENEWRIGHT_MIDI_TINY`` overrides it; the
  ``tiny_midi`` fixture skips when it is not there);
- ``tiny_dinov2``: a tiny random-init DINOv2 saved with ``save_pretrained`` (loaded by
  the same code as real weights);
- ``small_library``: ten light assets of two catalogs covering every placement role,
  built by the real library builder; ``small_bench``: two 128 px rooms furnished from it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FURNITURE = Path("/usr/share/sweethome3d/furniture")
CATALOGS = ["BlendSwap-CC-0", "KatorLegaz"]
SMALL_ASSETS = [
    "BlendSwap-CC-0/couch2", "BlendSwap-CC-0/bedsideTable2", "BlendSwap-CC-0/bookcase",
    "BlendSwap-CC-0/oakTable", "BlendSwap-CC-0/chair2", "BlendSwap-CC-0/desklamp",
    "BlendSwap-CC-0/littlePlant", "KatorLegaz/glass-dining-table", "KatorLegaz/dining-chair",
    "KatorLegaz/futon-couch",
]


def _find_tiny_midi() -> Path:
    for candidate in (os.environ.get("SCENEWRIGHT_MIDI_TINY"), REPO.parent / "shared" / "fixtures" / "midi-tiny",
                      REPO / "shared" / "fixtures" / "midi-tiny", "/work/shared/fixtures/midi-tiny"):
        if candidate and (Path(candidate) / "model_index.json").is_file():
            return Path(candidate)
    return Path(os.environ.get("SCENEWRIGHT_MIDI_TINY", "/work/shared/fixtures/midi-tiny"))


TINY_MIDI = _find_tiny_midi()


@pytest.fixture(scope="session")
def furniture() -> Path:
    """The Sweet Home 3D catalog folder (with the two small catalogs); skips without it."""
    if not all((FURNITURE / f"{c}.sh3f").is_file() for c in CATALOGS):
        pytest.skip("Sweet Home 3D catalogs not installed")
    return FURNITURE


@pytest.fixture(scope="session")
def midi_tiny_location() -> Path:
    """Where the midi-tiny checkpoint is looked for (it may be absent: tests check)."""
    return TINY_MIDI


@pytest.fixture(scope="session")
def tiny_midi() -> Path:
    if not (TINY_MIDI / "model_index.json").is_file():
        pytest.skip("midi-tiny fixture not found (set SCENEWRIGHT_MIDI_TINY)")
    return TINY_MIDI


@pytest.fixture(scope="session")
def tiny_dinov2(tmp_path_factory) -> Path:
    import torch
    from transformers import Dinov2Config, Dinov2Model
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       image_size=56, patch_size=14)
    folder = tmp_path_factory.mktemp("dinov2")
    Dinov2Model(cfg).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def small_library(furniture, tmp_path_factory) -> Path:
    from scenewright.library import BuildSettings, build_library
    out = tmp_path_factory.mktemp("small_lib") / "library"
    build_library(out, [furniture / f"{c}.sh3f" for c in CATALOGS], workers=2, only=SMALL_ASSETS, progress=False,
                  settings=BuildSettings(n_samples=512, voxel_grid=8, view_size=64))
    return out


@pytest.fixture(scope="session")
def small_bench(small_library, tmp_path_factory) -> Path:
    from scenewright.bench.generate import BenchSettings, make_bench
    out = tmp_path_factory.mktemp("small_bench") / "bench"
    make_bench(out, small_library, BenchSettings(scenes=2, seed=0, size=128, objects=(3, 5)), progress=False)
    return out
