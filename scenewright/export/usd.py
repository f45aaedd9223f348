"""Scene → OpenUSD stage (.usda, .usdc, .usd, .usdz) with ``pxr`` (usd-core).

Layout of the stage (Y up, metres per unit 1, default prim ``/Scene``, kind assembly)::

    /Scene
      /Objects/inst_<id>          Xform, kind component; xformOp:transform = world_from_object
        /inst_<id>_mesh           Mesh in the object frame: points, faceVertexCounts/Indices,
                                  normals, primvars:st, primvars:displayColor; material bound
      /Room/floor, wall_<k>, ceiling   Mesh in world coordinates
      /Looks/<name>               Material: UsdPreviewSurface (+ UsdUVTexture for a texture)
      /camera                     Camera from K and world_from_camera

Normals: a mesh's own (from its file) per vertex; computed ones for a mesh without them —
per vertex when it is smooth, per face corner (``faceVarying``) split at the creases when it
has them (a box: each corner gets its face's normal), so USD viewers shade its faces flat as
glTF clients shade the normal-less primitive of ``scene.glb``.

The transform is authored, not baked into the points, so moving an object in any
USD tool moves it as a whole. Per object: ``scenewright:label``, ``:category``,
``:assetId``, ``:score``, ``:size``, ``:instanceId`` attributes, relationships
``scenewright:on``, ``:facing``, ``:againstWall``, ``:sameAssetGroup`` to the related
prims, and ``customData["scenewright"]`` with the asset's attribution. The stage's
``customLayerData["scenewright"]`` holds the attribution of every asset, the relations,
the method and the export settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenewright.encoded_images import original_encoding
from scenewright.export.common import (ExportSettings, Surface, attribution_of, attribution_text, camera_lens,
                                       export_metadata, relations_of, surface_for_export)
from scenewright.export.glb import crease_normals, has_own_vertex_normals, unit_normals
from scenewright.scene import GLTF_FROM_OPENCV, Scene

# USD relationship name per relation type of the scene graph
REL_NAMES = {"on": "scenewright:on", "facing": "scenewright:facing", "against_wall": "scenewright:againstWall",
             "same_asset_group": "scenewright:sameAssetGroup"}
# lens and film back are in tenths of a scene unit (UsdGeomCamera); our scene unit is 1 m
MM_PER_CAMERA_UNIT = 100.0


def _matrix(m: np.ndarray):
    """numpy (4, 4) column-vector transform → Gf.Matrix4d (USD multiplies row vectors: transpose)."""
    from pxr import Gf
    return Gf.Matrix4d(np.asarray(m, float).T.tolist())


def _jsonable_dict(value):
    """Make metadata fit a VtDictionary: None → "", lists of dicts → dicts keyed by index."""
    if isinstance(value, dict):
        return {str(k): _jsonable_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        from pxr import Vt
        items = [_jsonable_dict(v) for v in value]
        if not items:                 # VtDictionary cannot infer the type of an empty list
            return Vt.StringArray()
        if all(isinstance(v, Vt.DoubleArray) for v in items):     # a matrix: row-major, flattened
            return Vt.DoubleArray([float(x) for row in items for x in row])
        if any(isinstance(v, (dict, list)) for v in items):
            return {f"{i:03d}": v for i, v in enumerate(items)}
        # plain Python lists become untyped vectors the crate format cannot store
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            return Vt.DoubleArray([float(v) for v in items])
        return Vt.StringArray([str(v) for v in items])
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def mesh_normals(mesh) -> tuple[np.ndarray, str]:
    """Unit normals for a USD mesh and their interpolation: ``((V, 3) float32, "vertex")`` for a
    mesh with normals of its own or a smooth one, ``((3 F, 3) float32, "faceVarying")`` — one per
    triangle corner, in ``faces`` order — for a mesh with creases and no normals of its own.

    The crease test and the split normals are :func:`scenewright.export.glb.crease_normals`'
    (30°), the one that decides whether ``scene.glb`` carries computed normals: trimesh's
    averaged vertex normals would round a box's edges. The points stay as they are (the
    corners carry the split, not new vertices), so the mesh keeps its vertex count.
    """
    if has_own_vertex_normals(mesh):
        return unit_normals(mesh), "vertex"
    source, corners, normals = crease_normals(mesh)
    if len(source) == len(mesh.vertices):
        return normals, "vertex"
    return np.ascontiguousarray(normals[corners.reshape(-1)]), "faceVarying"


def _define_mesh(stage, path: str, mesh, surface: Surface):
    """A UsdGeom.Mesh at ``path`` holding ``mesh``'s vertices and triangles as they are (no welding)."""
    from pxr import Sdf, UsdGeom, Vt
    prim = UsdGeom.Mesh.Define(stage, path)
    verts = np.ascontiguousarray(mesh.vertices, np.float32)
    faces = np.ascontiguousarray(mesh.faces, np.int32)
    prim.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(verts))
    prim.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
    prim.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces.reshape(-1)))
    # glTF triangles are counter-clockwise = USD rightHanded; they are polygons, not a cage
    prim.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
    prim.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    prim.CreateDoubleSidedAttr(bool(surface.double_sided))
    if len(verts):
        prim.CreateExtentAttr(Vt.Vec3fArray.FromNumpy(np.stack([verts.min(0), verts.max(0)])))
        normals, interpolation = mesh_normals(mesh)
        prim.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(normals))
        prim.SetNormalsInterpolation(interpolation)
    pv = UsdGeom.PrimvarsAPI(prim)
    if surface.uv is not None:
        pv.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex).Set(
            Vt.Vec2fArray.FromNumpy(np.ascontiguousarray(surface.uv, np.float32)))
    if surface.vertex_colors is not None:
        prim.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex).Set(
            Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(surface.vertex_colors[:, :3], np.float32)))
    else:
        prim.CreateDisplayColorPrimvar(UsdGeom.Tokens.constant).Set(
            Vt.Vec3fArray.FromNumpy(surface.base_color[None, :3].astype(np.float32)))
    return prim


