"""Blender export, reopened with bpy: names, matrices after the Y-up → Z-up turn, geometry,
materials and packed images, camera vs K, custom properties, attribution; twice in one process."""

from __future__ import annotations

import numpy as np
import pytest

from scenewright.export import ExportSettings, export_scene
from scenewright.export.blend import BLENDER_FROM_GLTF
from scenewright.export.common import srgb_to_linear
from scenewright.export.room import room_surfaces
from scenewright.render.meshprep import has_own_vertex_normals
from scenewright.scene import read_scene

from .conftest import glb_nodes, project, tinted_instance

bpy = pytest.importorskip("bpy")
R = BLENDER_FROM_GLTF


@pytest.fixture(scope="module")
def exported(gt_dir, graph_dir, boxes_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("blend")
    # three exports in a row in this one process: bpy's global state must not leak between them
    return {"gt": export_scene(gt_dir, out / "gt.blend"), "boxes": export_scene(boxes_dir, out / "boxes.blend"),
            "graph": export_scene(graph_dir, out / "graph.blend"),
            "bare": export_scene(gt_dir, out / "bare.blend", settings=ExportSettings(room=False, camera=False))}


def _open(path):
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return bpy.context.scene


def _world_vertices(obj) -> np.ndarray:
    """(V, 3) world coordinates (Blender, Z up) of a mesh object's vertices."""
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    M = np.array(obj.matrix_world, float)
    return co.reshape(-1, 3).astype(float) @ M[:3, :3].T + M[:3, 3]


@pytest.mark.parametrize("which", ["gt", "graph"])
def test_objects_names_matrices_vertices_bounds(exported, gt_dir, graph_dir, which):
    scene_dir = graph_dir if which == "graph" else gt_dir    # graph: one object scaled non-uniformly
    scene = read_scene(scene_dir)
    glb = glb_nodes(scene_dir)
    bscene = _open(exported[which])
    assert bscene.unit_settings.system == "METRIC"
    cols = {c.name: sorted(o.name for o in c.objects) for c in bscene.collection.children}
    assert cols["Objects"] == sorted(i.node for i in scene.instances)
    assert cols["Room"] == sorted(scene.room)
    for inst in scene.instances:
        obj = bpy.data.objects[inst.node]
        M = np.array(obj.matrix_world, float)
        # the documented conversion, and back: matrix_world = R world_from_object Rᵀ
        np.testing.assert_allclose(M, R @ inst.world_from_object @ R.T, atol=1e-6)
        np.testing.assert_allclose(R.T @ M @ R, inst.world_from_object, atol=1e-6)
        assert len(obj.data.vertices) == glb[inst.node]["n_vertices"]
        assert len(obj.data.polygons) == len(inst.mesh.faces)
        # shading normals: the mesh's vertex normals, turned Z up, on every face corner
        me = obj.data
        corner = np.empty(len(me.loops) * 3, np.float32)
        me.corner_normals.foreach_get("vector", corner)
        loop_vertex = np.empty(len(me.loops), np.int32)
        me.loops.foreach_get("vertex_index", loop_vertex)
        if has_own_vertex_normals(inst.mesh):
            expected = inst.mesh.vertex_normals[loop_vertex] @ R[:3, :3].T
        else:                   # no normals in scene.glb: shaded flat, as glTF and the preview do
            expected = np.repeat(inst.mesh.face_normals, 3, axis=0) @ R[:3, :3].T
        # Blender stores custom normals compressed (seen: 8e-5)
        np.testing.assert_allclose(corner.reshape(-1, 3), expected, atol=1e-3)
        world_yup = _world_vertices(obj) @ R[:3, :3]           # Blender Z-up → scene Y-up
        np.testing.assert_allclose([world_yup.min(0), world_yup.max(0)], glb[inst.node]["bounds"], atol=1e-4)
        # Blender's own bound box (object frame, Z up) agrees with the mesh, up is +Z
        bb = np.array([list(c) for c in obj.bound_box])
        assert bb[:, 2].min() == pytest.approx(inst.mesh.bounds[0, 1], abs=1e-5)
        assert bb[:, 2].max() == pytest.approx(inst.mesh.bounds[1, 1], abs=1e-5)
        # location / rotation / scale as Blender shows them reproduce the matrix
        from mathutils import Matrix
        rebuilt = Matrix.LocRotScale(obj.location, obj.rotation_euler.to_quaternion(), obj.scale)
        np.testing.assert_allclose(np.array(rebuilt, float), M, atol=1e-5)
        assert obj["label"] == inst.label and obj["category"] == inst.category
        assert obj["asset_id"] == inst.asset_id and obj["instance_id"] == inst.id
        np.testing.assert_allclose(list(obj["size"]), inst.size, atol=1e-6)
        assert obj["attribution"]["asset_id"] == inst.asset_id and obj["attribution"]["license"]
        assert obj["extra"]["pixels"] == inst.extra["pixels"]
    for name in scene.room:
        world_yup = _world_vertices(bpy.data.objects[name]) @ R[:3, :3]
        np.testing.assert_allclose([world_yup.min(0), world_yup.max(0)], glb[name]["bounds"], atol=1e-4)


def test_materials_and_packed_images(exported, gt_dir):
    scene = read_scene(gt_dir)
    _open(exported["gt"])
    textured = [i for i in scene.instances if hasattr(i.mesh.visual, "material")]
    painted = [i for i in scene.instances if i.mesh.visual.kind == "vertex"]
    assert textured and painted      # photo-like textures, and assets painted with flat colours
    for inst in painted:             # several flat colours: vertex colours drive the base colour
        bsdf = next(n for n in bpy.data.objects[inst.node].data.materials[0].node_tree.nodes
                    if n.type == "BSDF_PRINCIPLED")
        assert bsdf.inputs["Base Color"].links[0].from_node.type in ("VERTEX_COLOR", "MIX")
    for inst in textured + [None]:
        obj = bpy.data.objects[inst.node if inst else "floor"]
        mat = obj.data.materials[0]
        assert mat.use_backface_culling is False
        bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        link = bsdf.inputs["Base Color"].links[0]
        node = link.from_node
        while node.type != "TEX_IMAGE":                  # through the factor multiply, if any
            node = node.inputs[6].links[0].from_node
        image = node.image
        assert image.packed_file is not None and image.packed_file.size > 0
        source = (inst.mesh if inst else scene.room["floor"]).visual.material.baseColorTexture
        assert tuple(image.size) == source.size
        # the packed pixels are the texture's (Blender stores rows bottom-up, floats 0..1)
        px = np.array(image.pixels[:], np.float32).reshape(source.size[1], source.size[0], -1)[::-1, :, :3]
        np.testing.assert_allclose(px, np.asarray(source.convert("RGB"), np.float32) / 255.0, atol=1 / 255 + 1e-6)
        assert image.filepath == f"//textures/{image.name}.png"
        uv = obj.data.uv_layers["UVMap"]
        assert len(uv.uv) == 3 * len(obj.data.polygons)


@pytest.mark.parametrize("which", ["gt", "graph"])
def test_camera_reproduces_K(exported, gt_dir, graph_dir, which):
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector
    scene = read_scene(gt_dir if which == "gt" else graph_dir)
    cam = scene.camera
    bscene = _open(exported[which])
    cam_obj = bscene.camera
    assert cam_obj is not None and cam_obj.name == "camera"
    assert (bscene.render.resolution_x, bscene.render.resolution_y) == (cam.width, cam.height)
    hfov = 2 * np.arctan(cam.width / 2 / cam.K[0, 0])
    assert cam_obj.data.angle_x == pytest.approx(hfov, abs=1e-5)
    pts = np.concatenate([i.world_mesh().vertices[::50] for i in scene.instances])
    expected = project(cam.K, cam.world_from_camera, pts)
    got = []
    for p in pts @ R[:3, :3].T:
        c = world_to_camera_view(bscene, cam_obj, Vector(p.tolist()))
        got.append((c.x * cam.width, (1 - c.y) * cam.height))
    np.testing.assert_allclose(np.array(got), expected, atol=1e-2)


def test_attribution_text_and_scene_properties(exported, graph_dir):
    scene = read_scene(graph_dir)
    bscene = _open(exported["graph"])
    text = bpy.data.texts["ATTRIBUTION"].as_string()
    meta = bscene["scenewright"]
    assert scene.attribution
    for a in scene.attribution:
        assert a["asset_id"] in text and a["creator"] in text and a["license"] in text
        assert meta["attribution"][a["asset_id"]]["license"] == a["license"]
    assert bscene["attribution"] == text
    a, b, c = (scene.instances[k].node for k in range(3))
    assert list(bpy.data.objects[b]["relations"]) == [f"on {a}", f"same_asset_group {c}"]
    assert list(bpy.data.objects[a]["relations"]) == ["against_wall wall_1"]
    assert list(bpy.data.objects[c]["relations"]) == [f"facing {a}", f"same_asset_group {b}"]
    assert len(meta["relations"]) == len(scene.relations)


def test_each_export_starts_empty(exported, boxes_dir):
    """The boxes file, written right after the gt file, holds only its own objects."""
    scene = read_scene(boxes_dir)
    bscene = _open(exported["boxes"])
    names = sorted(o.name for o in bscene.objects if o.type == "MESH")
    # the folder has a floor but no room meshes: the export builds them in plain colours
    room = room_surfaces(scene)
    assert "floor" in room
    assert names == sorted([i.node for i in scene.instances if i.mesh is not None] + list(room))
    assert len(bpy.data.images) == 0 and "no library assets" in bpy.data.texts["ATTRIBUTION"].as_string()
    for inst in scene.instances:
        if inst.mesh is None:
            continue
        mat = bpy.data.objects[inst.node].data.materials[0]
        np.testing.assert_allclose(list(mat.diffuse_color)[:3],
                                   srgb_to_linear(inst.mesh.visual.vertex_colors[0, :3] / 255), atol=1e-6)
    bare = _open(exported["bare"])
    assert "Room" not in [c.name for c in bare.collection.children] and bare.camera is None
    assert not [o for o in bare.objects if o.type == "CAMERA"]
    assert bare.world is not None and bare.world.name == "World"     # or Eevee/Cycles render black


def test_blender_render_reproduces_the_capture_segmentation(gt_dir, bench, tmp_path):
    """Blender renders the exported file from its own camera (Workbench, flat object colours
    coding instance ids): the ids reproduce the capture's seg.png pixel for pixel."""
    from PIL import Image
    from scenewright.capture import load_capture
    capture = load_capture(bench / "scene_0000" / "capture")
    path = export_scene(gt_dir, tmp_path / "ids.blend", settings=ExportSettings(room=False))
    bscene = _open(path)
    bscene.render.engine = "BLENDER_WORKBENCH"
    bscene.display.shading.light = "FLAT"
    bscene.display.shading.color_type = "OBJECT"
    bscene.display.render_aa = "OFF"
    bscene.view_settings.view_transform = "Standard"
    bscene.render.film_transparent = True
    bscene.render.image_settings.color_mode = "RGBA"
    step = 20
    for obj in bscene.objects:
        if obj.type == "MESH":          # red channel = id × step, as an 8-bit sRGB value
            obj.color = (float(srgb_to_linear(obj["instance_id"] * step / 255)), 0.0, 0.0, 1.0)
    bscene.render.filepath = str(tmp_path / "ids.png")
    try:
        bpy.ops.render.render(write_still=True)
    except RuntimeError as exc:        # no OpenGL/EGL on this machine
        pytest.skip(f"Blender cannot render here: {exc}")
    rgba = np.asarray(Image.open(tmp_path / "ids.png"))
    assert rgba.shape[:2] == capture.seg.shape
    ids = np.where(rgba[..., 3] > 0, np.round(rgba[..., 0] / step), 0).astype(int)
    seg = capture.seg
    assert np.mean(ids == seg) > 0.999      # 1.0 here; a pixel of rasterisation slack
    for iid in np.unique(seg[seg > 0]):
        a, b = ids == iid, seg == iid
        assert (a & b).sum() / (a | b).sum() > 0.95, f"instance {iid}"


def test_blender_imports_our_usdz(gt_dir, tmp_path):
    """Interop: Blender's own USD importer reads the .usdz (it turns Y up into Z up itself):
    objects in place, labels as custom properties, textures, and the camera's field of view
    (so the lens is in the units Blender expects)."""
    scene = read_scene(gt_dir)
    glb = glb_nodes(gt_dir)
    path = export_scene(gt_dir, tmp_path / "scene.usdz")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.wm.usd_import(filepath=str(path)) == {"FINISHED"}
    for inst in scene.instances:
        obj = bpy.data.objects[f"{inst.node}_mesh"]
        assert len(obj.data.vertices) == glb[inst.node]["n_vertices"]
        world_yup = _world_vertices(obj) @ R[:3, :3]
        np.testing.assert_allclose([world_yup.min(0), world_yup.max(0)], glb[inst.node]["bounds"], atol=1e-4)
        assert obj["scenewright:label"] == inst.label and obj["scenewright:assetId"] == inst.asset_id
        tex = [n for n in obj.data.materials[0].node_tree.nodes if n.type == "TEX_IMAGE"]
        if hasattr(inst.mesh.visual, "material"):
            assert tex and tex[0].image.size[0] > 0
    cam = next(o for o in bpy.data.objects if o.type == "CAMERA")
    hfov = 2 * np.arctan(scene.camera.width / 2 / scene.camera.K[0, 0])
    assert cam.data.angle_x == pytest.approx(hfov, abs=1e-5)


def test_tinted_texture_is_multiplied_by_its_factor(exported, graph_dir):
    inst = tinted_instance(read_scene(graph_dir))
    factor = np.asarray(inst.mesh.visual.material.baseColorFactor, float) / 255
    _open(exported["graph"])
    mat = bpy.data.objects[inst.node].data.materials[0]
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    mix = bsdf.inputs["Base Color"].links[0].from_node
    assert mix.type == "MIX" and mix.blend_type == "MULTIPLY" and mix.data_type == "RGBA"
    assert mix.inputs[6].links[0].from_node.type == "TEX_IMAGE"
    np.testing.assert_allclose(list(mix.inputs[7].default_value)[:3], srgb_to_linear(factor[:3]), atol=1e-6)


def test_packed_images_unpack_beside_the_blend(gt_dir, tmp_path):
    path = export_scene(gt_dir, tmp_path / "scene.blend")
    _open(path)
    n_images = len(bpy.data.images)
    assert n_images >= 2 and bpy.ops.file.unpack_all(method="WRITE_ORIGINAL") == {"FINISHED"}
    written = sorted(p.name for p in (tmp_path / "textures").iterdir())
    assert written == sorted(f"{img.name}.png" for img in bpy.data.images)


def test_degenerate_triangles_are_left_out(tmp_path):
    """A triangle using one vertex twice (legal in glTF, invalid in Blender) is dropped; every
    vertex stays, and Blender finds nothing to fix in the mesh."""
    import trimesh
    from scenewright.scene import Instance, Scene, write_scene
    mesh = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]],
                           [[0, 1, 2], [1, 1, 3], [2, 1, 3], [0, 2, 4]], process=False)
    write_scene(Scene(instances=[Instance(id=1, mesh=mesh, label="sheet")]), tmp_path / "scene")
    _open(export_scene(tmp_path / "scene", tmp_path / "sheet.blend"))
    me = bpy.data.objects["inst_1"].data
    assert (len(me.vertices), len(me.polygons)) == (5, 3)
    assert me.validate() is False          # False: nothing was invalid


def test_blender_shades_our_usd_boxes_flat(boxes_dir, tmp_path):
    """Interop: a box of the boxes method (no normals of its own) comes into Blender's USD
    importer with each face corner's normal equal to its face's normal — flat faces, not the
    averaged vertex normals that round a box."""
    scene = read_scene(boxes_dir)
    path = export_scene(boxes_dir, tmp_path / "boxes.usdz")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.wm.usd_import(filepath=str(path)) == {"FINISHED"}
    n = 0
    for inst in scene.instances:
        if inst.mesh is None:
            continue
        me = bpy.data.objects[f"{inst.node}_mesh"].data
        assert len(me.vertices) == len(inst.mesh.vertices)
        corner = np.array([tuple(c.vector) for c in me.corner_normals])
        face = np.array([tuple(p.normal) for p in me.polygons])
        loop_face = np.repeat(np.arange(len(me.polygons)), [p.loop_total for p in me.polygons])
        # float32 normals of unit length: equal to a few ulps
        np.testing.assert_allclose(corner, face[loop_face], atol=1e-5)
        n += 1
    assert n >= 3
