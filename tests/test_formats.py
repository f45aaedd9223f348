"""Capture and scene folders: round trips and every kind of bad input named in the issue."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.capture import DEFAULT_HFOV_DEG, load_capture, seg_from_palette, write_capture
from scenewright.errors import InputError
from scenewright.scene import Camera, Instance, Relation, Scene, read_scene, write_scene


def make_capture_folder(folder, h=24, w=32, depth="npy"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / "rgb.png")
    seg = np.zeros((h, w), np.uint8)
    seg[2:10, 3:12] = 1
    seg[12:20, 15:30] = 7
    Image.fromarray(seg).save(folder / "seg.png")
    (folder / "instances.json").write_text(json.dumps({"instances": [{"id": 1, "label": "couch"},
                                                                      {"id": 7, "label": "lamp"}]}))
    d = np.full((h, w), 2.5, np.float32)
    d[0, 0] = 0.0
    if depth == "npy":
        np.save(folder / "depth.npy", d)
    else:
        Image.fromarray((d * 1000).astype(np.uint16)).save(folder / "depth.png")
    return folder


def test_capture_loads_and_validates(tmp_path):
    cap = load_capture(make_capture_folder(tmp_path / "c"))
    assert cap.rgb.shape == (24, 32, 3) and cap.rgb.dtype == np.uint8
    assert cap.instance_ids == [1, 7]
    assert cap.labels == {1: "couch", 7: "lamp"}
    assert np.isnan(cap.depth[0, 0]) and cap.depth[5, 5] == pytest.approx(2.5)
    assert cap.camera_is_default and cap.hfov_deg() == pytest.approx(DEFAULT_HFOV_DEG)
    assert cap.mask(7).sum() == 8 * 15


def test_depth_png_in_millimetres(tmp_path):
    cap = load_capture(make_capture_folder(tmp_path / "c", depth="png"))
    assert cap.depth[5, 5] == pytest.approx(2.5) and np.isnan(cap.depth[0, 0])


def test_palette_seg_ids_ascend_by_packed_colour():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (0, 0, 200)       # 0x0000C8 → smallest non-black → id 1
    rgb[0, 1] = (255, 0, 0)       # 0xFF0000 → id 3
    rgb[1, 2] = (0, 255, 0)       # 0x00FF00 → id 2
    seg = seg_from_palette(rgb)
    assert seg.tolist() == [[1, 3, 0], [0, 0, 2]]


def test_capture_round_trip(tmp_path):
    cap = load_capture(make_capture_folder(tmp_path / "c"))
    cap.K = np.array([[30.0, 0, 16], [0, 30, 12], [0, 0, 1]])
    cap.camera_is_default = False
    write_capture(cap, tmp_path / "copy")
    again = load_capture(tmp_path / "copy")
    assert np.array_equal(again.seg, cap.seg) and np.allclose(again.K, cap.K)
    assert np.allclose(np.nan_to_num(again.depth), np.nan_to_num(cap.depth))


@pytest.mark.parametrize("breakage, message", [
    ("missing_rgb", "rgb.png: missing"),
    ("seg_size", "differs from rgb.png 32x24"),
    ("empty_seg", "no instances"),
    ("nan_depth", r"unknown \(0 or NaN\) everywhere"),
    ("negative_depth", "negative depth"),
    ("depth_size", "depth.npy: size 10x10 differs"),
    ("bad_camera", "camera.json"),
    ("corrupt_rgb", "cannot read image"),
    ("bad_instances", "instances.json"),
])
def test_bad_capture_names_file_and_problem(tmp_path, breakage, message):
    folder = make_capture_folder(tmp_path / "c")
    if breakage == "missing_rgb":
        (folder / "rgb.png").unlink()
    elif breakage == "seg_size":
        Image.fromarray(np.ones((10, 10), np.uint8)).save(folder / "seg.png")
    elif breakage == "empty_seg":
        Image.fromarray(np.zeros((24, 32), np.uint8)).save(folder / "seg.png")
    elif breakage == "nan_depth":
        np.save(folder / "depth.npy", np.full((24, 32), np.nan, np.float32))
    elif breakage == "negative_depth":
        np.save(folder / "depth.npy", np.full((24, 32), -1.0, np.float32))
    elif breakage == "depth_size":
        np.save(folder / "depth.npy", np.ones((10, 10), np.float32))
    elif breakage == "bad_camera":
        (folder / "camera.json").write_text(json.dumps({"K": [[0, 0, 0], [0, 0, 0], [0, 0, 1]]}))
    elif breakage == "corrupt_rgb":
        (folder / "rgb.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    elif breakage == "bad_instances":
        (folder / "instances.json").write_text("{not json")
    with pytest.raises(InputError, match=message):
        load_capture(folder)


def small_scene():
    box = trimesh.creation.box(extents=(1.0, 0.5, 0.8))
    box.apply_translation((0, 0.25, 0))
    pose = np.eye(4)
    pose[:3, 3] = (1.0, 0.0, -2.0)
    cam = Camera(K=np.array([[500.0, 0, 256], [0, 500, 256], [0, 0, 1]]), width=512, height=512,
                 world_from_camera=np.eye(4))
    return Scene(camera=cam, instances=[Instance(id=3, mesh=box, world_from_object=pose, label="table",
                                                 category="dining_table", asset_id="X/table", size=[1, .5, .8])],
                 floor={"normal": [0, 1, 0], "height": 0.0},
                 relations=[Relation("against_wall", subject=3, wall=0)],
                 attribution=[{"asset_id": "X/table", "creator": "someone", "license": "CC-BY"}],
                 method={"name": "test", "version": "0", "settings": {"a": 1}})


def test_scene_round_trip_keeps_named_nodes_and_transforms(tmp_path):
    scene = small_scene()
    write_scene(scene, tmp_path / "s", preview=np.zeros((4, 4, 3), np.uint8))
    assert sorted(os.listdir(tmp_path / "s")) == ["preview.png", "scene.glb", "scene.json"]
    back = read_scene(tmp_path / "s")
    inst = back.instance(3)
    assert inst.asset_id == "X/table" and inst.category == "dining_table"
    assert np.allclose(inst.world_from_object, scene.instances[0].world_from_object)
    assert np.allclose(inst.mesh.bounds, scene.instances[0].mesh.bounds, atol=1e-6)
    assert back.relations[0].type == "against_wall" and back.relations[0].wall == 0
    assert back.attribution[0]["license"] == "CC-BY"
    # the GLB itself carries the node name and its (unbaked) transform
    tscene = trimesh.load(tmp_path / "s" / "scene.glb", force="scene")
    tf, _ = tscene.graph.get("inst_3")
    assert np.allclose(tf, scene.instances[0].world_from_object)


def test_existing_output_is_never_lost(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_scene(small_scene(), out)
    assert (out / "keep.txt").read_text() == "mine"
    # a failing write with overwrite leaves the old folder untouched and no temp folder behind
    bad = small_scene()
    bad.instances[0].world_from_object = "not a matrix"
    with pytest.raises(Exception):
        write_scene(bad, out, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_unwritable_output_folder(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/scenewright-cannot-write/s"      # root can write anywhere else
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "s"
    with pytest.raises(InputError, match="cannot create|not writable"):
        write_scene(small_scene(), target)


def test_corrupt_glb_is_named(tmp_path):
    write_scene(small_scene(), tmp_path / "s")
    (tmp_path / "s" / "scene.glb").write_bytes(b"glTF garbage")
    with pytest.raises(InputError, match="scene.glb: cannot read GLB"):
        read_scene(tmp_path / "s")


def test_scene_json_that_is_not_an_object(tmp_path):
    write_scene(small_scene(), tmp_path / "s")
    (tmp_path / "s" / "scene.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="scene.json: expected a JSON object"):
        read_scene(tmp_path / "s")


def test_scene_without_any_mesh_is_still_a_valid_folder(tmp_path):
    scene = small_scene()
    scene.instances[0].mesh = None
    write_scene(scene, tmp_path / "s")
    back = read_scene(tmp_path / "s")
    assert back.instance(3).mesh is None
    assert np.allclose(back.instance(3).world_from_object, scene.instances[0].world_from_object)
    assert trimesh.load(tmp_path / "s" / "scene.glb", force="scene").is_empty


def test_segment_ids_are_those_of_np_unique():
    """Counting ids gives np.unique's sorted ids and dtype; other images (negative or huge ids,
    floats, empty) still go through np.unique."""
    import numpy as np
    from scenewright.capture import segment_ids
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 40, (64, 80)).astype(np.int32), rng.integers(1, 7, (9, 9)).astype(np.uint8),
              np.zeros((4, 4), np.uint16), np.array([[-3, 5], [5, 0]], np.int32),
              np.array([[0, 1 << 30]], np.int64), np.array([[0.5, 2.0]]), np.zeros((0, 3), np.int32)]
    for seg in images:
        expected, got = np.unique(seg), segment_ids(seg)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