def _define_material(stage, path: str, surface: Surface, texture_asset: str | None):
    """A UsdPreviewSurface material; ``texture_asset`` (a relative path) drives the diffuse colour."""
    from pxr import Gf, Sdf, UsdShade
    mat = UsdShade.Material.Define(stage, path)
    shader = UsdShade.Shader.Define(stage, f"{path}/PreviewSurface")
    shader.CreateIdAttr("UsdPreviewSurface")
    base = [float(c) for c in surface.base_color]
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(float(surface.roughness))
    shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(float(surface.metallic))
    mat.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    if texture_asset is None and surface.vertex_colors is not None:
        # colours per vertex (an asset painted with several flat colours): the material reads them
        reader = UsdShade.Shader.Define(stage, f"{path}/colorReader")
        reader.CreateIdAttr("UsdPrimvarReader_float3")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
        reader.CreateInput("fallback", Sdf.ValueTypeNames.Float3).Set(Gf.Vec3f(*base[:3]))
        reader.CreateOutput("result", Sdf.ValueTypeNames.Float3)
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
            reader.ConnectableAPI(), "result")
        return mat
    if texture_asset is None:
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*base[:3]))
        if base[3] < 1.0:
            shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(base[3])
        return mat
    reader = UsdShade.Shader.Define(stage, f"{path}/stReader")
    reader.CreateIdAttr("UsdPrimvarReader_float2")
    reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
    reader.CreateOutput("result", Sdf.ValueTypeNames.Float2)
    tex = UsdShade.Shader.Define(stage, f"{path}/diffuseTexture")
    tex.CreateIdAttr("UsdUVTexture")
    tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(texture_asset))
    tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
    tex.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
    tex.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("repeat")
    tex.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("repeat")
    # glTF multiplies the texture by baseColorFactor; UsdUVTexture's scale does the same
    tex.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(*base))
    tex.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(tex.ConnectableAPI(), "rgb")
    if surface.alpha_blend:
        tex.CreateOutput("a", Sdf.ValueTypeNames.Float)
        shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).ConnectToSource(tex.ConnectableAPI(), "a")
    return mat


class _Textures:
    """Writes each distinct texture image once (PNG, or a library texture's own PNG/JPEG file) into
    ``folder``; returns its relative asset path."""

    def __init__(self, folder: Path | None, relative_to: Path):
        self.folder, self.relative_to, self.written = folder, relative_to, {}

    def asset(self, surface: Surface, name: str) -> str | None:
        if surface.texture is None or self.folder is None:
            return None
        if surface.texture_key not in self.written:
            self.folder.mkdir(parents=True, exist_ok=True)
            encoded = original_encoding(surface.texture)     # a library texture's own file: no re-encoding
            suffix = ".jpg" if encoded is not None and encoded[0] == "image/jpeg" else ".png"
            path = self.folder / f"{name}_{surface.texture_key}{suffix}"
            if encoded is not None:
                path.write_bytes(encoded[1])
            else:
                surface.texture.save(path)
            self.written[surface.texture_key] = "./" + path.relative_to(self.relative_to).as_posix()
        return self.written[surface.texture_key]


