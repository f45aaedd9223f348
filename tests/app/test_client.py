"""The page through its HTTP API with ``gradio_client``: a real server, real uploads, real files back."""

from __future__ import annotations

import json
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.capture import load_capture
from scenewright.errors import InputError
from scenewright.scene import load_glb_nodes


# The page's API names each settings control METHOD__FIELD (see app/page.py); the rest keep their defaults.
DEFAULTS = dict(source="example", example=None, rgb=None, seg=None, depth=None, instances=None, camera=None,
                labels_text="", zip_file=None, method="layout", seed=None, more_settings="", include_room=True,
                photo=None, photo_seg=None, photo_labels="")
OUTPUTS = ("status", "progress", "downloads", "preview", "objects", "relations", "attribution", "timings",
           "perception")


def shown_glb(downloads, include_room: bool = True):
    """The GLB the page's 3D view shows: the one with the room when asked for and made, else the scene's."""
    glbs = [str(p) for p in downloads or [] if str(p).endswith(".glb")]
    with_room = [p for p in glbs if p.endswith("_with_room.glb")]
    if include_room and with_room:
        return with_room[0]
    return next((p for p in glbs if not p.endswith("_with_room.glb")), None)


def reconstruct(client, **kw) -> dict:
    """Call the page's ``/reconstruct`` endpoint; returns the outputs by name (and the seconds taken)."""
    from gradio_client import handle_file
    args = dict(DEFAULTS, **kw)
    for key in ("rgb", "seg", "depth", "instances", "camera", "zip_file", "photo", "photo_seg"):
        if args[key] is not None:
            args[key] = handle_file(str(args[key]))
    t = time.perf_counter()
    out = client.predict(**args, api_name="/reconstruct")
    result = dict(zip(OUTPUTS, out))
    result["seconds"] = time.perf_counter() - t
    result["model"] = shown_glb(result["downloads"], args["include_room"])
    status = result["status"]
    result["status"] = status["value"] if isinstance(status, dict) else status
    return result


