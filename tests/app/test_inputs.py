"""The page's input handling and room surfaces, without a server: real files, real load_capture."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.app.inputs import (assemble_capture, extract_capture_zip, find_examples, parse_labels,
                                    user_message)
from scenewright.app.jobs import JobFolders, JobRequest, object_rows, relation_rows, run_job
from scenewright.export.room import clip_polygon, room_surfaces
from scenewright.capture import load_capture
from scenewright.errors import InputError
from scenewright.scene import Camera, Instance, Relation, Scene

REPO = Path(__file__).resolve().parents[2]


def test_parse_labels_accepts_commas_newlines_and_rejects_junk():
    assert parse_labels("1: sofa, 2: floor lamp\n3=chair; 10 :  big table ") == {
        1: "sofa", 2: "floor lamp", 3: "chair", 10: "big table"}
    assert parse_labels("") == {}
    with pytest.raises(InputError, match="'sofa' is not 'id: label'"):
        parse_labels("1: chair, sofa")
    with pytest.raises(InputError, match="id 2 is given twice"):
        parse_labels("2: a, 2: b")
    with pytest.raises(InputError, match="positive instance id"):
        parse_labels("0: floor")


def test_assemble_capture_from_uploads(tmp_path, capture_dirs):
    src = capture_dirs[0]
    up = tmp_path / "uploads"
    up.mkdir()
    # A JPEG picture is converted; seg/depth/camera are copied byte for byte.
    Image.open(src / "rgb.png").convert("RGB").save(up / "photo.jpg", quality=95)
    cap = assemble_capture(tmp_path / "cap", rgb=up / "photo.jpg", seg=src / "seg.png", depth=src / "depth.npy",
                           instances=src / "instances.json", camera=src / "camera.json",
                           labels_text="1: my custom thing")
    loaded, orig = load_capture(cap), load_capture(src)
    assert loaded.rgb.shape == orig.rgb.shape
    assert np.array_equal(loaded.seg, orig.seg)
    assert np.allclose(loaded.K, orig.K)
    assert loaded.labels[1] == "my custom thing"                      # the text box wins for id 1
    assert {k: v for k, v in loaded.labels.items() if k != 1} == {k: v for k, v in orig.labels.items() if k != 1}
    with pytest.raises(InputError, match="must be a PNG"):
        assemble_capture(tmp_path / "c2", rgb=src / "rgb.png", seg=up / "photo.jpg")
    with pytest.raises(InputError, match="no image given"):
        assemble_capture(tmp_path / "c3", rgb=None)


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_zip_capture_folder_and_refusals(tmp_path, capture_dirs):
    src = capture_dirs[0]
    files = {f"room/{f.name}": f.read_bytes() for f in src.iterdir()}
    files["__MACOSX/room/._rgb.png"] = b"junk"
    files["room/notes.txt"] = b"ignored"
    out = extract_capture_zip(_zip(tmp_path / "a.zip", files), tmp_path / "cap")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())
    assert np.array_equal(load_capture(out).seg, load_capture(src).seg)

    with pytest.raises(InputError, match="unsafe path"):
        extract_capture_zip(_zip(tmp_path / "b.zip", {"../rgb.png": b"x"}), tmp_path / "c")
    with pytest.raises(InputError, match="2 capture folders"):
        extract_capture_zip(_zip(tmp_path / "c.zip", {"a/rgb.png": b"x", "b/rgb.png": b"y"}), tmp_path / "d")
    with pytest.raises(InputError, match="no rgb.png"):
        extract_capture_zip(_zip(tmp_path / "d.zip", {"seg.png": b"x"}), tmp_path / "e")
    (tmp_path / "e.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a zip file"):
        extract_capture_zip(tmp_path / "e.zip", tmp_path / "f")


def test_find_examples_names_capture_folders(tmp_path, bench):
    found = find_examples([bench, REPO / "examples", tmp_path / "missing"])
    names = [e.name for e in found]
    assert "scene_0000" in names and "scene_0001" in names and "living_room" in names
    assert all((e.path / "rgb.png").is_file() for e in found)


def test_error_messages_leave_out_the_temporary_folder(tmp_path):
    cap = tmp_path / "job" / "capture"
    msg = user_message(InputError(f"{cap}/seg.png: size 64x64 differs from rgb.png 128x128"), cap)
    assert msg == "seg.png: size 64x64 differs from rgb.png 128x128"


def test_clip_polygon_keeps_the_room_side():
    square = np.array([[0, 0], [0, 2], [2, 2], [2, 0]], float)
    half = clip_polygon(square, np.array([1.0, 0.0]), -1.0)        # keep x >= 1
    assert np.isclose(half[:, 0].min(), 1.0) and np.isclose(half[:, 0].max(), 2.0)
    assert len(clip_polygon(square, np.array([1.0, 0.0]), -5.0)) == 0


def _scene_with_room() -> Scene:
    box = trimesh.creation.box(extents=[1.0, 0.8, 0.6])
    box.apply_translation([0, 0.4, 0])
    T = np.eye(4)
    T[:3, 3] = [0.5, 0.0, -1.0]
    wfc = np.eye(4)
    wfc[:3, 3] = [0.0, 1.5, 2.0]
    return Scene(camera=Camera(K=np.eye(3), width=8, height=8, world_from_camera=wfc),
                 instances=[Instance(id=1, mesh=box, world_from_object=T, label="crate")],
                 floor={"normal": [0, 1, 0], "height": 0.0},
                 walls=[{"point": [0.0, 0.0, -2.0], "normal": [0.0, 0.0, 1.0]},       # behind the crate
                        {"point": [-1.5, 0.0, 0.0], "normal": [1.0, 0.0, 0.0]}])


def test_room_surfaces_floor_and_walls_bound_the_room():
    surfaces = room_surfaces(_scene_with_room())
    assert set(surfaces) == {"floor", "wall_0", "wall_1"}
    floor = surfaces["floor"]
    assert np.allclose(floor.vertices[:, 1], 0.0) and np.all(floor.face_normals[:, 1] > 0.99)
    # The floor stops at the walls (z >= -2, x >= -1.5) and reaches past the camera (z = 2).
    assert np.isclose(floor.vertices[:, 2].min(), -2.0) and np.isclose(floor.vertices[:, 0].min(), -1.5)
    assert floor.vertices[:, 2].max() >= 2.0
    w0 = surfaces["wall_0"]
    assert np.allclose(w0.vertices[:, 2], -2.0) and np.all(w0.face_normals @ [0, 0, 1] > 0.99)
    assert w0.vertices[:, 1].max() >= 2.5
    assert np.all(surfaces["wall_1"].face_normals @ [1, 0, 0] > 0.99)
    no_floor = _scene_with_room()
    no_floor.floor = None
    assert room_surfaces(no_floor) == {}


def test_table_rows_cover_every_capture_instance(capture_dirs):
    cap = load_capture(capture_dirs[0])
    ids = cap.instance_ids
    scene = Scene(instances=[Instance(id=ids[0], mesh=trimesh.creation.box(), label="x", size=[1, 2, 3], score=0.5)],
                  relations=[Relation(type="on", subject=ids[0], object=99)])
    rows = object_rows(scene, cap)
    assert [r[0] for r in rows] == ids
    assert rows[0][4] == "1.00 × 2.00 × 3.00" and rows[0][5] == 0.5
    assert all(r[-1] == "not placed" for r in rows[1:])
    assert relation_rows(scene) == [["on", f"{ids[0]} (x)", "99"]]


def test_run_job_writes_scene_zip_and_room(tmp_path, capture_dirs, library_dir):
    from scenewright.app.jobs import AppSettings
    jobs = JobFolders(tmp_path / "jobs", keep=2)
    for _ in range(3):
        job = jobs.new()
    assert len(list((tmp_path / "jobs").iterdir())) == 2          # only the newest two kept
    res = run_job(capture_dirs[0], job, JobRequest(method="boxes"), AppSettings(library=str(library_dir)),
                  name="room1")
    with zipfile.ZipFile(res.zip) as zf:
        assert {"room1/scene.glb", "room1/scene.json", "room1/preview.png"} <= set(zf.namelist())
    nodes = trimesh.load(res.glb_room, force="scene").graph.nodes_geometry
    assert "floor" in nodes and {f"inst_{i}" for i in res.capture.instance_ids} <= set(nodes)
    plain = trimesh.load(res.files["glb"], force="scene").graph.nodes_geometry
    assert "floor" not in plain and {f"inst_{i}" for i in res.capture.instance_ids} <= set(plain)
    with pytest.raises(InputError, match="method: 'nope'"):
        run_job(capture_dirs[0], job, JobRequest(method="nope"))
    with pytest.raises(InputError, match=r"rgb.png: 128x128 is 0.0164 megapixels, more than this server.s 0.0163;"):
        run_job(capture_dirs[0], job, JobRequest(method="boxes"), AppSettings(max_pixels=128 * 127))


def test_a_sideways_phone_jpeg_is_turned_upright(tmp_path):
    img = Image.new("RGB", (16, 8), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6                                  # orientation: rotate 90° clockwise to view
    img.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    cap = assemble_capture(tmp_path / "cap", rgb=tmp_path / "phone.jpg")
    assert Image.open(cap / "rgb.png").size == (8, 16)


def test_full_warmup_fills_every_assets_features(library_dir):
    from scenewright.app.jobs import AppSettings, resources_for, warm
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.methods.layout.retrieval import library_index
    settings = AppSettings(library=str(library_dir))
    warm(settings, full=True)
    resources = resources_for(settings)
    loads = resources.loads()
    lib = resources.library()
    assert resources.loads() == loads                        # opened by the warm-up, not now
    s = LayoutSettings()
    index = library_index(lib, s.retrieval.n_points, s.seed)
    assert set(index._geometry) == set(lib.ids) and set(index._symmetry) == set(lib.ids)
    assert {a for a, _ in index._views} == set(lib.ids)


def test_job_progress_moves_forward_and_cancels_at_the_next_step():
    from scenewright.app.jobs import JobCancelled, JobProgress
    from scenewright.progress import make_progress, watch_progress
    p = JobProgress({"check": "Checking", "reconstruct": "Reconstructing", "exports": "Downloads"})
    seen = []
    p.stage("check")
    seen.append(p.fraction())
    p.stage("reconstruct")
    with watch_progress(p.step):
        with make_progress(enabled=False) as bar:            # a method's bar: objects one by one
            task = bar.add_task("retrieval + pose", total=4)
            for _ in range(4):
                bar.advance(task)
                seen.append(p.fraction())
        with make_progress(enabled=False) as bar:            # its next phase starts again from 0
            task = bar.add_task("optimize", total=10)
            bar.update(task, completed=1)
            seen.append(p.fraction())
    snap = p.snapshot()
    assert [s["state"] for s in snap["stages"]] == ["done", "running", "waiting"]
    assert snap["stages"][1]["detail"] == "optimize" and snap["stages"][1]["completed"] == 1
    # The stage's earlier steps stay listed (one may pass between two of the page's updates).
    assert snap["stages"][1]["steps_done"] == ["retrieval + pose: 4 / 4"]
    from scenewright.app.page import progress_html
    assert "✓ retrieval + pose: 4 / 4" in progress_html(snap) and "optimize: 1 / 10" in progress_html(snap)
    assert seen == sorted(seen) and len(set(seen)) >= 5
    p.cancel("the browser left the page")
    p.cancel("a later reason")
    with pytest.raises(JobCancelled, match="^the browser left the page$"):
        p.step("retrieval + pose", 1, 4)
    with pytest.raises(JobCancelled):
        p.stage("exports")
    p.finish()
    assert p.fraction() == 1.0 and p.snapshot()["cancelled"]