def _bind(stage, mesh_prim, surface: Surface, name: str, textures: _Textures) -> None:
    from pxr import UsdShade
    mat = _define_material(stage, f"/Scene/Looks/{name}", surface, textures.asset(surface, name))
    UsdShade.MaterialBindingAPI.Apply(mesh_prim.GetPrim()).Bind(mat)


def _define_camera(stage, scene: Scene, settings: ExportSettings) -> None:
    """UsdGeom.Camera at /Scene/camera whose frustum reproduces K (pixel → ray) and the pose."""
    from pxr import Gf, UsdGeom
    cam = scene.camera
    lens = camera_lens(cam.K, cam.width, cam.height, settings.sensor_width_mm)
    prim = UsdGeom.Camera.Define(stage, "/Scene/camera")
    # USD cameras look down -Z with +Y up, like glTF: flip OpenCV's y and z axes
    prim.AddTransformOp().Set(_matrix(np.asarray(cam.world_from_camera, float) @ GLTF_FROM_OPENCV))
    prim.CreateProjectionAttr(UsdGeom.Tokens.perspective)
    prim.CreateFocalLengthAttr(lens["focal_mm"] / MM_PER_CAMERA_UNIT)
    prim.CreateHorizontalApertureAttr(lens["h_aperture_mm"] / MM_PER_CAMERA_UNIT)
    prim.CreateVerticalApertureAttr(lens["v_aperture_mm"] / MM_PER_CAMERA_UNIT)
    prim.CreateHorizontalApertureOffsetAttr(lens["h_offset_mm"] / MM_PER_CAMERA_UNIT)
    prim.CreateVerticalApertureOffsetAttr(lens["v_offset_mm"] / MM_PER_CAMERA_UNIT)
    prim.CreateClippingRangeAttr(Gf.Vec2f(settings.clip_near_m, settings.clip_far_m))
    prim.GetPrim().SetCustomData({"scenewright": {
        "K": [float(v) for v in np.asarray(cam.K, float).reshape(-1)], "width": int(cam.width),
        "height": int(cam.height), "focal_length_mm": lens["focal_mm"],
        "sensor_width_mm": lens["h_aperture_mm"], "hfov_deg": lens["hfov_deg"], "vfov_deg": lens["vfov_deg"]}})


def write_usd(scene: Scene, path: Path, settings: ExportSettings, texture_dir: Path | None,
              source: str = "", progress=None, file_format: str | None = None) -> dict:
    """Write ``scene`` as a USD layer at ``path``.

    ``file_format``: "usda" or "usdc" for a ``.usd`` path (None: USD's default for the
    extension — crate for .usd).
    Textures go to ``texture_dir`` (one file per distinct image: a library texture's own PNG or JPEG
    bytes, else PNG) and are referenced relative
    to ``path``; ``texture_dir=None`` writes base colours only. ``progress(advance)`` is called
    once per object. Returns counts (objects, room surfaces, textures).
    """
    from pxr import Kind, Sdf, Usd, UsdGeom

    if file_format is not None and path.suffix == ".usd":
        layer = Sdf.Layer.CreateNew(str(path), args={"format": file_format})
        stage = Usd.Stage.Open(layer)
    else:
        stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/Scene")
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root).SetKind(Kind.Tokens.assembly)
    objects = UsdGeom.Scope.Define(stage, "/Scene/Objects")
    Usd.ModelAPI(objects).SetKind(Kind.Tokens.group)
    UsdGeom.Scope.Define(stage, "/Scene/Looks")
    textures = _Textures(texture_dir if settings.textures else None, path.parent)

    meta = export_metadata(scene, settings, source)
    meta["attribution_text"] = attribution_text(scene)
    meta["attribution"] = {a["asset_id"]: a for a in meta["attribution"]}
    stage.GetRootLayer().customLayerData = {"scenewright": _jsonable_dict(meta)}

    credits = attribution_of(scene)
    relations = relations_of(scene)
    # relationship targets must exist: walls only when the room is written, objects only with a mesh
    targetable = (set(scene.room) if settings.room else set()) | {
        i.node for i in scene.instances if i.mesh is not None}
    n_objects = 0
    for inst in scene.instances:
        if inst.mesh is None:
            if progress:
                progress(1)
            continue
        xf = UsdGeom.Xform.Define(stage, f"/Scene/Objects/{inst.node}")
        xf.AddTransformOp().Set(_matrix(inst.world_from_object))
        prim = xf.GetPrim()
        Usd.ModelAPI(prim).SetKind(Kind.Tokens.component)
        surface = surface_for_export(inst.mesh, settings)
        mesh = _define_mesh(stage, f"/Scene/Objects/{inst.node}/{inst.node}_mesh", inst.mesh, surface)
        _bind(stage, mesh, surface, f"{inst.node}_mat", textures)
        _set_object_data(prim, inst, credits.get(inst.asset_id), relations[inst.id], targetable)
        n_objects += 1
        if progress:
            progress(1)
    if settings.room and scene.room:
        UsdGeom.Scope.Define(stage, "/Scene/Room")
        for name, mesh_tm in scene.room.items():
            surface = surface_for_export(mesh_tm, settings)
            mesh = _define_mesh(stage, f"/Scene/Room/{name}", mesh_tm, surface)
            _bind(stage, mesh, surface, f"{name}_mat", textures)
    if settings.camera and scene.camera is not None and scene.camera.world_from_camera is not None:
        _define_camera(stage, scene, settings)
    stage.GetRootLayer().Save()
    return {"objects": n_objects, "room": len(scene.room) if settings.room else 0,
            "textures": len(textures.written)}


