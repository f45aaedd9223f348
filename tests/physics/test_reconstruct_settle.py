"""``scenewright reconstruct --settle``: the real command line on the small library bench,
the scene settled in MuJoCo before it is written."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh

pytest.importorskip("mujoco")
pytest.importorskip("vhacdx")

from scenewright.cli import main as cli_main  # noqa: E402
from scenewright.methods.base import Method  # noqa: E402
from scenewright.methods.registry import register_method, unregister_method  # noqa: E402
from scenewright.scene import Instance, Scene, load_glb_nodes, read_scene  # noqa: E402

# Poses are 4x4 products of a few float64 matrices read back from JSON: far below a micrometre.
POSE_TOL = 1e-6


def reconstruct(capture, out, library, *extra):
    return subprocess.run([sys.executable, "-m", "scenewright", "reconstruct", str(capture), "-o", str(out),
                           "--library", str(library), "--no-preview", *map(str, extra)],
                          capture_output=True, text=True)


def test_reconstruct_settle_writes_settled_poses_and_the_report(small_bench, small_library, tmp_path):
    capture = sorted(p for p in small_bench.iterdir() if (p / "capture").is_dir())[0] / "capture"
    r = reconstruct(capture, tmp_path / "plain", small_library)
    assert r.returncode == 0, r.stderr
    r = reconstruct(capture, tmp_path / "settled", small_library, "--settle")
    assert r.returncode == 0, r.stderr
    plain, settled = read_scene(tmp_path / "plain"), read_scene(tmp_path / "settled")
    physics = json.loads((tmp_path / "settled" / "scene.json").read_text())["physics"]
    assert physics["settled"] is True and physics["settings"]["engine"].startswith("mujoco")
    assert physics["settings"]["duration_s"] == 2.0 and physics["seconds"]["simulate"] > 0
    assert "settle" in settled.timings_s and "physics" not in plain.extra
    assert f"median motion {100 * physics['median_moved_m']:.2f} cm" in r.stdout
    per_object = {o["id"]: o for o in physics["per_object"]}
    meshed = [i.id for i in plain.instances if i.mesh is not None]
    assert meshed and sorted(per_object) == meshed
    assert physics["max_moved_m"] > 1e-4        # MuJoCo's soft contacts: something sinks a little
    nodes = load_glb_nodes(tmp_path / "settled" / "scene.glb")
    for before in plain.instances:
        after = settled.instance(before.id)
        if before.id not in per_object:
            np.testing.assert_allclose(after.world_from_object, before.world_from_object, atol=POSE_TOL)
            continue
        motion = per_object[before.id]
        # The settled pose is a rigid motion of the reconstructed one, of the reported angle.
        delta = after.world_from_object @ np.linalg.inv(before.world_from_object)
        np.testing.assert_allclose(delta[:3, :3] @ delta[:3, :3].T, np.eye(3), atol=POSE_TOL)
        angle = np.degrees(np.arccos(np.clip((np.trace(delta[:3, :3]) - 1) / 2, -1, 1)))
        assert angle == pytest.approx(motion["rotated_deg"], abs=1e-3)
        # No vertex moved more than the report's largest collider-vertex motion, plus what the
        # turn does to a vertex lying outside its convex colliders (at most the mesh's diagonal away).
        v0, v1 = before.world_mesh().vertices, after.world_mesh().vertices
        diagonal = np.linalg.norm(np.ptp(v0, axis=0))
        bound = motion["max_point_moved_m"] + np.radians(motion["rotated_deg"]) * diagonal + POSE_TOL
        moved = np.linalg.norm(v1 - v0, axis=1)
        assert moved.max() <= bound
        # ... and the motion happened: the colliders' centre moved moved_m, so some vertex moved
        # at least that, less what the turn does across the mesh.
        assert moved.max() >= motion["moved_m"] - np.radians(motion["rotated_deg"]) * diagonal - POSE_TOL
        # scene.glb carries the settled pose, and the instance entry its motion.
        np.testing.assert_allclose(nodes[f"inst_{before.id}"][0], after.world_from_object, atol=POSE_TOL)
        assert after.extra["settle"]["moved_m"] == pytest.approx(motion["moved_m"])


@dataclasses.dataclass
class _PlainSettings:
    seed: int = 0


class _NoMeshMethod(Method):
    """One instance per mask, no mesh, a floor at y = 0."""

    name = "nomesh"
    Settings = _PlainSettings
    summary = "labels only"

    def reconstruct(self, capture) -> Scene:
        return Scene(instances=[Instance(id=i, label=capture.labels.get(i)) for i in capture.instance_ids],
                     floor={"normal": [0.0, 1.0, 0.0], "height": 0.0},
                     method={"name": self.name, "version": "1", "settings": {"seed": 0}})


class _NoFloorMethod(Method):
    """A 20 cm cube per instance, no floor."""

    name = "nofloor"
    Settings = _PlainSettings
    summary = "cubes, no floor"

    def reconstruct(self, capture) -> Scene:
        return Scene(instances=[Instance(id=i, mesh=trimesh.creation.box([0.2] * 3), label=capture.labels.get(i))
                                for i in capture.instance_ids],
                     method={"name": self.name, "version": "1", "settings": {"seed": 0}})


@pytest.mark.parametrize("method, reason", [
    (_NoMeshMethod, "no object has a mesh, so there is nothing to simulate"),
    (_NoFloorMethod, "the scene has no floor, so there is nothing to settle on")])
def test_reconstruct_settle_that_cannot_run_keeps_the_scene_and_says_why(method, reason, small_bench, tmp_path,
                                                                         capsys):
    capture = sorted(p for p in small_bench.iterdir() if (p / "capture").is_dir())[0] / "capture"
    register_method(method.name, method)
    try:
        code = cli_main(["reconstruct", str(capture), "-o", str(tmp_path / "out"), "--method", method.name,
                         "--no-preview", "--settle"])
    finally:
        unregister_method(method.name)
    assert code == 0
    assert f"note: --settle: not settled: {reason}" in capsys.readouterr().out
    written = json.loads((tmp_path / "out" / "scene.json").read_text())
    assert written["physics"] == {"settled": False, "reason": reason}
    assert len(written["instances"]) == len(read_scene(tmp_path / "out").instances) > 0


def test_batch_settle_settles_every_scene(small_bench, small_library, tmp_path):
    r = subprocess.run([sys.executable, "-m", "scenewright", "batch", str(small_bench), "-o", str(tmp_path / "out"),
                        "--library", str(small_library), "--address", "none", "--no-progress", "--settle"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in small_bench.iterdir() if (p / "capture").is_dir())
    for name in names:
        physics = json.loads((tmp_path / "out" / name / "scene.json").read_text())["physics"]
        assert physics["settled"] is True and len(physics["per_object"]) == physics["objects"] > 0
    batch = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert '"settle": true' in json.dumps(batch)
