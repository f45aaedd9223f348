"""Scene → Blender .blend file, written by Blender itself (``bpy`` 5.0, Blender as a Python module).

Blender's world is Z up; scenes are Y up (glTF). Like Blender's own glTF importer we
turn the Y-up frame into the Z-up one with the rotation ``BLENDER_FROM_GLTF``
(x → x, y → z, z → −y: +90° about X), applied to both frames a transform maps between:

* mesh data (object frame): ``v_blender = R v`` — an object's local Z is its up, its
  front (glTF +Z) faces Blender's −Y, exactly what Blender's glTF importer gives;
* ``matrix_world = R4 @ world_from_object @ R4ᵀ``, so that
  ``matrix_world @ v_blender = R4 @ world_from_object @ v``: the same world point, Z up;
* room surfaces (stored in world coordinates): ``R v`` with an identity transform;
* camera: ``matrix_world = R4 @ world_from_camera @ diag(1, −1, −1, 1)`` (Blender cameras
  look down −Z with +Y up, like glTF); focal length, sensor, resolution, pixel aspect
  and lens shift reproduce K.

The file holds collections "Objects", "Room" and "Lights" (a rig that renders like the
preview: :func:`light_rig`), one object per instance named by its
node (``inst_<id>``), materials (Principled BSDF base colour, image textures packed into
the file), custom properties (label, category, asset_id, score, size, instance_id,
relations, attribution) and the attribution as a Text datablock "ATTRIBUTION" and as
the scene's custom property ``scenewright``.

``bpy`` holds global state; every call starts from empty factory settings, so calling
it twice in one process writes two independent files.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from scenewright.export.common import (ExportSettings, Surface, attribution_of, attribution_text, camera_lens,
                                       export_metadata, relations_of, surface_for_export)
from scenewright.scene import GLTF_FROM_OPENCV, Scene

# Y-up (glTF) → Z-up (Blender): +90° about X
BLENDER_FROM_GLTF = np.array([[1.0, 0.0, 0.0, 0.0],
                              [0.0, 0.0, -1.0, 0.0],
                              [0.0, 1.0, 0.0, 0.0],
                              [0.0, 0.0, 0.0, 1.0]])


def blender_matrix_world(world_from_object: np.ndarray) -> np.ndarray:
    """(4, 4) Blender ``matrix_world`` of an object whose mesh data was rotated by BLENDER_FROM_GLTF."""
    return BLENDER_FROM_GLTF @ np.asarray(world_from_object, float) @ BLENDER_FROM_GLTF.T


def blender_camera_matrix(world_from_camera: np.ndarray) -> np.ndarray:
    """(4, 4) Blender ``matrix_world`` of the camera from an OpenCV world_from_camera (Y-up world)."""
    return BLENDER_FROM_GLTF @ np.asarray(world_from_camera, float) @ GLTF_FROM_OPENCV


def _mesh_data(bpy, name: str, mesh, surface: Surface):
    """A bpy Mesh with ``mesh``'s vertices (turned Z up), triangles, normals, UVs, colours; no welding."""
    rot = BLENDER_FROM_GLTF[:3, :3]
    verts = np.asarray(mesh.vertices, np.float64) @ rot.T
    faces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    # a triangle using one vertex twice is invalid in Blender (zero-length edge): leave it out
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    me.update(calc_edges=True)
    if surface.uv is not None and len(faces):
        layer = me.uv_layers.new(name="UVMap")
        layer.uv.foreach_set("vector", np.asarray(surface.uv, np.float32)[faces.ravel()].ravel())
    if surface.vertex_colors is not None:
        attr = me.color_attributes.new(name="Color", type="FLOAT_COLOR", domain="POINT")
        attr.data.foreach_set("color", np.asarray(surface.vertex_colors, np.float32).ravel())
    from scenewright.render.meshprep import has_own_vertex_normals
    if len(verts) and has_own_vertex_normals(mesh):
        # the file's vertex normals, as custom normals: shading as in the GLB; a mesh without
        # them is shaded flat (trimesh's averaged normals would round a box's edges)
        normals = np.asarray(mesh.vertex_normals, np.float64) @ rot.T
        me.normals_split_custom_set_from_vertices(np.ascontiguousarray(normals, np.float32))
    elif len(faces):
        me.polygons.foreach_set("use_smooth", np.zeros(len(faces), bool))
    return me


