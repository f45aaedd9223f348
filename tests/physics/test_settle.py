"""Physics witness: real MuJoCo simulations of small scenes whose outcome is known from mechanics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import trimesh

pytest.importorskip("mujoco")
pytest.importorskip("vhacdx")

from scenewright.physics.colliders import ColliderSettings, _thicken, object_hulls, place  # noqa: E402
from scenewright.physics.settle import SettleSettings, settle_scene  # noqa: E402
from scenewright.scene import Instance, Scene, read_scene, write_scene  # noqa: E402

FLOOR = {"normal": [0.0, 1.0, 0.0], "height": 0.0}
# MuJoCo's contacts are soft (default solref: 20 ms time constant): a body resting on the
# floor sinks until the contact force carries its weight, a few millimetres at most
# (g · τ² ≈ 4 mm is the scale). Resting objects must move less than this.
REST_TOL = 0.005


def box(width, height, depth, y0=0.0, x0=0.0, z0=0.0) -> trimesh.Trimesh:
    """A box in the object frame convention: centred in x/z, lowest point at y = y0."""
    m = trimesh.creation.box((width, height, depth))
    m.apply_translation([x0, y0 + height / 2, z0])
    return m


def at(x=0.0, y=0.0, z=0.0, rot_x_deg=0.0, scale=1.0) -> np.ndarray:
    m = trimesh.transformations.rotation_matrix(np.radians(rot_x_deg), [1, 0, 0])
    m[:3, :3] *= scale
    m[:3, 3] = [x, y, z]
    return m


def table_mesh() -> trimesh.Trimesh:
    """A top on four separate legs: five components, far from convex."""
    legs = [box(0.05, 0.7, 0.05, x0=sx * 0.5, z0=sz * 0.3) for sx in (-1, 1) for sz in (-1, 1)]
    return trimesh.util.concatenate(legs + [box(1.1, 0.04, 0.7, y0=0.7)])


def scene_of(*instances, walls=()) -> Scene:
    return Scene(instances=list(instances), floor=dict(FLOOR), walls=list(walls))


def test_resting_box_stays_and_dropped_box_lands():
    settled, report = settle_scene(scene_of(Instance(1, box(0.5, 0.4, 0.5), at(x=-1.0), label="rest"),
                                            Instance(2, box(0.5, 0.4, 0.5), at(x=1.0, y=0.10), label="drop")))
    rest, drop = report.objects
    assert rest.moved_m < REST_TOL and not rest.tipped
    # The dropped box falls its 10 cm (less the contact sink) and lands flat.
    assert abs(drop.moved_m - 0.10) < REST_TOL and drop.tilt_deg < 1.0 and not drop.tipped
    landed = settled.instance(2).world_mesh()
    assert abs(landed.bounds[0, 1]) < REST_TOL
    assert settled.instance(2).extra["settle"]["moved_m"] == pytest.approx(drop.moved_m)
    assert report.median_moved_m == pytest.approx(np.median([rest.moved_m, drop.moved_m]))
    assert not report.passed          # 10 cm is over the 5 cm target


def test_tilted_pole_falls_over():
    # A 1 m pole on a 10 cm base leaning 30°: its centre of mass is far outside the base.
    _, report = settle_scene(scene_of(Instance(1, box(0.1, 1.0, 0.1), at(y=0.06, rot_x_deg=30.0))))
    assert report.objects[0].tipped and report.objects[0].tilt_deg > 45
    assert report.n_tipped == 1 and not report.passed


def test_table_on_separate_legs_stands():
    settled, report = settle_scene(scene_of(Instance(1, table_mesh(), at(z=0.5))))
    obj = report.objects[0]
    assert obj.hulls >= 5                # at least one piece per leg and the top
    assert obj.moved_m < REST_TOL and not obj.tipped
    assert report.passed


def test_decomposition_keeps_a_box_inside_a_u_shape():
    """A box resting between the two sides of a U: one convex hull of the U fills the gap and
    throws the box out; the decomposition leaves it where it is."""
    u = trimesh.util.concatenate([box(1.0, 0.05, 0.4), box(0.05, 0.6, 0.4, x0=-0.475),
                                  box(0.05, 0.6, 0.4, x0=0.475)])
    inner = box(0.3, 0.2, 0.3, y0=0.05)
    make = lambda: scene_of(Instance(1, u, at()), Instance(2, inner, at()))  # noqa: E731
    _, decomposed = settle_scene(make(), SettleSettings(colliders=ColliderSettings(method="vhacd")))
    _, one_hull = settle_scene(make(), SettleSettings(colliders=ColliderSettings(method="hull")))
    assert decomposed.objects[1].moved_m < REST_TOL
    assert one_hull.objects[1].moved_m > 0.03     # pushed out of the hull: ten times the resting motion


def test_scaled_instance_rests_on_the_floor():
    # An asset scaled 2x: its colliders must scale with it (else it would fall 20 cm onto them).
    settled, report = settle_scene(scene_of(Instance(1, box(0.2, 0.2, 0.2), at(scale=2.0))))
    assert report.objects[0].moved_m < REST_TOL
    np.testing.assert_allclose(settled.instance(1).world_from_object[:3, :3] / 2.0, np.eye(3), atol=0.01)


def test_wall_pushes_an_object_back_into_the_room():
    wall = {"point": [0.0, 0.0, -1.0], "normal": [0.0, 0.0, 1.0]}
    # The box's back is 5 cm behind the wall at z = -1.
    inst = Instance(1, box(0.4, 0.4, 0.4), at(z=-1.0 + 0.2 - 0.05))
    settled, report = settle_scene(scene_of(inst, walls=[wall]))
    back = settled.instance(1).world_mesh().bounds[0, 2]
    assert back > -1.0 - REST_TOL and report.objects[0].moved_m > 0.03
    _, no_walls = settle_scene(scene_of(inst, walls=[wall]), SettleSettings(walls=False))
    assert no_walls.objects[0].moved_m < REST_TOL


def test_hulls_are_convex_pieces_in_the_object_frame_and_flat_pieces_get_a_volume():
    mesh = table_mesh()
    hulls = object_hulls(mesh)
    assert object_hulls(mesh) is hulls                     # cached per mesh
    pieces = np.concatenate(hulls)
    # Every piece lies within the mesh's bounds (V-HACD works on a voxelisation: one voxel of slack).
    slack = float(np.ptp(mesh.bounds, axis=0).max()) / 50
    assert np.all(pieces >= mesh.bounds[0] - slack) and np.all(pieces <= mesh.bounds[1] + slack)
    moved = place(hulls, at(x=2.0, scale=2.0))
    np.testing.assert_allclose(np.concatenate(moved), pieces * 2.0 + [2.0, 0, 0])
    square = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]], float)
    slab = _thicken(square, 0.002)
    assert trimesh.convex.convex_hull(slab).volume == pytest.approx(0.002, rel=1e-6)
    rod = _thicken(np.array([[0, 0, 0], [0, 0, 1.0]]), 0.002)
    assert trimesh.convex.convex_hull(rod).volume == pytest.approx(0.002 ** 2, rel=1e-6)


def _cli(*args, cwd):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "scenewright", "settle", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_writes_the_settled_scene_and_report(tmp_path):
    scene = scene_of(Instance(1, box(0.5, 0.4, 0.5), at(y=0.08), label="crate", category="cabinet"))
    write_scene(scene, tmp_path / "in")
    r = _cli(tmp_path / "in", "-o", tmp_path / "out", "--report", tmp_path / "r.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "crate" in r.stdout and "FAIL" in r.stdout        # moved 8 cm: over the 5 cm target
    out = read_scene(tmp_path / "out")
    assert abs(out.instance(1).world_mesh().bounds[0, 1]) < REST_TOL
    assert out.instance(1).category == "cabinet"
    assert out.extra["physics"]["per_object"][0]["moved_m"] == pytest.approx(0.08, abs=REST_TOL)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_tipped"] == 0 and report["settings"]["engine"].startswith("mujoco")
    # The input is untouched.
    np.testing.assert_allclose(read_scene(tmp_path / "in").instance(1).world_from_object, at(y=0.08))


def test_cli_refuses_a_scene_without_floor_and_an_occupied_output(tmp_path):
    scene = scene_of(Instance(1, box(0.5, 0.4, 0.5), at()))
    scene.floor = None
    write_scene(scene, tmp_path / "nofloor")
    r = _cli(tmp_path / "nofloor", "-o", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: {tmp_path / 'nofloor' / 'scene.json'}: the scene has no floor")
    assert not (tmp_path / "out").exists()
    write_scene(scene_of(Instance(1, box(0.5, 0.4, 0.5), at())), tmp_path / "ok")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    r = _cli(tmp_path / "ok", "-o", tmp_path / "busy", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {tmp_path / 'busy'}")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    r = _cli(tmp_path / "ok", "--duration", "-1", cwd=tmp_path)
    assert r.returncode == 2 and "duration" in r.stderr
