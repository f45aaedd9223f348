"""`scenewright batch` over a folder of images (with and without MIDI seg, labels files), mixed
with capture folders, run through the command line with tiny random-weight models."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from scenewright.models.folder import MODELS_ENV

from .conftest import EXAMPLE, FIND_ALL, FIND_NOTHING, run_cli


def _image_folder(root: Path, photo: Path) -> Path:
    """room.jpg + room.txt, kitchen.webp (labels.json), scan_rgb.png + scan_seg.png (MIDI's pair),
    a capture folder, and a file that is not an image."""
    root.mkdir()
    shutil.copy(photo, root / "room.jpg")
    (root / "room.txt").write_text("sofa\narmchair\n")
    Image.open(photo).save(root / "kitchen.webp")
    Image.open(photo).convert("RGB").save(root / "scan_rgb.png")
    seg = Image.open(EXAMPLE / "seg.png").resize(Image.open(photo).size, Image.Resampling.NEAREST)
    seg.save(root / "scan_seg.png")
    (root / "labels.json").write_text(json.dumps({"kitchen": ["table", "chair"], "*": "lamp"}))
    shutil.copytree(EXAMPLE, root / "living")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    return root


def _records(out: Path) -> dict:
    return {r["name"]: r for r in json.loads((out / "batch.json").read_text())["captures"]}


def test_batch_over_images_seg_labels_and_captures(tmp_path, photo, tiny_models):
    src = _image_folder(tmp_path / "in", photo)
    out = tmp_path / "out"
    result = run_cli("batch", src, "-o", out, "--method", "boxes", "--address", "none", "--no-progress",
                     "--models", tiny_models, "--fov", "65", *FIND_ALL)
    assert result.returncode == 0, result.stderr          # some captures made it
    rec = _records(out)
    assert set(rec) == {"room", "kitchen", "scan", "living", "broken"}
    assert {n: r["status"] for n, r in rec.items()} == {
        "room": "ok", "kitchen": "ok", "scan": "ok", "living": "ok", "broken": "failed"}
    # The bad image is one line naming it, the others went on.
    assert rec["broken"]["error"].startswith(f"{src / 'broken.jpg'}: ") and "\n" not in rec["broken"]["error"]
    assert not (out / "broken").exists()

    room = json.loads((out / "room" / "scene.json").read_text())
    labels = room["inputs"]["inputs"]["labels"]
    assert labels["vocabulary"] == ["sofa", "armchair"] and labels["vocabulary_from"] == str(src / "room.txt")
    assert {i["label"] for i in room["instances"]} <= {"sofa", "armchair"}
    assert room["inputs"]["inputs"]["camera"] == {**room["inputs"]["inputs"]["camera"], "source": "given",
                                                  "by": "--fov 65"}
    kitchen = json.loads((out / "kitchen" / "scene.json").read_text())
    assert kitchen["inputs"]["inputs"]["labels"]["vocabulary"] == ["table", "chair"]
    assert kitchen["inputs"]["inputs"]["labels"]["vocabulary_from"] == str(src / "labels.json")

    # MIDI's pair: the seg is given (one instance per colour), so no detector or segmenter ran.
    scan = json.loads((out / "scan" / "scene.json").read_text())
    n_seg = len(np.unique(np.asarray(Image.open(EXAMPLE / "seg.png").convert("RGB")).reshape(-1, 3), axis=0)) - 1
    assert scan["inputs"]["inputs"]["seg"]["source"] == "given"
    assert scan["inputs"]["inputs"]["seg"]["file"] == str(src / "scan_seg.png")
    assert len(scan["instances"]) == scan["inputs"]["inputs"]["seg"]["instances"] <= n_seg
    assert rec["scan"]["perceived"]["seg"] == "given" and rec["scan"]["perceived"]["depth"] == "estimated"
    assert (out / "scan" / "perceived" / "perception.png").is_file()

    # Every model used is named in scene.json, identified by its config's hash.
    for scene, names in ((room, {"depth", "detector", "segmenter"}), (scan, {"depth"})):
        used = {m["name"]: m for m in scene["models"]}
        assert names <= set(used)
        for name in names:
            digest = hashlib.sha256((tiny_models / name / "config.json").read_bytes()).hexdigest()[:16]
            assert used[name]["config_sha256"] == digest
    # The complete capture folder is reconstructed as it is: nothing perceived, no models.
    living = json.loads((out / "living" / "scene.json").read_text())
    assert "inputs" not in living and "models" not in living and "perceived" not in rec["living"]

    # Resuming skips what is done; other photo options redo the images (not the capture folder).
    again = run_cli("batch", src, "-o", out, "--method", "boxes", "--address", "none", "--no-progress",
                    "--models", tiny_models, "--fov", "65", *FIND_ALL)
    assert again.returncode == 0
    assert {n for n, r in _records(out).items() if r["status"] == "skipped"} == {"room", "kitchen", "scan", "living"}
    other = run_cli("batch", src, "-o", out, "--method", "boxes", "--address", "none", "--no-progress",
                    "--models", tiny_models, "--fov", "70", *FIND_ALL)
    assert other.returncode == 0
    assert {n: r["status"] for n, r in _records(out).items() if n != "broken"} == {
        "room": "ok", "kitchen": "ok", "scan": "ok", "living": "ok"}


def test_batch_finds_models_through_the_environment_and_the_cache(tmp_path, photo, tiny_models):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "a.jpg")
    env = {MODELS_ENV: str(tiny_models)}
    result = run_cli("batch", src, "-o", tmp_path / "o1", "--method", "boxes", "--address", "none",
                     "--no-progress", *FIND_ALL, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert _records(tmp_path / "o1")["a"]["status"] == "ok"
    # No flag, no variable: the default cache folder.
    cache = tmp_path / "xdg"
    shutil.copytree(tiny_models, cache / "scenewright" / "models")
    result = run_cli("batch", src, "-o", tmp_path / "o2", "--method", "boxes", "--address", "none",
                     "--no-progress", *FIND_ALL, env_extra={MODELS_ENV: "", "XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stderr
    scene = json.loads((tmp_path / "o2" / "a" / "scene.json").read_text())
    assert {m["folder"] for m in scene["models"]} == {
        str(cache / "scenewright" / "models" / n) for n in ("depth", "detector", "segmenter")}


def test_batch_missing_model_is_one_line_before_any_work(tmp_path, photo):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "a.jpg")
    empty = tmp_path / "models"
    empty.mkdir()
    out = tmp_path / "out"
    result = run_cli("batch", src, "-o", out, "--method", "boxes", "--address", "none", "--no-progress",
                     "--models", empty)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {empty / 'detector'}: detector model not found; fetch it with "
                                      f"`scenewright models download detector --to {empty}`")
    assert not out.exists()


def test_batch_corrupt_model_and_labels_that_match_nothing(tmp_path, photo, tiny_models):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "a.jpg")
    shutil.copy(photo, src / "b.png")
    # Labels no box reaches: each image fails with the clear message, no empty scene is written.
    out = tmp_path / "out"
    result = run_cli("batch", src, "-o", out, "--method", "boxes", "--address", "none", "--no-progress",
                     "--models", tiny_models, "--labels", "grand piano", *FIND_NOTHING)
    assert result.returncode == 1                        # every capture failed
    for name in ("a", "b"):
        err = _records(out)[name]["error"]
        assert "no objects found for the labels [grand piano]" in err and "\n" not in err
        assert not (out / name).exists()
    # A download cut short: every image fails with one line naming the folder and the command.
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    weights = models / "segmenter" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:2000])
    out2 = tmp_path / "out2"
    result = run_cli("batch", src, "-o", out2, "--method", "boxes", "--address", "none", "--no-progress",
                     "--models", models, *FIND_ALL)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for name in ("a", "b"):
        err = _records(out2)[name]["error"]
        assert err.startswith(f"{models / 'segmenter'}: cannot load") and "scenewright models download segmenter" in err
        assert "traceback" not in _records(out2)[name]


def test_batch_input_shape_errors(tmp_path, photo, tiny_models):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "a.jpg")
    Image.new("L", (8, 8)).save(src / "b_seg.png")              # a seg whose image is not there
    result = run_cli("batch", src, "-o", tmp_path / "o", "--method", "boxes", "--address", "none",
                     "--models", tiny_models)
    assert result.returncode == 2 and f"{src / 'b_seg.png'}: a segmentation without its image" in result.stderr
    (src / "b_seg.png").unlink()
    (src / "labels.json").write_text(json.dumps({"kitchen": "sofa"}))   # a name no image has
    result = run_cli("batch", src, "-o", tmp_path / "o", "--method", "boxes", "--address", "none",
                     "--models", tiny_models)
    assert result.returncode == 2 and "labels for 'kitchen', which no image" in result.stderr
    (src / "labels.json").write_text(json.dumps({"a": 3}))
    result = run_cli("batch", src, "-o", tmp_path / "o", "--method", "boxes", "--address", "none",
                     "--models", tiny_models)
    assert result.returncode == 2 and "labels of 'a' must be a string or a list of strings" in result.stderr
    (src / "labels.json").unlink()
    for fov in ("0", "180", "500"):
        result = run_cli("batch", src, "-o", tmp_path / "o", "--method", "boxes", "--address", "none",
                         "--models", tiny_models, "--fov", fov)
        assert result.returncode == 2
        assert result.stderr.strip().startswith(f"error: --fov {fov}: expected the horizontal field of view "
                                                "in degrees, between 1 and 179")
    assert not (tmp_path / "o").exists()