def _image(bpy, surface: Surface, name: str, cache: dict):
    """A bpy Image holding ``surface.texture`` as PNG bytes packed into the .blend (one per distinct image).

    Packed from memory, with ``//textures/<name>.png`` as its path: File → External Data →
    Unpack Resources writes it there, beside the .blend.
    """
    if surface.texture_key in cache:
        return cache[surface.texture_key]
    buf = io.BytesIO()
    surface.texture.save(buf, format="PNG")
    data = buf.getvalue()
    width, height = surface.texture.size
    img = bpy.data.images.new(name, width, height, alpha=surface.texture.mode == "RGBA")
    img.filepath_raw = f"//textures/{name}.png"
    img.file_format = "PNG"
    img.source = "FILE"
    img.pack(data=data, data_len=len(data))
    cache[surface.texture_key] = img
    return img


def _material(bpy, name: str, surface: Surface, images: dict):
    """Principled BSDF material: base colour factor × image texture (or vertex colours)."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:          # Blender < 5 made materials without nodes
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    base = [float(c) for c in surface.base_color]
    bsdf.inputs["Base Color"].default_value = base
    bsdf.inputs["Roughness"].default_value = float(surface.roughness)
    bsdf.inputs["Metallic"].default_value = float(surface.metallic)
    mat.diffuse_color = base                      # the viewport's solid-mode colour
    mat.use_backface_culling = not surface.double_sided
    colour = None
    if surface.texture is not None:
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = _image(bpy, surface, name.removesuffix("_mat") + "_basecolor", images)
        tex.location = (-600, 300)
        colour = tex.outputs["Color"]
        if surface.alpha_blend:
            links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    elif surface.vertex_colors is not None:
        vc = nodes.new("ShaderNodeVertexColor")
        vc.layer_name = "Color"
        vc.location = (-600, 300)
        colour = vc.outputs["Color"]
    if colour is not None:
        if np.allclose(base[:3], 1.0):
            links.new(colour, bsdf.inputs["Base Color"])
        else:                                     # glTF: texture × baseColorFactor
            mix = nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            mix.blend_type = "MULTIPLY"
            mix.inputs["Factor"].default_value = 1.0
            mix.inputs[7].default_value = base    # B of the RGBA inputs
            mix.location = (-300, 300)
            links.new(colour, mix.inputs[6])      # A of the RGBA inputs
            links.new(mix.outputs[2], bsdf.inputs["Base Color"])
    if base[3] < 1.0 and surface.texture is None:
        bsdf.inputs["Alpha"].default_value = base[3]
    return mat


def _camera(bpy, scene: Scene, settings: ExportSettings, bscene):
    from mathutils import Matrix
    cam = scene.camera
    lens = camera_lens(cam.K, cam.width, cam.height, settings.sensor_width_mm)
    data = bpy.data.cameras.new("camera")
    data.type = "PERSP"
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = lens["h_aperture_mm"]
    data.sensor_height = lens["v_aperture_mm"]
    data.lens = lens["focal_mm"]
    # lens shift is in units of the fitted sensor side (the width here)
    data.shift_x = lens["h_offset_mm"] / lens["h_aperture_mm"]
    data.shift_y = lens["v_offset_mm"] / lens["h_aperture_mm"]
    data.clip_start, data.clip_end = settings.clip_near_m, settings.clip_far_m
    obj = bpy.data.objects.new("camera", data)
    obj.matrix_world = Matrix(blender_camera_matrix(cam.world_from_camera).tolist())
    bscene.collection.objects.link(obj)
    bscene.camera = obj
    render = bscene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = int(cam.width), int(cam.height), 100
    fx, fy = float(cam.K[0, 0]), float(cam.K[1, 1])
    # non-square pixels: a pixel is fy/fx times as wide as it is tall
    render.pixel_aspect_x, render.pixel_aspect_y = (fy / fx, 1.0) if fy >= fx else (1.0, fx / fy)
    obj["K"] = [float(v) for v in np.asarray(cam.K, float).reshape(-1)]
    obj["hfov_deg"], obj["vfov_deg"] = lens["hfov_deg"], lens["vfov_deg"]
    return obj


def _world(bpy, bscene, grey: float) -> None:
    """A uniform grey world: the ambient term of the preview's shading.

    A uniform environment of radiance ``grey`` lights a diffuse surface of albedo ``a`` to
    ``a · grey``, the preview's ``ambient · a`` (without it, from empty factory settings,
    Eevee and Cycles render black).
    """
    world = bpy.data.worlds.new("World")
    world.color = (grey, grey, grey)
    if world.node_tree is None:          # Blender < 5 made worlds without nodes
        world.use_nodes = True
    background = next(n for n in world.node_tree.nodes if n.type == "BACKGROUND")
    background.inputs["Color"].default_value = (grey, grey, grey, 1.0)
    background.inputs["Strength"].default_value = 1.0
    bscene.world = world


def _sun(bpy, name: str, collection, matrix_world, weight: float):
    """A shadowless sun lamp shining along its local −Z, lighting a facing diffuse surface by ``weight · a``.

    A sun of strength ``S`` (W/m²) gives a Lambertian surface of albedo ``a`` the radiance
    ``a · S · cos θ / π``; ``S = π · weight`` reproduces the preview's ``weight · a · cos θ``.
    """
    from mathutils import Matrix
    data = bpy.data.lights.new(name, "SUN")
    data.energy = float(np.pi * weight)
    data.use_shadow = False            # the preview's Lambert shading has no shadows
    data.angle = 0.0
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    obj.matrix_world = Matrix(np.asarray(matrix_world, float).tolist())
    return obj


def _look_along(direction: np.ndarray) -> np.ndarray:
    """(4, 4) rotation whose −Z axis points along ``direction`` (Blender's lamp convention)."""
    z = -np.asarray(direction, float) / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    m = np.eye(4)
    m[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    return m


def light_rig(bpy, bscene, camera_obj, world_from_camera: np.ndarray | None, render=None) -> dict:
    """Lights that make Eevee and Cycles look like scenewright's preview (:class:`RenderSettings`).

    The preview shades ``(ambient + headlight · max(n·v, 0) + key · max(n·l, 0)) · albedo``:
    the ambient is the world colour, the headlight a sun shining along the camera's view
    (parented to the camera, so it follows it), the key a sun from ``key_direction`` (camera
    frame, OpenCV axes: above, left, behind the camera); all without shadows. The view
    transform is "Standard" (no filmic tone curve), as the preview shows colours as they
    are. Without a camera pose, the headlight and key shine from above and the front.
    Returns the light objects by name.
    """
    from scenewright.render.renderer import RenderSettings
    render = render or RenderSettings()
    col = bpy.data.collections.new("Lights")
    bscene.collection.children.link(col)
    _world(bpy, bscene, render.ambient)
    if world_from_camera is not None:
        wfc = blender_camera_matrix(world_from_camera)          # Blender camera: looks down its −Z
        view = -wfc[:3, 2]
        key = BLENDER_FROM_GLTF[:3, :3] @ np.asarray(world_from_camera, float)[:3, :3] @ np.asarray(
            render.key_direction, float)                           # towards the key light, world (Z up)
    else:
        wfc, view, key = None, np.array([0.0, 1.0, -1.0]), np.array([-0.35, -0.5, 0.8])
    head_m = wfc if wfc is not None else _look_along(view)
    head = _sun(bpy, "light_headlight", col, head_m, render.headlight)
    if camera_obj is not None:
        head.parent = camera_obj
        head.matrix_parent_inverse = camera_obj.matrix_world.inverted()
    key_obj = _sun(bpy, "light_key", col, _look_along(-key), render.key)
    bscene.view_settings.view_transform = "Standard"
    bscene.view_settings.look = "None"
    return {"light_headlight": head, "light_key": key_obj}


def _idprop(value):
    """JSON-able value → something Blender ID properties hold (None → "")."""
    if isinstance(value, dict):
        return {str(k): _idprop(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_idprop(v) for v in value]
        if any(isinstance(v, (dict, list)) for v in items):
            return {f"{i:03d}": v for i, v in enumerate(items)}
        return items
    return "" if value is None else value


@contextlib.contextmanager
def _blender_quiet():
    """Send what Blender's C code prints to stdout ("Info: Saved ...") to stderr while it runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):     # reports printed through Python
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def write_blend(scene: Scene, path: Path, settings: ExportSettings, source: str = "", progress=None) -> dict:
    """Write ``scene`` as a .blend at ``path`` (Blender starts from an empty factory scene)."""
    import bpy
    from mathutils import Matrix

    with _blender_quiet():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    bscene = bpy.context.scene
    bscene.name = "Scene"
    bscene.unit_settings.system = "METRIC"
    bscene.unit_settings.scale_length = 1.0
    objects_col = bpy.data.collections.new("Objects")
    bscene.collection.children.link(objects_col)
    credits, relations = attribution_of(scene), relations_of(scene)
    images: dict = {}
    n_objects = 0
    for inst in scene.instances:
        if inst.mesh is None:
            if progress:
                progress(1)
            continue
        surface = surface_for_export(inst.mesh, settings)
        me = _mesh_data(bpy, inst.node, inst.mesh, surface)
        me.materials.append(_material(bpy, f"{inst.node}_mat", surface, images))
        obj = bpy.data.objects.new(inst.node, me)
        objects_col.objects.link(obj)
        obj.matrix_world = Matrix(blender_matrix_world(inst.world_from_object).tolist())
        obj["instance_id"] = int(inst.id)
        for key, value in (("label", inst.label), ("category", inst.category), ("asset_id", inst.asset_id)):
            obj[key] = "" if value is None else str(value)
        if inst.score is not None:
            obj["score"] = float(inst.score)
        if inst.size is not None:
            obj["size"] = [float(s) for s in inst.size]
        obj["relations"] = [f"{r['type']} {' '.join(r['target']) if isinstance(r['target'], list) else r['target']}"
                            for r in relations[inst.id]]
        if inst.asset_id in credits:
            obj["attribution"] = credits[inst.asset_id]
        if inst.extra:                # whatever else the method recorded (pixels, status, ...)
            obj["extra"] = _idprop(inst.extra)
        n_objects += 1
        if progress:
            progress(1)
    n_room = 0
    if settings.room and scene.room:
        room_col = bpy.data.collections.new("Room")
        bscene.collection.children.link(room_col)
        for name, mesh in scene.room.items():
            surface = surface_for_export(mesh, settings)
            me = _mesh_data(bpy, name, mesh, surface)
            me.materials.append(_material(bpy, f"{name}_mat", surface, images))
            obj = bpy.data.objects.new(name, me)
            room_col.objects.link(obj)
            n_room += 1
    camera_obj = None
    if settings.camera and scene.camera is not None and scene.camera.world_from_camera is not None:
        camera_obj = _camera(bpy, scene, settings, bscene)
    light_rig(bpy, bscene, camera_obj, None if scene.camera is None else scene.camera.world_from_camera)
    text = bpy.data.texts.new("ATTRIBUTION")
    text.write(attribution_text(scene))
    meta = export_metadata(scene, settings, source)
    bscene["scenewright"] = _idprop({**meta, "attribution": {a["asset_id"]: a for a in meta["attribution"]},
                                     "relations_json": json.dumps(meta["relations"])})
    bscene["attribution"] = attribution_text(scene)
    with _blender_quiet():
        bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False, compress=True)
    _read_back(bpy, path)
    return {"objects": n_objects, "room": n_room, "images": len(images)}


def _read_back(bpy, path: Path) -> None:
    """Open the saved file: Blender reports "Saved" even when a write failed part-way.

    On a full disk it leaves a truncated .blend (missing its DNA block) and no error;
    opening it takes milliseconds and is the only check that sees that.
    """
    try:
        with _blender_quiet():
            bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    except RuntimeError as exc:
        from scenewright.fileio import disk_nearly_full
        if disk_nearly_full(path.parent):
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None
        raise RuntimeError(f"{path}: Blender wrote a file it cannot read back ({exc})") from None
