"""The room builder (floor, walls, ceiling textured from the photo) and the README's promise that
the room is in scene.glb and in every export (GLB, USD, usdz, .blend) unless ``--no-room``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from scenewright.capture import load_capture
from scenewright.cli import main
from scenewright.export import ExportSettings, export_scene
from scenewright.export.room import WALL_RGBA, RoomSettings, room_surfaces
from scenewright.render.renderer import Renderer, RenderItem, RenderSettings
from scenewright.scene import read_scene

from .conftest import glb_json, glb_nodes

UNSHADED = RenderSettings(ambient=1.0, headlight=0.0, key=0.0)   # draws each surface's own colour


@pytest.fixture(scope="session")
def gt_scene_and_capture(bench):
    """The ground truth's planes (floor y = 0, its four walls) without its room meshes, and the
    capture rendered from it (128 px, metric depth)."""
    scene = read_scene(bench / "scene_0000" / "gt")
    scene.room = {}
    return scene, load_capture(bench / "scene_0000" / "capture")


def _render(meshes, scene, capture):
    renderer = Renderer(capture.width, capture.height, UNSHADED)
    try:
        return renderer.render([RenderItem(m, np.eye(4), k + 1) for k, m in enumerate(meshes)],
                               scene.camera.K, scene.camera.world_from_camera)
    finally:
        renderer.release()


def test_geometry_faces_into_the_room(gt_scene_and_capture):
    scene, _ = gt_scene_and_capture
    room = room_surfaces(scene, ceiling=True, wall_height=2.6)
    walls = [n for n in room if n.startswith("wall_")]
    assert {"floor", "ceiling"} <= set(room) and len(walls) == len(scene.walls) == 4
    np.testing.assert_allclose(room["floor"].face_normals, [[0, 1, 0]] * len(room["floor"].faces), atol=1e-9)
    np.testing.assert_allclose(room["ceiling"].face_normals, [[0, -1, 0]] * len(room["ceiling"].faces), atol=1e-9)
    np.testing.assert_allclose(room["ceiling"].vertices[:, 1], 2.6)
    centre = room["floor"].vertices.mean(0)
    for name in walls:
        wall = scene.walls[int(name.split("_")[1])]
        n = np.asarray(wall["normal"], float)
        # every vertex on the wall's plane; the faces look into the room (towards the floor's centre)
        np.testing.assert_allclose((room[name].vertices - wall["point"]) @ n, 0, atol=1e-9)
        assert np.all(room[name].face_normals @ (centre - wall["point"]) > 0)
        assert room[name].vertices[:, 1].min() == 0 and room[name].vertices[:, 1].max() == 2.6
    # the floor lies inside every wall's half-space
    for wall in scene.walls:
        assert np.all((room["floor"].vertices - wall["point"]) @ np.asarray(wall["normal"]) >= -1e-9)


def test_no_floor_no_room(gt_scene_and_capture):
    scene, capture = gt_scene_and_capture
    import copy
    floating = copy.copy(scene)
    floating.floor = None
    assert room_surfaces(floating, capture) == {}


def test_textures_reproduce_the_photo_where_it_shows_the_room(gt_scene_and_capture):
    """Drawn unshaded from the capture's camera, the photo-textured room shows the photo's own
    pixels wherever the photo shows that surface (same depth, no object in front): each drawn
    colour lies within the photo's 3×3 neighbourhood (texels and pixels are different grids)."""
    scene, capture = gt_scene_and_capture
    report = {}
    room = room_surfaces(scene, capture, RoomSettings(wall_height_m=2.6), report=report)
    seen = [n for n, r in report.items() if r["appearance"] == "photo"]
    assert "floor" in seen and any(n.startswith("wall_") for n in seen)
    res = _render(list(room.values()), scene, capture)
    photo = capture.rgb.astype(int)
    pad = np.pad(photo, ((1, 1), (1, 1), (0, 0)), mode="edge")
    stack = np.stack([pad[dy:dy + capture.height, dx:dx + capture.width] for dy in range(3) for dx in range(3)])
    lo, hi = stack.min(0) - 1, stack.max(0) + 1
    same_surface = np.abs(res.depth - capture.depth) < 0.01 * capture.depth
    compare = res.mask & (capture.seg == 0) & same_surface
    assert compare.sum() > 0.2 * capture.seg.size
    inside = np.all((res.rgb >= lo) & (res.rgb <= hi), axis=-1)
    assert inside[compare].mean() > 0.97


def test_hidden_texels_take_one_plain_colour_and_unseen_walls_stay_plain(gt_scene_and_capture):
    scene, capture = gt_scene_and_capture
    report = {}
    room = room_surfaces(scene, capture, RoomSettings(wall_height_m=2.6), report=report)
    # behind the objects the floor is not in the photo: one colour (the median of what is seen)
    from scipy.ndimage import binary_erosion
    hidden = binary_erosion(capture.seg > 0, iterations=2)
    res = _render([room["floor"]], scene, capture)
    behind = res.mask & hidden
    assert behind.sum() > 20
    colours, counts = np.unique(res.rgb[behind], axis=0, return_counts=True)
    assert counts.max() / behind.sum() > 0.95
    # walls behind the camera: no texture, the plain wall colour
    unseen = [n for n, r in report.items() if r["seen_fraction"] == 0]
    assert unseen
    for name in unseen:
        assert room[name].visual.kind == "face"
        np.testing.assert_array_equal(room[name].visual.face_colors, [WALL_RGBA] * len(room[name].faces))


