"""Photo → capture → scene through the commands users run, with tiny random-weight models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from scenewright.capture import Capture, intrinsics_from_hfov, load_capture
from scenewright.cli import main
from scenewright.errors import InputError
from scenewright.perception.detect import Detection, box_iou, merge_detections, nms
from scenewright.perception.image_input import load_seg
from scenewright.perception.segment import masks_to_seg

from .conftest import EXAMPLE, FIND_ALL, FIND_NOTHING, rgb_image, run_cli


def test_perceive_command_writes_a_capture(tmp_path, tiny_models, photo):
    out = tmp_path / "cap"
    result = run_cli("perceive", photo, "-o", out, "--models", tiny_models, "--labels", "sofa, chair", *FIND_ALL)
    assert result.returncode == 0, result.stderr
    cap = load_capture(out)                      # what reconstruct will read
    assert (cap.width, cap.height) == (320, 240) and cap.instance_ids
    assert cap.depth.shape == (240, 320) and np.isfinite(cap.depth).all() and (cap.depth > 0).all()
    assert set(cap.labels.values()) <= {"sofa", "chair"} and set(cap.labels) == set(cap.instance_ids)
    record = json.loads((out / "perception.json").read_text())
    assert {k: v["source"] for k, v in record["inputs"].items()} == {
        "seg": "estimated", "labels": "estimated", "depth": "estimated", "camera": "estimated"}
    assert record["inputs"]["depth"]["by"]["class"] == "DepthAnythingForDepthEstimation"
    assert record["inputs"]["seg"]["by"]["segmenter"]["class"] == "SamModel"
    # No focal length given, no floor/wall fit with random depth: the depth model's own 60° camera.
    assert record["inputs"]["camera"]["hfov_deg"] == pytest.approx(60.0)
    assert np.allclose(cap.K, intrinsics_from_hfov(320, 240, 60.0))
    assert len(record["detections"]) == len(cap.instance_ids)
    assert all(d["id"] in cap.instance_ids for d in record["detections"])
    overlay = np.asarray(Image.open(out / "perception.png"))
    assert overlay.shape[0] == 240 and overlay.shape[1] > 2 * 320          # masks beside depth
    assert [p.name for p in tmp_path.iterdir()] == ["cap"]                 # no temporary left over


def test_photo_to_scene_end_to_end(tmp_path, tiny_models, photo):
    out = tmp_path / "scene"
    result = run_cli("reconstruct", photo, "-o", out, "--method", "boxes", "--models", tiny_models,
                     "--labels", "sofa, armchair, coffee table", *FIND_ALL, "--no-preview")
    assert result.returncode == 0, result.stderr
    scene = json.loads((out / "scene.json").read_text())
    perceived = load_capture(out / "perceived")
    assert sorted(i["id"] for i in scene["instances"]) == perceived.instance_ids
    assert {i["label"] for i in scene["instances"]} <= {"sofa", "armchair", "coffee table"}
    assert scene["inputs"]["from"] == str(photo)
    assert scene["inputs"]["inputs"]["depth"]["source"] == "estimated"
    assert (out / "scene.glb").stat().st_size > 0 and (out / "perceived" / "perception.png").is_file()


def test_rgb_and_midi_seg_to_scene(tmp_path, tiny_models):
    """MIDI's inputs: an rgb image and a colour-per-instance seg PNG, no labels, depth or camera."""
    midi_seg = tmp_path / "seg.png"
    given = load_seg(EXAMPLE / "seg.png")
    palette = np.random.default_rng(1).integers(30, 256, (int(given.max()) + 1, 3)).astype(np.uint8)
    palette[0] = 0
    Image.fromarray(palette[given]).save(midi_seg)                     # instances as colours, background black
    out = tmp_path / "scene"
    result = run_cli("reconstruct", EXAMPLE / "rgb.png", "--seg", midi_seg, "-o", out, "--method", "boxes",
                     "--models", tiny_models, "--labels", "chair", "--no-preview")
    assert result.returncode == 0, result.stderr
    scene = json.loads((out / "scene.json").read_text())
    n_given = len(np.unique(given)) - 1
    assert len(scene["instances"]) == n_given
    assert {i["label"] for i in scene["instances"]} == {"chair"}         # one label → every instance
    perceived = load_capture(out / "perceived")
    # The given masks are kept pixel for pixel (ids renumbered by colour, partition unchanged).
    pairs = set(zip(given.ravel().tolist(), perceived.seg.ravel().tolist()))
    assert len(pairs) == n_given + 1
    inputs = scene["inputs"]["inputs"]
    assert inputs["seg"]["source"] == "given" and inputs["depth"]["source"] == "estimated"
    assert inputs["labels"]["source"] == "given"


