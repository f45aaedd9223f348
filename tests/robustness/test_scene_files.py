"""Scene folders handed to ``scenewright export``, ``render`` and ``eval``: validated as strictly
as captures (``scene.validate_scene_json`` in ``read_scene``), one ``error:`` line naming
scene.json (or scene.glb) and the field, exit 2, nothing written, the folder untouched.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import trimesh

from tests.robustness.cli_checks import LIVING_ROOM, assert_refused, scenewright, tree_digest


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    """The box baseline's scene of the living room, with one relation of each kind."""
    from scenewright.capture import load_capture
    from scenewright.methods.boxes import reconstruct_boxes
    from scenewright.scene import Relation, write_scene
    scene = reconstruct_boxes(load_capture(LIVING_ROOM))
    ids = [i.id for i in scene.instances]
    scene.walls = scene.walls or [{"point": [0.0, 0.0, -3.0], "normal": [0.0, 0.0, 1.0]}]
    scene.relations = [Relation("on", subject=ids[1], object=ids[0]), Relation("against_wall", subject=ids[0], wall=0),
                       Relation("facing", subject=ids[2], object=ids[0]),
                       Relation("same_asset_group", members=ids[2:4])]
    out = tmp_path_factory.mktemp("scene") / "scene"
    write_scene(scene, out)
    return out


def broken_copy(scene_dir, tmp_path, edit) -> tuple:
    folder = tmp_path / "scene"
    shutil.copytree(scene_dir, folder)
    data = json.loads((folder / "scene.json").read_text())
    edit(data)
    (folder / "scene.json").write_text(json.dumps(data))
    return folder, data


def _del_id(d):
    del d["instances"][0]["id"]


def _set(path, value):
    def edit(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _nan_placement(d):
    d["instances"][1]["world_from_object"][0][3] = float("nan")


def _inf_camera(d):
    d["camera"]["world_from_camera"][1][1] = float("inf")


def _unknown_relation_key(d):
    d["relations"][0]["colour"] = "red"


CASES = {
    "instance without id": (_del_id, "instances[0] has no 'id'"),
    "id that is not an integer": (_set(["instances", 0, "id"], "one"), "id must be a positive integer"),
    "repeated id": (lambda d: d["instances"][1].update(id=d["instances"][0]["id"]), "appears twice"),
    "relation with an unknown key": (_unknown_relation_key, "relations[0]: unknown key 'colour'"),
    "relation of an unknown type": (_set(["relations", 0, "type"], "near"), "type 'near' is not one of"),
    "relation to a missing instance": (_set(["relations", 0, "object"], 999), "object 999 is not the id"),
    "2x2 world_from_object": (_set(["instances", 0, "world_from_object"], [[1, 0], [0, 1]]),
                              "world_from_object must be 4x4, got shape 2x2"),
    "NaN world_from_object": (_nan_placement, "world_from_object has non-finite entries"),
    "instances is a string": (_set(["instances"], "abc"), "instances must be a list of objects, got str"),
    "label is a number": (_set(["instances", 0, "label"], 5), "label must be a string or null"),
    "camera K of zeros": (_set(["camera", "K"], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]), "camera.K must have"),
    "infinite world_from_camera": (_inf_camera, "camera.world_from_camera has non-finite entries"),
    "empty object (no format)": (lambda d: d.clear(), "format None"),
}


@pytest.mark.parametrize("command", ["export", "render"])
@pytest.mark.parametrize("case", list(CASES))
def test_broken_scene_json(scene_dir, tmp_path, case, command):
    edit, says = CASES[case]
    folder, data = broken_copy(scene_dir, tmp_path, edit)
    out = tmp_path / ("out.glb" if command == "export" else "out.png")
    before = tree_digest(folder)
    run = scenewright(command, folder, "-o", out)
    line = assert_refused(run, "scene.json", says=says, outputs=[out], inputs_before=before, inputs=[folder])
    if case == "NaN world_from_object":
        assert f"instance {data['instances'][1]['id']}" in line        # names the instance


def test_non_finite_vertices_in_scene_glb(scene_dir, tmp_path):
    folder = tmp_path / "scene"
    shutil.copytree(scene_dir, folder)
    tscene = trimesh.load(folder / "scene.glb", force="scene", process=False)
    name = sorted(tscene.geometry)[0]
    tscene.geometry[name].vertices[0] = np.nan
    (folder / "scene.glb").write_bytes(tscene.export(file_type="glb"))
    before = tree_digest(folder)
    run = scenewright("export", folder, "-o", tmp_path / "out.glb")
    assert_refused(run, "scene.glb", says="non-finite", outputs=[tmp_path / "out.glb"],
                   inputs_before=before, inputs=[folder])


def test_the_valid_scene_exports_and_renders(scene_dir, tmp_path):
    """The folder the cases break is itself fine (so each refusal is the edit's doing)."""
    assert scenewright("export", scene_dir, "-o", tmp_path / "ok.glb").returncode == 0
    run = scenewright("render", scene_dir, "-o", tmp_path / "ok.png")
    assert run.returncode == 0, run.stderr


@pytest.fixture()
def bench(scene_dir, tmp_path):
    """A one-scene benchmark folder whose ground truth is the box scene."""
    bench = tmp_path / "bench"
    shutil.copytree(scene_dir, bench / "scene_0000" / "gt")
    (bench / "manifest.json").write_text(json.dumps({"format": "bench/1", "scenes": ["scene_0000"]}))
    return bench


def test_eval_of_an_empty_prediction_folder(bench, tmp_path):
    pred = tmp_path / "pred"
    pred.mkdir()
    report = tmp_path / "report.json"
    before = tree_digest(bench, pred)
    run = scenewright("eval", pred, bench, "--out", report, "--points", 200)
    assert_refused(run, str(pred), says=["no predictions", "scene_0000"], outputs=[report],
                   inputs_before=before, inputs=[bench, pred])


def test_eval_of_one_scene_folder_instead_of_the_root(bench, scene_dir, tmp_path):
    run = scenewright("eval", scene_dir, bench, "--points", 200)
    assert_refused(run, str(scene_dir), says="is one scene folder")


def test_eval_scores_a_present_prediction(bench, scene_dir, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(scene_dir, pred / "scene_0000")
    run = scenewright("eval", pred, bench, "--out", tmp_path / "r.json", "--points", 200)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "r.json").read_text())["n_scored"] == 1