def _set_object_data(prim, inst, credit: dict | None, relations: list[dict], targetable: set) -> None:
    """Label, category, asset id, score, size as attributes; relations as relationships (to the
    ``targetable`` node names; all of them stay in customData as text); attribution."""
    from pxr import Gf, Sdf
    str_attr = Sdf.ValueTypeNames.String
    prim.CreateAttribute("scenewright:instanceId", Sdf.ValueTypeNames.Int, custom=True).Set(int(inst.id))
    for name, value in (("label", inst.label), ("category", inst.category), ("assetId", inst.asset_id)):
        if value is not None:
            prim.CreateAttribute(f"scenewright:{name}", str_attr, custom=True).Set(str(value))
    if inst.score is not None:
        prim.CreateAttribute("scenewright:score", Sdf.ValueTypeNames.Double, custom=True).Set(float(inst.score))
    if inst.size is not None:
        prim.CreateAttribute("scenewright:size", Sdf.ValueTypeNames.Double3, custom=True).Set(
            Gf.Vec3d(*[float(s) for s in inst.size]))
    targets: dict[str, list] = {}
    for rel in relations:
        names = rel["target"] if isinstance(rel["target"], list) else [rel["target"]]
        for n in names:
            if n in targetable:
                parent = "/Scene/Room" if n.startswith("wall_") else "/Scene/Objects"
                targets.setdefault(rel["type"], []).append(Sdf.Path(f"{parent}/{n}"))
    for rtype, paths in targets.items():
        prim.CreateRelationship(REL_NAMES.get(rtype, f"scenewright:{rtype}"), custom=True).SetTargets(paths)
    data = {"instance_id": int(inst.id),
            "relations": [f"{r['type']} {' '.join(r['target']) if isinstance(r['target'], list) else r['target']}"
                          for r in relations]}
    if credit is not None:
        data["attribution"] = credit
    if inst.extra:                    # whatever else the method recorded (pixels, status, ...)
        data["extra"] = inst.extra
    prim.SetCustomData({"scenewright": _jsonable_dict(data)})


def package_usdz(usdc: Path, usdz: Path) -> None:
    """Pack ``usdc`` and the textures it references into ``usdz`` (UsdUtils)."""
    import errno
    import zipfile

    from pxr import Sdf, UsdUtils
    if not UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(usdc)), str(usdz)):
        raise RuntimeError(f"{usdz}: UsdUtils.CreateNewUsdzPackage failed")
    # UsdUtils reports success even when a write failed (a full disk leaves a truncated
    # package): read the package back, every member's CRC included.
    try:
        with zipfile.ZipFile(usdz) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError) as exc:
        bad = f"({exc})"
    if bad is not None:
        from scenewright.fileio import disk_nearly_full
        if disk_nearly_full(usdz.parent):
            raise OSError(errno.ENOSPC, "No space left on device", str(usdz))
        raise RuntimeError(f"{usdz}: UsdUtils.CreateNewUsdzPackage wrote a damaged package ({bad})")