def glb_scene_extras(path) -> dict:
    """The ``extras`` of a GLB's scene, read from its JSON chunk."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<I", data[12:16])
    doc = json.loads(data[20:20 + length])
    return doc["scenes"][doc.get("scene", 0)].get("extras", {})


def table(out: dict, name: str) -> list[list]:
    return out[name]["data"] if out[name] else []


def test_layout_from_uploaded_files(client, capture_dirs):
    src = capture_dirs[0]
    cap = load_capture(src)
    first = cap.instance_ids[0]
    cap.labels[first] += " (renamed)"               # the labels box overrides instances.json for its ids
    out = reconstruct(client, source="files", rgb=src / "rgb.png", seg=src / "seg.png", depth=src / "depth.npy",
                      instances=src / "instances.json", camera=src / "camera.json", method="layout",
                      labels_text=f"{first}: {cap.labels[first]}")
    assert out["status"].startswith("**Done:**"), out["status"]
    # The 3D view's GLB: one node per instance of the capture, plus the room surfaces.
    nodes = load_glb_nodes(out["model"])
    assert {n for n in nodes if n.startswith("inst_")} == {f"inst_{i}" for i in cap.instance_ids}
    assert "floor" in nodes
    for i in cap.instance_ids:
        tf, mesh = nodes[f"inst_{i}"]
        assert len(mesh.faces) > 0 and np.isfinite(tf).all()
    # The table: one row per instance, labels as given, an asset for each.
    rows = table(out, "objects")
    assert [r[0] for r in rows] == cap.instance_ids
    assert [r[1] for r in rows] == [cap.labels[i] for i in cap.instance_ids]
    assert all(r[3] for r in rows)
    # The download: the scene folder zipped; its scene.json names the assets with their licences.
    zip_path = next(Path(p) for p in out["downloads"] if str(p).endswith(".zip"))
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        scene_json = json.loads(zf.read(next(n for n in names if n.endswith("/scene.json"))))
    assert any(n.endswith("/scene.glb") for n in names) and any(n.endswith("/preview.png") for n in names)
    used = {inst["asset_id"] for inst in scene_json["instances"]}
    assert {a["asset_id"] for a in scene_json["attribution"]} == used
    assert all(a["license"] for a in scene_json["attribution"])
    for a in scene_json["attribution"]:
        assert a["asset_id"] in out["attribution"]
    assert scene_json["method"]["name"] == "layout" and scene_json["method"]["settings"]["render_refine"] is True
    # The GLB shown carries the same attribution in its metadata (glTF scene extras).
    assert glb_scene_extras(out["model"])["scenewright"]["attribution"] == scene_json["attribution"]
    # The preview is the input's size.
    assert Image.open(out["preview"]).size == (cap.width, cap.height)
    stages = [r[0] for r in table(out, "timings")]
    assert "method: retrieval" in stages and "method: preview" in stages and stages[-1] == "total (request)"


def test_second_request_reuses_the_warm_library(client, capture_dirs):
    first = reconstruct(client, example="scene_0001", method="layout", layout__render_refine=False)
    second = reconstruct(client, example="scene_0001", method="layout", layout__render_refine=False)
    assert first["status"].startswith("**Done:**") and second["status"].startswith("**Done:**")
    stages = [r[0] for r in table(second, "timings")]
    assert "page: load method (cached)" in stages
    # Same input, same seed: the same scene (the cache changes speed, not results).
    assert table(first, "objects") == table(second, "objects")
    print(f"\nlayout via the API: {first['seconds']:.2f} s, then {second['seconds']:.2f} s")


def test_settle_on_writes_the_report_and_the_settled_poses(client):
    pytest.importorskip("mujoco")
    out = reconstruct(client, example="scene_0001", method="layout", layout__render_refine=False, settle=True)
    assert out["status"].startswith("**Done:**"), out["status"]
    zip_path = next(Path(p) for p in out["downloads"] if str(p).endswith(".zip"))
    with zipfile.ZipFile(zip_path) as zf:
        scene_json = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("/scene.json"))))
    physics = scene_json["physics"]
    assert physics["settled"] is True
    motions = {o["id"]: o for o in physics["per_object"]}
    assert set(motions) == {inst["id"] for inst in scene_json["instances"]}
    # The notes carry the report's figures; each object's own record matches the report.
    assert f"median motion {100 * physics['median_moved_m']:.2f} cm" in out["status"]
    nodes = load_glb_nodes(out["model"])
    for inst in scene_json["instances"]:
        assert inst["settle"]["moved_m"] == motions[inst["id"]]["moved_m"]
        # the GLB shown holds the settled poses scene.json records (float32 in glTF)
        pose = np.asarray(inst["world_from_object"])
        np.testing.assert_allclose(nodes[inst["node"]][0], pose, atol=1e-5 * (1 + np.abs(pose).max()))


def test_boxes_from_a_zip_without_room(client, capture_dirs, tmp_path):
    src = capture_dirs[1]
    zpath = tmp_path / "my_room.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"my_room/{f.name}")
    out = reconstruct(client, source="zip", zip_file=zpath, method="boxes", include_room=False)
    assert out["status"].startswith("**Done:**"), out["status"]
    nodes = load_glb_nodes(out["model"])
    ids = load_capture(src).instance_ids
    assert set(nodes) == {f"inst_{i}" for i in ids}                  # no floor or walls asked for
    assert [Path(p).name for p in out["downloads"]] == ["my_room_boxes.zip", "my_room_boxes.glb", "my_room_boxes.usdz",
                                                        "my_room_boxes_usd.zip", "my_room_boxes.blend"]
    assert "nothing to attribute" in out["attribution"]


def test_mismatched_sizes_are_reported_not_raised(client, capture_dirs, tmp_path):
    src = capture_dirs[0]
    small = tmp_path / "seg_small.png"
    Image.open(src / "seg.png").resize((64, 64), Image.NEAREST).save(small)
    out = reconstruct(client, source="files", rgb=src / "rgb.png", seg=small, depth=src / "depth.npy",
                      method="boxes")
    assert out["status"] == "**Input problem:** seg.png: size 64x64 differs from rgb.png 128x128"
    assert out["model"] is None and table(out, "objects") == []


@pytest.mark.parametrize("kw, message", [
    (dict(labels_text="1: chair, lamp"), "'lamp' is not 'id: label'"),
    (dict(camera="{not json"), "camera.json: not valid JSON"),
    (dict(source="zip"), "zip: no file uploaded"),
])
def test_bad_requests_say_what_is_wrong(client, capture_dirs, tmp_path, kw, message):
    src = capture_dirs[0]
    if isinstance(kw.get("camera"), str):
        (tmp_path / "camera.json").write_text(kw["camera"])
        kw = dict(kw, camera=tmp_path / "camera.json")
    args = dict(source="files", rgb=src / "rgb.png", seg=src / "seg.png", depth=src / "depth.npy", method="boxes")
    args.update(kw)
    out = reconstruct(client, **args)
    assert out["status"].startswith("**Input problem:**") and message in out["status"], out["status"]
    assert "Traceback" not in out["status"]


def test_midi_with_the_tiny_checkpoint(client, capture_dirs, tiny_midi):
    out = reconstruct(client, example="scene_0000", method="midi", midi__steps=2, midi__octree_depth=5)
    assert out["status"].startswith("**Done:**"), out["status"]
    ids = load_capture(capture_dirs[0]).instance_ids
    rows = table(out, "objects")
    assert [r[0] for r in rows] == ids and all(r[3] == "" for r in rows)      # generated: no asset
    assert "not aligned with the capture" in out["status"]                    # MIDI has no camera pose
    nodes = trimesh.load(out["model"], force="scene").graph.nodes_geometry
    assert "floor" not in nodes                                               # no floor in MIDI's frame


def test_simultaneous_requests_queue_and_both_finish(client, server):
    """Two people press Reconstruct at once: one job runs at a time, both get their own result."""
    before = {p.name for p in server.work_dir.glob("job-*")}
    args = dict(DEFAULTS, example="scene_0000", method="boxes")
    jobs = [client.submit(**args, api_name="/reconstruct") for _ in range(2)]
    results = [dict(zip(OUTPUTS, j.result(timeout=120))) for j in jobs]
    for r in results:
        assert r["status"]["value"].startswith("**Done:**")
    # Each request wrote its own job folder, holding its own zip.
    new = [server.work_dir / n for n in {p.name for p in server.work_dir.glob("job-*")} - before]
    assert len(new) == 2 and all((p / "scene_0000_boxes.zip").is_file() for p in new)


def test_a_photo_through_the_api_perceived_then_reconstructed_in_every_format(client, photo):
    from gradio_client import handle_file
    progress, status, overlay = client.predict(photo=handle_file(str(photo)), photo_seg=None,
                                               photo_labels="sofa, lamp", api_name="/perceive")
    status = status["value"] if isinstance(status, dict) else status
    assert status.startswith("**Perceived:**"), status
    assert Image.open(overlay).width > 0 and 'data-state="finished"' in progress
    out = reconstruct(client, source="photo", photo=photo, photo_labels="sofa, lamp", method="boxes")
    assert out["status"].startswith("**Done:**"), out["status"]
    names = {Path(p).name for p in out["downloads"]}
    assert {"room_boxes.zip", "room_boxes.glb", "room_boxes.usdz", "room_boxes_usd.zip", "room_boxes.blend"} <= names
    # The progress of the last call, as the page showed it: every stage done, perception among them.
    assert 'data-stage="perceive"' in out["progress"] and 'data-state="finished"' in out["progress"]
    with zipfile.ZipFile(next(p for p in out["downloads"] if p.endswith("room_boxes_usd.zip"))) as zf:
        assert "room_boxes_usd/room_boxes.usdc" in zf.namelist()


def test_a_capture_without_depth_gets_it_estimated(client, capture_dirs):
    """With perception models on the server, depth is optional: it is estimated and the page says so."""
    src = capture_dirs[0]
    out = reconstruct(client, source="files", rgb=src / "rgb.png", seg=src / "seg.png", method="boxes",
                      instances=src / "instances.json")
    assert out["status"].startswith("**Done:**"), out["status"]
    assert "depth estimated from the picture (seg given, labels given, depth estimated" in out["status"]


def test_a_photo_seg_that_is_not_a_png_is_named(tmp_path, photo):
    from scenewright.app.jobs import AppSettings, perceive_upload
    with pytest.raises(InputError, match=r"^segmentation \(room.jpg\): must be a PNG \(lossless ids or colours\), "
                                         r"not .jpg$"):
        perceive_upload(photo, photo, "", tmp_path / "p", AppSettings(library=None))
    assert not (tmp_path / "p").exists()


def test_without_a_depth_model_the_error_names_the_download_command(tmp_path, capture_dirs):
    from scenewright.app.jobs import AppSettings, JobRequest, run_job
    src = capture_dirs[0]
    cap = tmp_path / "cap"
    cap.mkdir()
    for name in ("rgb.png", "seg.png", "instances.json"):
        (cap / name).write_bytes((src / name).read_bytes())
    with pytest.raises(InputError, match=r"depth model not found; fetch it with `scenewright models download depth"):
        run_job(cap, tmp_path / "job", JobRequest(method="boxes"),
                AppSettings(library=None, models=str(tmp_path / "no-models")))
    assert not (tmp_path / "job" / "scene").exists()