def test_capture_folder_missing_depth_gets_it_estimated(tmp_path, tiny_models):
    folder = tmp_path / "capture"
    folder.mkdir()
    for name in ("rgb.png", "seg.png", "instances.json", "camera.json"):
        (folder / name).write_bytes((EXAMPLE / name).read_bytes())
    out = tmp_path / "cap"
    assert main(["perceive", str(folder), "-o", str(out), "--models", str(tiny_models)]) == 0
    record = json.loads((out / "perception.json").read_text())
    assert record["inputs"]["camera"]["source"] == "given" and record["inputs"]["labels"]["source"] == "given"
    depth = record["inputs"]["depth"]
    given = load_capture(EXAMPLE)
    # A given focal length rescales the metric prediction: (fx / W) / (0.5 / tan 30°).
    assert depth["source"] == "estimated"
    assert depth["rescaled_by"] == pytest.approx(given.K[0, 0] / given.width / (0.5 / np.tan(np.radians(30))), rel=1e-5)
    assert np.allclose(load_capture(out).K, given.K)


def test_big_jpeg_is_reduced_and_consistent(tmp_path, tiny_models):
    path = tmp_path / "big.jpg"
    Image.fromarray(rgb_image(4000, 3000)).save(path, quality=85)
    out = tmp_path / "cap"
    assert main(["perceive", str(path), "-o", str(out), "--models", str(tiny_models), "--labels", "bed",
                 *FIND_ALL]) == 0
    cap = load_capture(out)
    assert (cap.width, cap.height) == (2048, 1536)
    assert cap.seg.shape == cap.depth.shape == (1536, 2048)
    assert cap.K[0, 2] == pytest.approx(1024) and cap.K[1, 2] == pytest.approx(768)
    record = json.loads((out / "perception.json").read_text())
    assert record["image"]["file_size"] == [4000, 3000] and record["image"]["scale"] == pytest.approx(0.512)
    assert any("reduced from 4000x3000 to 2048x1536" in n for n in record["notes"])
    boxes = np.array([d["box"] for d in record["detections"]])
    assert boxes.size and boxes[:, 2].max() <= 2048 and boxes[:, 3].max() <= 1536


def test_rotated_grey_and_16bit_photos_through_perceive(tmp_path, tiny_models):
    stored = Image.fromarray(rgb_image(80, 60)).convert("L")
    exif = stored.getexif()
    exif[0x0112] = 8                                                   # rotate 90° counter-clockwise
    stored.save(tmp_path / "grey.jpg", exif=exif)
    deep = (rgb_image(80, 60)[..., 0].astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    for name, size in [("grey.jpg", (60, 80)), ("deep.png", (80, 60))]:
        out = tmp_path / name.replace(".", "_")
        assert main(["perceive", str(tmp_path / name), "-o", str(out), "--models", str(tiny_models),
                     "--labels", "lamp", *FIND_ALL]) == 0
        cap = load_capture(out)
        assert (cap.width, cap.height) == size and cap.rgb.dtype == np.uint8
        assert json.loads((out / "perception.json").read_text())["notes"]


def test_labels_that_match_nothing(tmp_path, tiny_models, photo, capsys):
    for argv in (["perceive", str(photo), "-o", str(tmp_path / "cap")],
                 ["reconstruct", str(photo), "-o", str(tmp_path / "scene"), "--method", "boxes"]):
        assert main([*argv, "--models", str(tiny_models), "--labels", "piano, bathtub", *FIND_NOTHING]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"error: {photo}: no objects found for the labels [piano, bathtub] (box threshold 1.0, "
                       "text threshold 1.0); try other --labels or lower --box-threshold / --text-threshold")
    assert list(tmp_path.iterdir()) == []                               # no empty scene, no capture


def test_bad_options_and_inputs(tmp_path, tiny_models, photo, capsys):
    assert main(["perceive", str(photo), "-o", str(tmp_path / "a"), "--box-threshold", "1.5"]) == 2
    assert "--box-threshold 1.5: expected a value in [0, 1]" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["perceive", str(tmp_path / "notes.txt"), "-o", str(tmp_path / "b")]) == 2
    assert "neither a capture folder nor an image file" in capsys.readouterr().err
    small_seg = tmp_path / "seg.png"
    Image.fromarray(np.ones((10, 10), np.uint8)).save(small_seg)
    assert main(["perceive", str(photo), "--seg", str(small_seg), "-o", str(tmp_path / "c"),
                 "--models", str(tiny_models)]) == 2
    assert "seg.png: size 10x10 differs from the image 320x240" in capsys.readouterr().err