def _reconstruct(capture_dir, out, *flags):
    assert main(["reconstruct", str(capture_dir), "--method", "boxes", "-o", str(out), "--no-preview", *flags]) == 0
    return out


def test_room_in_scene_glb_and_every_export(bench, tmp_path):
    """README: scene.glb holds the floor and walls (and a ceiling with --ceiling), and every export
    brings them as named nodes / prims / objects unless --no-room."""
    capture = bench / "scene_0000" / "capture"
    folder = _reconstruct(capture, tmp_path / "scene", "--ceiling")
    data = json.loads((folder / "scene.json").read_text())
    assert data["room"]["included"] and data["room"]["ceiling"] and "room" in data["timings_s"]
    room = sorted(n for n in glb_nodes(folder) if not n.startswith("inst_"))
    assert "floor" in room and "ceiling" in room
    assert data["room"]["surfaces"]["floor"]["appearance"] == "photo"
    # the photo texture is in scene.glb (a material with an image on the floor)
    doc = glb_json(folder / "scene.glb")
    floor = next(n for n in doc["nodes"] if n["name"] == "floor")
    prim = doc["meshes"][floor["mesh"]]["primitives"][0]
    assert "baseColorTexture" in doc["materials"][prim["material"]]["pbrMetallicRoughness"]

    for ext in ("glb", "usda", "usdz", "blend"):
        out = export_scene(folder, tmp_path / f"scene.{ext}")
        assert _room_names(out) == room, ext
        bare = export_scene(folder, tmp_path / f"bare.{ext}", settings=ExportSettings(room=False))
        assert _room_names(bare) == [], ext

    # reconstruct --no-room: no room in scene.glb, and none in its exports either
    bare_folder = _reconstruct(capture, tmp_path / "bare_scene", "--no-room")
    assert json.loads((bare_folder / "scene.json").read_text())["room"] == {"included": False}
    assert all(n.startswith("inst_") for n in glb_nodes(bare_folder))
    assert _room_names(export_scene(bare_folder, tmp_path / "from_bare.glb")) == []


def _room_names(path) -> list[str]:
    """Names of the room surfaces (floor, wall_k, ceiling) an exported file holds."""
    def room(names):
        return sorted(n for n in names if n in ("floor", "ceiling") or n.startswith("wall_"))
    if path.suffix == ".glb":
        return room(n["name"] for n in glb_json(path)["nodes"] if "mesh" in n)
    if path.suffix.startswith(".usd"):
        from pxr import Usd, UsdGeom
        stage = Usd.Stage.Open(str(path))
        prim = stage.GetPrimAtPath("/Scene/Room")
        return room(p.GetName() for p in prim.GetChildren() if p.IsA(UsdGeom.Mesh)) if prim else []
    import bpy
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return room(o.name for o in bpy.data.objects if o.type == "MESH")


def test_against_wall_resolves_to_the_wall_prim(graph_dir, tmp_path):
    """USD relations againstWall target /Scene/Room/wall_<k>, and that prim exists."""
    from pxr import Usd, UsdGeom
    scene = read_scene(graph_dir)
    rel = next(r for r in scene.relations if r.type == "against_wall")
    stage = Usd.Stage.Open(str(export_scene(graph_dir, tmp_path / "scene.usda")))
    subject = stage.GetPrimAtPath(f"/Scene/Objects/inst_{rel.subject}")
    targets = subject.GetRelationship("scenewright:againstWall").GetTargets()
    assert [str(t) for t in targets] == [f"/Scene/Room/wall_{rel.wall}"]
    wall = stage.GetPrimAtPath(targets[0])
    assert wall and wall.IsA(UsdGeom.Mesh)
    # and in the GLB, the relation names a node that is there
    nodes = {n["name"]: n for n in glb_json(export_scene(graph_dir, tmp_path / "scene.glb"))["nodes"]}
    rels = nodes[f"inst_{rel.subject}"]["extras"]["scenewright"]["relations"]
    assert {"type": "against_wall", "target": f"wall_{rel.wall}"} in rels and f"wall_{rel.wall}" in nodes


def test_room_meshes_read_back_as_written(bench, tmp_path):
    """scene.glb keeps the room in world coordinates: read back, the same vertices."""
    scene, capture = read_scene(bench / "scene_0000" / "gt"), load_capture(bench / "scene_0000" / "capture")
    scene.room = room_surfaces(scene, capture, ceiling=True)
    from scenewright.scene import write_scene
    write_scene(scene, tmp_path / "s")
    back = read_scene(tmp_path / "s")
    assert sorted(back.room) == sorted(scene.room)
    for name, mesh in scene.room.items():
        np.testing.assert_allclose(np.sort(back.room[name].vertices, 0), np.sort(mesh.vertices, 0), atol=1e-6)
        assert isinstance(back.room[name], trimesh.Trimesh)
