"""MIDI weight folders that are damaged or belong to another model, and batch failure records.

``scenewright reconstruct --method midi --weights DIR`` on a copy of the tiny random-weight
checkpoint (the fixture of ``tests/midi``) broken one way at a time: exit 2, one error line
naming the file, nothing written, the folder untouched. ``scenewright batch`` records a bad
capture's failure as one clean line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.robustness.cli_checks import assert_refused, copy_capture, scenewright, tree_digest

TINY = Path("/work/shared/fixtures/midi-tiny")


@pytest.fixture()
def weights(tmp_path) -> Path:
    import os
    src = Path(os.environ.get("SCENEWRIGHT_MIDI_TINY", TINY))
    if not (src / "model_index.json").is_file():
        pytest.skip("midi-tiny fixture not found (set SCENEWRIGHT_MIDI_TINY)")
    dst = tmp_path / "ckpt"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("golden"))
    shutil.copytree(src / "golden", tmp_path / "golden")
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


@pytest.fixture()
def capture(weights, tmp_path) -> Path:
    cap = tmp_path / "capture"
    cap.mkdir()
    shutil.copy(tmp_path / "golden" / "scene_rgb.png", cap / "rgb.png")
    shutil.copy(tmp_path / "golden" / "scene_seg.png", cap / "seg.png")
    return cap


def _truncate(folder: Path) -> str:
    f = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return "diffusion_pytorch_model.safetensors"


def _rename_keys(folder: Path) -> str:
    from safetensors.torch import load_file, save_file
    f = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(f))
    save_file({f"renamed.{k}": v for k, v in sd.items()}, str(f))
    return "diffusion_pytorch_model.safetensors"


def _wrong_shapes(folder: Path) -> str:
    cfg = folder / "transformer" / "config.json"
    data = json.loads(cfg.read_text())
    data["width"] = 2 * data["width"]
    cfg.write_text(json.dumps(data))
    return "diffusion_pytorch_model.safetensors"


def _unknown_class(folder: Path) -> str:
    idx = folder / "model_index.json"
    data = json.loads(idx.read_text())
    data["transformer"] = ["somewhere.else", "OtherDiT"]
    idx.write_text(json.dumps(data))
    return "OtherDiT"


@pytest.mark.parametrize("breakage", [_truncate, _rename_keys, _wrong_shapes, _unknown_class],
                         ids=["truncated file", "renamed keys", "wrong shapes", "unknown class"])
def test_broken_midi_weights(weights, capture, tmp_path, breakage):
    names = breakage(weights)
    out = tmp_path / "out"
    before = tree_digest(weights, capture)
    run = scenewright("reconstruct", capture, "-o", out, "--method", "midi", "--weights", weights,
                      "--set", "steps=1", "--set", "octree_depth=5")
    assert_refused(run, names, outputs=[out], inputs_before=before, inputs=[weights, capture])


def test_batch_records_one_line_reasons(tmp_path):
    """A capture with a broken camera.json and one with an unreadable rgb.png: each failure is
    one line naming the file; the good capture is reconstructed."""
    root = tmp_path / "captures"
    copy_capture(root / "good")
    bad_camera = copy_capture(root / "bad_camera")
    data = json.loads((bad_camera / "camera.json").read_text())
    data["K"][2] = [0, 0, 0]
    (bad_camera / "camera.json").write_text(json.dumps(data))
    bad_rgb = copy_capture(root / "bad_rgb")
    (bad_rgb / "rgb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\n".join([b"broken"] * 5))
    before = tree_digest(root)
    run = scenewright("batch", root, "-o", tmp_path / "pred", "--method", "boxes", "--address", "none",
                      timeout=600)
    assert "Traceback" not in run.stderr
    report = json.loads((tmp_path / "pred" / "batch.json").read_text())
    recs = {r["name"]: r for r in report["captures"]}
    assert recs["good"]["status"] == "ok"
    for name, text in (("bad_camera", "camera.json: K's last row"), ("bad_rgb", "rgb.png: cannot read image")):
        err = recs[name]["error"]
        assert recs[name]["status"] == "failed" and text in err and "\n" not in err, err
    assert tree_digest(root) == before
