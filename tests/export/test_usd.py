"""USD export, reopened with pxr: transforms, geometry, materials, textures, camera, metadata."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image

from scenewright.export import ExportSettings, export_scene
from scenewright.export.common import srgb_to_linear
from scenewright.scene import read_scene

from scenewright.export.glb import has_own_vertex_normals

from .conftest import glb_nodes, project, tinted_instance

pxr = pytest.importorskip("pxr")
from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade  # noqa: E402


@pytest.fixture(scope="module")
def exported(gt_dir, graph_dir, boxes_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("usd")
    return {"usda": export_scene(gt_dir, out / "gt.usda"), "usdc": export_scene(gt_dir, out / "gt_crate.usdc"),
            "usdz": export_scene(gt_dir, out / "gt.usdz"), "graph": export_scene(graph_dir, out / "graph.usda"),
            "boxes": export_scene(boxes_dir, out / "boxes.usd"),
            "boxes_usdz": export_scene(boxes_dir, out / "boxes.usdz"),
            "bare": export_scene(gt_dir, out / "bare.usda", settings=ExportSettings(room=False, camera=False))}


def _world_points(stage, prim_path: str) -> np.ndarray:
    mesh = UsdGeom.Mesh(stage.GetPrimAtPath(prim_path))
    pts = np.asarray(mesh.GetPointsAttr().Get(), float)
    M = np.asarray(mesh.ComputeLocalToWorldTransform(Usd.TimeCode.Default()), float).T
    return pts @ M[:3, :3].T + M[:3, 3]


def test_stage_metadata(exported):
    stage = Usd.Stage.Open(str(exported["usda"]))
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetDefaultPrim().GetPath() == Sdf.Path("/Scene")


@pytest.mark.parametrize("kind", ["usda", "usdc", "usdz", "graph"])
def test_objects_keep_transform_vertices_and_world_bounds(exported, gt_dir, graph_dir, kind):
    scene_dir = graph_dir if kind == "graph" else gt_dir      # graph: one object scaled non-uniformly
    scene = read_scene(scene_dir)
    glb = glb_nodes(scene_dir)
    stage = Usd.Stage.Open(str(exported[kind]))
    objects = stage.GetPrimAtPath("/Scene/Objects")
    assert sorted(p.GetName() for p in objects.GetChildren()) == sorted(i.node for i in scene.instances)
    for inst in scene.instances:
        xf = UsdGeom.Xformable(stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}"))
        local = np.asarray(xf.GetLocalTransformation(Usd.TimeCode.Default()), float).T
        np.testing.assert_allclose(local, inst.world_from_object, atol=1e-6)
        mesh = UsdGeom.Mesh(stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}/{inst.node}_mesh"))
        pts = np.asarray(mesh.GetPointsAttr().Get(), float)
        # the transform is kept, not baked: the points are the object-frame vertices
        assert len(pts) == glb[inst.node]["n_vertices"]
        np.testing.assert_allclose(pts, inst.mesh.vertices, atol=1e-6)
        normals = np.asarray(mesh.GetNormalsAttr().Get(), float)
        if has_own_vertex_normals(inst.mesh):          # the asset's own normals, kept per vertex
            np.testing.assert_allclose(normals, inst.mesh.vertex_normals, atol=1e-6)
            assert mesh.GetNormalsInterpolation() == UsdGeom.Tokens.vertex
        else:
            # scene.glb leaves normals out only for a creased mesh (a smooth one gets them and
            # reads back with them): here one normal per corner, within the 30° crease angle
            # of its triangle's normal — never the rounded average across an edge
            assert mesh.GetNormalsInterpolation() == UsdGeom.Tokens.faceVarying
            assert len(normals) == 3 * len(inst.mesh.faces)
            ok = inst.mesh.area_faces > 1e-12
            dots = np.einsum("ij,ij->i", normals.reshape(-1, 3, 3)[ok].reshape(-1, 3),
                             np.repeat(_unit_face_normals(pts, inst.mesh.faces)[ok], 3, axis=0))
            assert (dots > np.cos(np.radians(30)) - 1e-5).all()
        assert mesh.GetDoubleSidedAttr().Get() is True        # as scenewright's renderer draws them
        counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get())
        assert len(counts) == len(inst.mesh.faces) and (counts == 3).all()
        world = _world_points(stage, f"/Scene/Objects/{inst.node}/{inst.node}_mesh")
        np.testing.assert_allclose([world.min(0), world.max(0)], glb[inst.node]["bounds"], atol=1e-4)
        # the authored extent is the object-frame box, what viewers cull and frame with
        bound = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(mesh.GetPrim())
        box = bound.GetRange()
        np.testing.assert_allclose([list(box.GetMin()), list(box.GetMax())], inst.mesh.bounds, atol=1e-6)
        np.testing.assert_allclose(np.asarray(bound.GetMatrix(), float).T, inst.world_from_object, atol=1e-6)
    for name in scene.room:
        world = _world_points(stage, f"/Scene/Room/{name}")
        np.testing.assert_allclose([world.min(0), world.max(0)], glb[name]["bounds"], atol=1e-4)


def _texture_file(mesh_prim):
    """(material, UsdUVTexture file attribute or None) bound to a mesh prim (None also when the
    diffuse colour comes from the displayColor primvar: an asset painted with flat colours)."""
    mat, _ = UsdShade.MaterialBindingAPI(mesh_prim).ComputeBoundMaterial()
    assert mat, f"{mesh_prim.GetPath()}: no material bound"
    surface = mat.ComputeSurfaceSource()[0]
    assert surface.GetIdAttr().Get() == "UsdPreviewSurface"
    diffuse = surface.GetInput("diffuseColor")
    if not diffuse.HasConnectedSource():
        return mat, None
    tex = diffuse.GetConnectedSource()[0]
    shader = UsdShade.Shader(tex.GetPrim())
    if shader.GetIdAttr().Get() == "UsdPrimvarReader_float3":
        assert shader.GetInput("varname").Get() == "displayColor"
        return mat, None
    assert shader.GetIdAttr().Get() == "UsdUVTexture"
    return mat, shader.GetInput("file").GetAttr()


@pytest.mark.parametrize("kind", ["usda", "usdz"])
def test_materials_bound_and_textures_resolve(exported, gt_dir, kind):
    scene = read_scene(gt_dir)
    stage = Usd.Stage.Open(str(exported[kind]))
    textured = 0
    for inst in scene.instances:
        prim = stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}/{inst.node}_mesh")
        _, file_attr = _texture_file(prim)
        source = getattr(getattr(inst.mesh.visual, "material", None), "baseColorTexture", None)
        if source is None:
            assert file_attr is None
            continue
        assert file_attr is not None, f"{inst.node}: texture lost"
        resolved = file_attr.Get().resolvedPath
        assert resolved, f"{inst.node}: texture {file_attr.Get().path} does not resolve"
        if kind == "usdz":
            assert resolved.startswith(str(exported["usdz"])) and "[" in resolved   # inside the package
        else:
            with Image.open(resolved) as img:
                assert img.size == source.size
                np.testing.assert_array_equal(np.asarray(img.convert("RGB")), np.asarray(source.convert("RGB")))
        st = UsdGeom.PrimvarsAPI(prim).GetPrimvar("st")
        np.testing.assert_allclose(np.asarray(st.Get(), float), inst.mesh.visual.uv, atol=1e-6)
        textured += 1
    assert textured >= 1     # a photo-like texture; the palette atlases became flat colours
    floor = stage.GetPrimAtPath("/Scene/Room/floor")
    assert _texture_file(floor)[0]


def test_usdz_is_a_package_holding_its_textures(exported):
    with zipfile.ZipFile(exported["usdz"]) as z:
        names = z.namelist()
    assert names[0].endswith(".usdc")
    assert sum(n.endswith(".png") for n in names) >= 2
    stage = Usd.Stage.Open(str(exported["usdz"]))
    assert len(stage.GetPrimAtPath("/Scene/Objects").GetChildren()) >= 3


@pytest.mark.parametrize("which", ["usda", "graph"])
def test_camera_reproduces_K(exported, gt_dir, graph_dir, which):
    scene = read_scene(gt_dir if which == "usda" else graph_dir)
    cam = scene.camera
    stage = Usd.Stage.Open(str(exported[which]))
    gf = UsdGeom.Camera(stage.GetPrimAtPath("/Scene/camera")).GetCamera(Usd.TimeCode.Default())
    hfov = np.degrees(2 * np.arctan(cam.width / 2 / cam.K[0, 0]))
    vfov = np.degrees(2 * np.arctan(cam.height / 2 / cam.K[1, 1]))
    assert gf.GetFieldOfView(Gf.Camera.FOVHorizontal) == pytest.approx(hfov, abs=1e-3)
    assert gf.GetFieldOfView(Gf.Camera.FOVVertical) == pytest.approx(vfov, abs=1e-3)
    # every object vertex lands on the same pixel through the USD frustum as through K
    frustum = gf.frustum
    view_proj = np.asarray(frustum.ComputeViewMatrix(), float) @ np.asarray(frustum.ComputeProjectionMatrix(), float)
    pts = np.concatenate([i.world_mesh().vertices[::50] for i in scene.instances])
    clip = np.c_[pts, np.ones(len(pts))] @ view_proj          # USD: row vectors
    ndc = clip[:, :2] / clip[:, 3:]
    uv_usd = np.c_[(ndc[:, 0] + 1) / 2 * cam.width, (1 - ndc[:, 1]) / 2 * cam.height]
    np.testing.assert_allclose(uv_usd, project(cam.K, cam.world_from_camera, pts), atol=1e-2)


def test_labels_attribution_and_relations(exported, graph_dir):
    scene = read_scene(graph_dir)
    stage = Usd.Stage.Open(str(exported["graph"]))
    layer_data = stage.GetRootLayer().customLayerData["scenewright"]
    credits = layer_data["attribution"]
    assert scene.attribution and {a["asset_id"] for a in scene.attribution} == set(credits)
    for a in scene.attribution:
        assert credits[a["asset_id"]]["creator"] == a["creator"]
        assert credits[a["asset_id"]]["license"] == a["license"]
        assert a["license"] in layer_data["attribution_text"]
    assert any("Creative Commons" in c["license"] for c in credits.values())
    for inst in scene.instances:
        prim = stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}")
        assert prim.GetAttribute("scenewright:label").Get() == inst.label
        assert prim.GetAttribute("scenewright:category").Get() == inst.category
        assert prim.GetAttribute("scenewright:assetId").Get() == inst.asset_id
        assert prim.GetAttribute("scenewright:instanceId").Get() == inst.id
        np.testing.assert_allclose(list(prim.GetAttribute("scenewright:size").Get()), inst.size, atol=1e-9)
        assert prim.GetCustomData()["scenewright"]["extra"]["pixels"] == inst.extra["pixels"]
        credit = prim.GetCustomData()["scenewright"]["attribution"]
        assert credit["asset_id"] == inst.asset_id and credit["creator"]
    a, b, c = (scene.instances[k].node for k in range(3))

    def targets(node, rel):
        return [str(p) for p in stage.GetPrimAtPath(f"/Scene/Objects/{node}").GetRelationship(rel).GetTargets()]
    assert targets(b, "scenewright:on") == [f"/Scene/Objects/{a}"]
    assert targets(a, "scenewright:againstWall") == ["/Scene/Room/wall_1"]
    assert targets(c, "scenewright:facing") == [f"/Scene/Objects/{a}"]
    assert targets(b, "scenewright:sameAssetGroup") == [f"/Scene/Objects/{c}"]
    assert targets(c, "scenewright:sameAssetGroup") == [f"/Scene/Objects/{b}"]
    # every target exists
    for prim in stage.Traverse():
        for rel in prim.GetRelationships():
            for t in rel.GetTargets():
                assert stage.GetPrimAtPath(t), f"{rel.GetPath()} → missing {t}"
    assert len(layer_data["relations"]) == len(scene.relations)


def test_generated_boxes_export_colours_and_say_no_assets(exported, boxes_dir):
    scene = read_scene(boxes_dir)
    stage = Usd.Stage.Open(str(exported["boxes"]))
    assert exported["boxes"].read_bytes()[:8] == b"PXR-USDC"      # .usd is written as crate
    n = 0
    for inst in scene.instances:
        if inst.mesh is None:
            assert not stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}")
            continue
        prim = stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}/{inst.node}_mesh")
        colour = np.asarray(UsdGeom.Mesh(prim).GetDisplayColorPrimvar().Get(), float)
        # scenewright colours are display (sRGB) values; USD's are linear
        expected = srgb_to_linear(inst.mesh.visual.vertex_colors[0, :3] / 255.0)
        np.testing.assert_allclose(colour[0], expected, atol=1e-6)
        mat, file_attr = _texture_file(prim)
        assert file_attr is None
        n += 1
    assert n >= 3
    assert "no library assets" in stage.GetRootLayer().customLayerData["scenewright"]["attribution_text"]


def test_no_room_no_camera(exported):
    stage = Usd.Stage.Open(str(exported["bare"]))
    assert not stage.GetPrimAtPath("/Scene/Room") and not stage.GetPrimAtPath("/Scene/camera")
    assert stage.GetPrimAtPath("/Scene/Objects").GetChildren()
    # an against_wall target would dangle without the room: no relationship at all then
    for prim in stage.Traverse():
        for rel in prim.GetRelationships():
            for t in rel.GetTargets():
                assert stage.GetPrimAtPath(t)


@pytest.mark.parametrize("kind", ["usda", "usdz", "graph", "boxes", "boxes_usdz"])
def test_stage_passes_usd_validators(exported, kind):
    """Every validator usd-core ships (composition, stage metadata, material bindings, shader
    compliance, usdz packaging, missing references, ...) finds nothing."""
    from pxr import UsdValidation
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    assert len(validators) > 10
    errors = UsdValidation.ValidationContext(validators).Validate(Usd.Stage.Open(str(exported[kind])))
    assert [f"{e.GetName()}: {e.GetMessage()}" for e in errors] == []


def test_usd_stage_renders_the_capture_segmentation(exported, bench):
    """Meshes, transforms and camera read back from the USD file only (K from focal length,
    apertures and offsets; pose from the camera prim), rendered by scenewright's renderer:
    the instance ids reproduce the capture's seg.png, which was rendered from the scene folder."""
    from scenewright.capture import load_capture
    from scenewright.render import Renderer, RenderItem
    import trimesh
    capture = load_capture(bench / "scene_0000" / "capture")
    stage = Usd.Stage.Open(str(exported["usdz"]))
    t = Usd.TimeCode.Default()
    items = []
    for prim in stage.GetPrimAtPath("/Scene/Objects").GetChildren():
        mesh = UsdGeom.Mesh(prim.GetChild(f"{prim.GetName()}_mesh"))
        faces = np.asarray(mesh.GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
        tm = trimesh.Trimesh(np.asarray(mesh.GetPointsAttr().Get(), float), faces, process=False)
        world = np.asarray(mesh.ComputeLocalToWorldTransform(t), float).T
        items.append(RenderItem(tm, world, prim.GetAttribute("scenewright:instanceId").Get()))
    cam = UsdGeom.Camera(stage.GetPrimAtPath("/Scene/camera"))
    W, H = capture.width, capture.height
    f = cam.GetFocalLengthAttr().Get()
    ha, va = cam.GetHorizontalApertureAttr().Get(), cam.GetVerticalApertureAttr().Get()
    ho, vo = cam.GetHorizontalApertureOffsetAttr().Get(), cam.GetVerticalApertureOffsetAttr().Get()
    fx, fy = f * W / ha, f * H / va
    K = np.array([[fx, 0, W / 2 - ho * fx / f], [0, fy, H / 2 + vo * fy / f], [0, 0, 1]])
    world_from_camera = np.asarray(cam.ComputeLocalToWorldTransform(t), float).T @ np.diag([1.0, -1, -1, 1])
    ids = Renderer(W, H).render(items, K, world_from_camera).instance_ids
    seg = capture.seg
    assert np.mean(ids == seg) > 0.999      # 1.0 here; a pixel of rasterisation slack
    for iid in np.unique(seg[seg > 0]):
        a, b = ids == iid, seg == iid
        assert (a & b).sum() / (a | b).sum() > 0.95, f"instance {iid}"


def test_tinted_texture_keeps_its_factor(exported, graph_dir):
    """glTF multiplies the base colour texture by baseColorFactor; UsdUVTexture's scale does."""
    inst = tinted_instance(read_scene(graph_dir))
    factor = np.asarray(inst.mesh.visual.material.baseColorFactor, float) / 255
    assert not np.allclose(factor[:3], 1)
    stage = Usd.Stage.Open(str(exported["graph"]))
    _, file_attr = _texture_file(stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}/{inst.node}_mesh"))
    tex = UsdShade.Shader(file_attr.GetPrim())
    np.testing.assert_allclose(list(tex.GetInput("scale").Get())[:3], srgb_to_linear(factor[:3]), atol=1e-6)


def _unit_face_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) unit normal of each triangle (counter-clockwise = front)."""
    tri = np.asarray(points, float)[np.asarray(faces).reshape(-1, 3)]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def _corner_face_normals(mesh) -> np.ndarray:
    """(3 F, 3) the unit normal of each triangle of a UsdGeom.Mesh, once per corner."""
    faces = np.asarray(mesh.GetFaceVertexIndicesAttr().Get())
    return np.repeat(_unit_face_normals(mesh.GetPointsAttr().Get(), faces), 3, axis=0)


@pytest.mark.parametrize("kind", ["boxes", "boxes_usdz"])
def test_boxes_have_face_normals_at_their_corners(exported, boxes_dir, kind):
    """The boxes method's boxes have no normals of their own: each corner gets its face's normal
    (faceVarying), not the averaged vertex normal that would round the box in a viewer."""
    scene = read_scene(boxes_dir)
    stage = Usd.Stage.Open(str(exported[kind]))
    n = 0
    for inst in scene.instances:
        if inst.mesh is None:
            continue
        assert not has_own_vertex_normals(inst.mesh)
        mesh = UsdGeom.Mesh(stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}/{inst.node}_mesh"))
        assert len(mesh.GetPointsAttr().Get()) == len(inst.mesh.vertices)       # no vertex split
        assert mesh.GetNormalsInterpolation() == UsdGeom.Tokens.faceVarying
        normals = np.asarray(mesh.GetNormalsAttr().Get(), float)
        assert len(normals) == len(mesh.GetFaceVertexIndicesAttr().Get())
        # float32 points of a box of ~1 m: the recomputed face normal is good to ~1e-6
        np.testing.assert_allclose(normals, _corner_face_normals(mesh), atol=1e-5)
        # a box's corner normals are its 6 axis directions in the object frame (axis-aligned box)
        assert len(np.unique(np.round(normals, 5), axis=0)) == 6
        n += 1
    assert n >= 3


def test_smooth_mesh_keeps_vertex_normals_and_creased_one_splits(gt_dir, tmp_path):
    """A sphere without normals of its own gets smooth per-vertex normals; a cylinder (smooth
    side, flat caps) gets faceVarying normals: smooth around the side, flat on the caps."""
    import trimesh
    scene = read_scene(gt_dir)
    sphere_inst, cylinder_inst = scene.instances[0], scene.instances[1]
    sphere_inst.mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    cylinder_inst.mesh = trimesh.creation.cylinder(radius=0.3, height=0.8, sections=48)
    assert not has_own_vertex_normals(sphere_inst.mesh) and not has_own_vertex_normals(cylinder_inst.mesh)
    out = export_scene(gt_dir, tmp_path / "shapes.usdz", scene=scene)
    stage = Usd.Stage.Open(str(out))

    def usd_mesh(inst):
        return UsdGeom.Mesh(stage.GetPrimAtPath(f"/Scene/Objects/{inst.node}/{inst.node}_mesh"))

    sphere = usd_mesh(sphere_inst)
    assert sphere.GetNormalsInterpolation() == UsdGeom.Tokens.vertex
    pts = np.asarray(sphere.GetPointsAttr().Get(), float)
    normals = np.asarray(sphere.GetNormalsAttr().Get(), float)
    assert normals.shape == pts.shape
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-6)
    # smooth: each normal is within one face-to-face angle of the radial direction
    radial = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    max_bend = sphere_inst.mesh.face_adjacency_angles.max()
    assert (np.einsum("ij,ij->i", normals, radial) > np.cos(max_bend)).all()
    # and not flat: corners of one triangle have different normals
    assert not np.allclose(normals[sphere_inst.mesh.faces[:, 0]], normals[sphere_inst.mesh.faces[:, 1]])

    cylinder = usd_mesh(cylinder_inst)
    assert cylinder.GetNormalsInterpolation() == UsdGeom.Tokens.faceVarying
    normals = np.asarray(cylinder.GetNormalsAttr().Get(), float)
    face_n = _corner_face_normals(cylinder)
    cap = np.abs(face_n[:, 2]) > 1 - 1e-6                       # trimesh's cylinder runs along z
    np.testing.assert_allclose(normals[cap], face_n[cap], atol=1e-5)
    # the side's corner normals are horizontal and radial (smooth), not the facet's normal
    side_pts = np.asarray(cylinder.GetPointsAttr().Get(), float)[
        np.asarray(cylinder.GetFaceVertexIndicesAttr().Get())][~cap]
    radial = side_pts[:, :2] / np.linalg.norm(side_pts[:, :2], axis=1, keepdims=True)
    np.testing.assert_allclose(normals[~cap, 2], 0, atol=1e-6)
    assert (np.einsum("ij,ij->i", normals[~cap, :2], radial) > np.cos(np.pi / 48) - 1e-6).all()
    assert not np.allclose(normals[~cap], face_n[~cap], atol=1e-3)
    from pxr import UsdValidation
    errors = UsdValidation.ValidationContext(
        UsdValidation.ValidationRegistry().GetOrLoadAllValidators()).Validate(stage)
    assert [f"{e.GetName()}: {e.GetMessage()}" for e in errors] == []
