"""``scenewright export``: exit codes and messages for bad input, existing outputs kept, GLB output."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from scenewright.cli import main
from scenewright.export.room import room_surfaces
from scenewright.scene import read_scene

from .conftest import glb_json, glb_nodes


def _run(capsys, *argv):
    code = main(["export", *map(str, argv), "-q"])
    out, err = capsys.readouterr()
    return code, out, err


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_missing_scene_exits_2_as_a_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "scenewright", "export", str(tmp_path / "nope"),
                           "-o", str(tmp_path / "x.usda")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope'}: scene folder not found"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage, names", [
    ("json", "scene.json"), ("format", "scene.json"), ("glb", "scene.glb"), ("no_glb", "scene.glb")])
def test_corrupt_scene_folder(capsys, gt_dir, tmp_path, damage, names):
    scene = tmp_path / "scene"
    shutil.copytree(gt_dir, scene)
    if damage == "json":
        (scene / "scene.json").write_text("{ not json")
    elif damage == "format":
        (scene / "scene.json").write_text((gt_dir / "scene.json").read_text().replace("scene/1", "scene/9"))
    elif damage == "glb":
        (scene / "scene.glb").write_bytes((gt_dir / "scene.glb").read_bytes()[:200])
    else:
        (scene / "scene.glb").unlink()
    code, out, err = _run(capsys, scene, "-o", tmp_path / "out.usdz")
    assert code == 2 and err.startswith("error: ") and str(scene / names) in err
    assert not (tmp_path / "out.usdz").exists() and _leftovers(tmp_path) == []


def test_bad_format_and_settings(capsys, gt_dir, tmp_path):
    code, _, err = _run(capsys, gt_dir, "-o", tmp_path / "out.obj")
    assert code == 2 and "cannot tell the format" in err and "out.obj" in err
    code, _, err = _run(capsys, gt_dir, "-o", tmp_path / "out.usda", "--sensor-width", "0")
    assert code == 2 and "sensor width (--sensor-width)" in err
    with pytest.raises(SystemExit) as exc:
        main(["export", str(gt_dir), "-o", str(tmp_path / "a.usda"), "--format", "fbx"])
    assert exc.value.code == 2
    code, _, err = _run(capsys, gt_dir, "-o", tmp_path)
    assert code == 2 and "is a folder" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["kept.blend", "kept.usdz", "kept.glb"])
def test_existing_output_is_kept_without_overwrite(capsys, gt_dir, tmp_path, name):
    out = tmp_path / name
    out.write_bytes(b"precious")
    code, _, err = _run(capsys, gt_dir, "-o", out)
    assert code == 2 and f"{out}: exists (pass --overwrite" in err
    assert out.read_bytes() == b"precious" and _leftovers(tmp_path) == []
    code, stdout, _ = _run(capsys, gt_dir, "-o", out, "--overwrite")
    assert code == 0 and stdout.startswith(f"wrote {out}")
    assert out.read_bytes() != b"precious" and out.stat().st_size > 10_000 and _leftovers(tmp_path) == []


def test_usda_textures_folder_guarded_and_replaced(capsys, gt_dir, tmp_path):
    out = tmp_path / "room.usda"
    (tmp_path / "room_textures").mkdir()
    (tmp_path / "room_textures" / "stale.png").write_bytes(b"old")
    code, _, err = _run(capsys, gt_dir, "-o", out)
    assert code == 2 and "room_textures: exists" in err and not out.exists()
    code, stdout, _ = _run(capsys, gt_dir, "-o", out, "--overwrite")
    assert code == 0 and "textures in" in stdout
    pngs = sorted(p.name for p in (tmp_path / "room_textures").iterdir())
    assert "stale.png" not in pngs and len(pngs) >= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.usda", "room_textures"]
    # --no-textures: no folder is written (and a stale one would not be referenced)
    code, _, _ = _run(capsys, gt_dir, "-o", tmp_path / "plain.usda", "--no-textures")
    assert code == 0 and not (tmp_path / "plain_textures").exists()
    assert "UsdUVTexture" not in (tmp_path / "plain.usda").read_text()


def test_glb_keeps_nodes_and_carries_metadata(capsys, graph_dir, tmp_path):
    scene = read_scene(graph_dir)
    out = tmp_path / "scene.glb"
    code, _, _ = _run(capsys, graph_dir, "-o", out)
    assert code == 0
    source, exported = glb_nodes(graph_dir), glb_nodes(tmp_path)
    assert set(exported) == set(source)
    for name, entry in source.items():
        np.testing.assert_allclose(exported[name]["transform"], entry["transform"], atol=1e-6)
        assert exported[name]["n_vertices"] == entry["n_vertices"]
        np.testing.assert_allclose(exported[name]["bounds"], entry["bounds"], atol=1e-5)
    tscene = trimesh.load(out, force="scene", process=False)
    meta = tscene.metadata["scenewright"]
    assert {a["asset_id"] for a in meta["attribution"]} == {a["asset_id"] for a in scene.attribution}
    assert len(meta["relations"]) == len(scene.relations)
    doc = glb_json(out)
    nodes = {n["name"]: n for n in doc["nodes"]}
    credits = {a["asset_id"]: a for a in scene.attribution}
    for inst in scene.instances:
        extras = nodes[inst.node]["extras"]["scenewright"]
        assert extras["label"] == inst.label and extras["asset_id"] == inst.asset_id
        assert extras["license"] == credits[inst.asset_id]["license"]
        materials = [doc["materials"][p["material"]] for p in doc["meshes"][nodes[inst.node]["mesh"]]["primitives"]]
        assert all(m["doubleSided"] is True for m in materials)
    code, _, _ = _run(capsys, graph_dir, "-o", tmp_path / "bare.glb", "--no-room", "--no-camera")
    bare = glb_json(tmp_path / "bare.glb")
    assert sorted(n["name"] for n in bare["nodes"]) == sorted(i.node for i in scene.instances)


def test_benchmark_script_runs_and_checks_outputs(gt_dir, tmp_path):
    """benchmarks/bench_export.py on the test scene: one run per route, JSON with what each kept."""
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_export.py"
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(script), "--scene", str(gt_dir), "--repeat", "1",
                           "--formats", "usdz", "glb", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json
    rows = {(r["format"], r["route"]): r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {("usdz", "scenewright"), ("usdz", "alternative"), ("glb", "scenewright"),
                         ("glb", "alternative")}
    n = len(glb_nodes(gt_dir))
    for key in (("usdz", "scenewright"), ("glb", "scenewright")):
        r = rows[key]
        assert r["meshes"] == n and r["attribution"] and r["labels"] and r["bytes"] > 10_000
    assert rows[("usdz", "scenewright")]["up_axis"] == "Y" and rows[("usdz", "scenewright")]["camera_fov_ok"]
    # what the room costs: reconstruction and each export with and without it, on the shipped capture
    cost = {(r["step"], r["room"]): r for r in json.loads(out.read_text())["room_cost"]["rows"]}
    assert set(cost) == {(step, room) for step in ("reconstruct boxes", "export usdz", "export glb")
                         for room in (True, False)}
    for fmt in ("usdz", "glb"):       # the photo textures make the file bigger
        assert cost[(f"export {fmt}", True)]["bytes"] > cost[(f"export {fmt}", False)]["bytes"]


@pytest.fixture(scope="module")
def generated_dir(gt_dir, tmp_path_factory):
    """A scene as MIDI writes it: generated meshes (no asset ids, no attribution), an instance
    without a surface, and no camera pose (world_from_camera null)."""
    from scenewright.scene import write_scene
    scene = read_scene(gt_dir)
    for inst in scene.instances:
        inst.asset_id = None
        inst.mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.2)
    scene.instances[-1].mesh = None
    from scenewright.scene import Relation
    scene.relations.append(Relation("facing", subject=scene.instances[0].id, object=scene.instances[-1].id))
    scene.attribution, scene.room = [], {}
    scene.camera.world_from_camera = None
    scene.method = {"name": "midi", "version": "test", "settings": {}}
    out = tmp_path_factory.mktemp("generated") / "scene"
    write_scene(scene, out)
    return out


@pytest.mark.parametrize("ext", ["usda", "blend", "glb"])
def test_generated_scene_without_camera_pose(capsys, generated_dir, tmp_path, ext):
    scene = read_scene(generated_dir)
    with_mesh = sorted(i.node for i in scene.instances if i.mesh is not None)
    assert 0 < len(with_mesh) < len(scene.instances)
    room = sorted(room_surfaces(scene))
    assert "floor" in room
    name = "scene.glb" if ext == "glb" else f"g.{ext}"
    code, _, err = _run(capsys, generated_dir, "-o", tmp_path / name)
    assert code == 0, err
    if ext == "usda":
        from pxr import Usd
        stage = Usd.Stage.Open(str(tmp_path / "g.usda"))
        assert sorted(p.GetName() for p in stage.GetPrimAtPath("/Scene/Objects").GetChildren()) == with_mesh
        assert not stage.GetPrimAtPath("/Scene/camera")
        # no room meshes in the folder but a floor plane: the export builds the room from it
        assert sorted(p.GetName() for p in stage.GetPrimAtPath("/Scene/Room").GetChildren()) == room
        assert "no library assets" in stage.GetRootLayer().customLayerData["scenewright"]["attribution_text"]
        # the relation to the object without a surface stays as text, not as a dangling target
        first = stage.GetPrimAtPath(f"/Scene/Objects/{scene.instances[0].node}")
        assert not first.GetRelationship("scenewright:facing")
        assert f"facing {scene.instances[-1].node}" in first.GetCustomData()["scenewright"]["relations"]
    elif ext == "blend":
        import bpy
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "g.blend"))
        assert sorted(o.name for o in bpy.data.objects if o.type == "MESH") == sorted(with_mesh + room)
        assert bpy.context.scene.camera is None
    else:
        assert sorted(glb_nodes(tmp_path)) == sorted(with_mesh + room)


def test_format_must_agree_with_extension(capsys, gt_dir, tmp_path):
    code, _, err = _run(capsys, gt_dir, "-o", tmp_path / "x.blend", "--format", "usdz")
    assert code == 2 and "--format usdz writes .usdz files" in err
    code, _, _ = _run(capsys, gt_dir, "-o", tmp_path / "x.usd", "--format", "usda")
    assert code == 0 and (tmp_path / "x.usd").read_bytes().startswith(b"#usda 1.0")
    code, _, _ = _run(capsys, gt_dir, "-o", tmp_path / "y.usd", "--no-textures")
    assert code == 0 and (tmp_path / "y.usd").read_bytes().startswith(b"PXR-USDC")


def test_single_sided_honours_the_materials(capsys, gt_dir, tmp_path):
    from pxr import Usd, UsdGeom
    code, _, _ = _run(capsys, gt_dir, "-o", tmp_path / "s.usdz", "--single-sided")
    assert code == 0
    stage = Usd.Stage.Open(str(tmp_path / "s.usdz"))
    meshes = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    assert meshes and all(m.GetDoubleSidedAttr().Get() is False for m in meshes)   # the GLB says single