def test_depth_source_rescales_with_a_known_focal_length(tiny_models):
    from scenewright.perception.metric_depth import DepthAnythingDepth
    source = DepthAnythingDepth(tiny_models / "depth")
    rgb = rgb_image(96, 72)
    raw = source.predict(rgb)
    assert raw.shape == (72, 96) and raw.dtype == np.float32
    narrow = Capture(rgb=rgb, K=intrinsics_from_hfov(96, 72, 40.0))
    scale = np.tan(np.radians(30)) / np.tan(np.radians(20))             # f(40°) / f(60°)
    # float32 network output times a float64 factor: relative error of float32 rounding.
    assert np.allclose(source.depth(narrow), raw * scale, rtol=1e-6)
    default = Capture(rgb=rgb, K=intrinsics_from_hfov(96, 72, 40.0), camera_is_default=True)
    assert np.array_equal(source.depth(default), raw)


def test_nms_merges_one_objects_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.5]], float)
    scores = np.array([0.5, 0.9, 0.4, 0.3])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert box_iou(boxes[:1], boxes[:1])[0, 0] == pytest.approx(1.0)
    dets = [Detection(boxes[0], "sofa", 0.5), Detection(boxes[1], "sofa", 0.9),
            Detection(boxes[3], "armchair", 0.6), Detection(boxes[2], "lamp", 0.4)]
    kept = merge_detections(dets, nms_iou=0.5, cross_label_iou=0.9, max_detections=10)
    assert [(d.label, d.score) for d in kept] == [("sofa", 0.9), ("armchair", 0.6), ("lamp", 0.4)]
    kept = merge_detections(dets, nms_iou=0.5, cross_label_iou=0.6, max_detections=10)
    assert [d.label for d in kept] == ["sofa", "lamp"]                 # same object named twice


def test_masks_made_non_overlapping_by_score():
    masks = np.zeros((3, 6, 6), bool)
    masks[0, :, :4] = True
    masks[1, :, 2:] = True
    masks[2, 0, 0] = True                                              # inside mask 0, lower score
    seg, kept = masks_to_seg(masks, np.array([0.5, 0.8, 0.1]), min_pixels=2)
    assert kept == [1, 0]                                              # best first; mask 2 left empty
    assert (seg[:, 2:] == 1).all() and (seg[:, :2] == 2).all()


def test_missing_seg_and_depth_without_models_is_one_error(tmp_path):
    folder = tmp_path / "capture"
    folder.mkdir()
    (folder / "rgb.png").write_bytes((EXAMPLE / "rgb.png").read_bytes())
    from scenewright.perception.from_image import PerceptionModels, perceive_image
    models = PerceptionModels(tmp_path / "no-models")
    with pytest.raises(InputError, match=r"detector model not found; fetch it with `scenewright models download detector"):
        perceive_image(load_capture(folder, require_seg=False), ["chair"], models)
