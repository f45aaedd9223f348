"""perceive() on captures drawn by the real renderer (moderngl/EGL), then the layout stages on them."""

import numpy as np
import pytest
import trimesh

from scenewright.capture import Capture, intrinsics_from_hfov
from scenewright.geometry.boxes import yaw_error_deg
from scenewright.geometry.planes import angle_deg
from scenewright.geometry.transforms import make_transform, rot_y
from scenewright.methods.layout.optimize import optimize_layout
from scenewright.methods.layout.scene_graph import build_scene_graph
from scenewright.scene import Instance
from tests.perception.synth import SynthRoom

render = pytest.importorskip("scenewright.render")


def room_meshes():
    floor = trimesh.creation.box((8, 0.02, 8))
    floor.apply_translation([0, -0.01, -2])
    back = trimesh.creation.box((8, 3, 0.02))
    back.apply_translation([0, 1.5, -4.01])
    left = trimesh.creation.box((0.02, 3, 8))
    left.apply_translation([-2.01, 1.5, -2])
    return [floor, back, left]


def test_rendered_room_planes_and_boxes():
    try:
        r = render.Renderer(320, 240)
    except Exception as exc:  # no EGL on this machine
        pytest.skip(f"no offscreen renderer: {exc}")
    K = intrinsics_from_hfov(320, 240, 62.0)
    wfc = SynthRoom(cam_height=1.45, pitch_deg=20).world_from_camera()
    cabinet = trimesh.creation.box((1.2, 0.8, 0.5))
    cabinet.apply_translation([0, 0.4, 0])
    drum = trimesh.creation.cylinder(radius=0.25, height=0.6, sections=48)
    drum.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    drum.apply_translation([0, 0.3, 0])
    items = [render.RenderItem(m, np.eye(4), 0) for m in room_meshes()]
    items += [render.RenderItem(cabinet, make_transform(rot_y(0.5), [0.3, 0, -2.6]), 1),
              render.RenderItem(drum, make_transform(None, [-1.0, 0, -2.0]), 2)]
    res = r.render(items, K, wfc)
    r.release()
    cap = Capture(rgb=res.rgb, K=K, seg=res.instance_ids, depth=res.depth,
                  labels={1: "cabinet", 2: "drum"})
    from scenewright.perception import perceive
    obs = perceive(cap)
    up_est = obs.world_from_camera[:3, :3].T @ [0, 1, 0]
    assert angle_deg(up_est, wfc[:3, :3].T @ [0, 1, 0]) < 1.0
    assert abs(obs.camera_height - 1.45) < 0.02
    normals = sorted(tuple(np.round(w.normal, 2)) for w in obs.walls)
    assert (0.0, 0.0, 1.0) in normals and (1.0, 0.0, 0.0) in [tuple(abs(x) for x in n) for n in normals]
    for w in obs.walls:
        if abs(w.normal[2]) > 0.99:
            assert abs(abs(w.offset) - 4.0) < 0.03
        else:
            assert abs(abs(w.offset) - 2.0) < 0.03
    cab = obs.object(1)
    assert yaw_error_deg(cab.box.yaw, 0.5, 180) < 3.0
    assert np.linalg.norm(cab.box.centre[[0, 2]] - [0.3, -2.6]) < 0.03
    assert abs(cab.box.top - 0.8) < 0.02
    drum_obs = obs.object(2)
    assert abs(drum_obs.box.top - 0.6) < 0.02 and drum_obs.box.bottom < 0.03

    # The layout stages take what perception produced: size-only instances from the boxes
    # (library frame: centred in x/z, bottom at y = 0), nudged into each other, then fixed.
    inst = []
    for o in obs.objects:
        b = o.box
        inst.append(Instance(id=o.id, category="cabinet" if o.id == 1 else "floor_object",
                             world_from_object=make_transform(rot_y(b.yaw), [b.centre[0], b.bottom + 0.03, b.centre[2]]),
                             size=list(b.size)))
    inst[1].world_from_object[0, 3] = inst[0].world_from_object[0, 3] - 0.5     # overlap the two
    rel = build_scene_graph(inst, obs.floor, obs.walls)
    out, rep = optimize_layout(inst, obs.floor, obs.walls, rel)
    assert rep["colliding_pairs"] == [] and rep["not_resting"] == []
    assert all(abs(o.world_from_object[1, 3]) < 1e-6 for o in out)
