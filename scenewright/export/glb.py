"""Scene → GLB: the one writer of every GLB scenewright makes (``scene.glb`` and ``export -o x.glb``).

A glTF 2.0 binary written straight from numpy (no trimesh export), so that what goes into
the file is chosen here:

* one node per object, ``inst_<id>``, with ``world_from_object`` as its matrix and the
  object-frame mesh; node ``extras.scenewright``: instance id, label, category, asset id,
  licence, creator, score, size, relations;
* the room (``floor``, ``wall_<k>``, ``ceiling``) as nodes in world coordinates
  (``extras.scenewright.room``: floor, wall or ceiling);
* a ``camera`` node (glTF perspective camera: vertical field of view and aspect of K);
* per primitive POSITION, unit NORMAL (the mesh's own; computed for a smooth mesh without
  them; none for a creased mesh without them — a box —, which glTF clients shade flat),
  TEXCOORD_0 (V flipped: glTF's origin is the image's top left), COLOR_0 where colours
  vary, indices; the mesh's vertices as they are (no welding, no splitting);
* named materials (``<node>_mat``, metallic-roughness): a flat colour is a
  ``baseColorFactor``. A mesh painted with a few flat colours — vertex colours constant
  over each triangle, or a small palette texture (≤ ``PALETTE_MAX_PIXELS`` texels,
  ≤ ``PALETTE_MAX_COLOURS`` colours, as trimesh makes when it merges an asset's plain
  materials into one atlas) — becomes one primitive per colour (``<node>_mat_<k>``);
* ``scenes[0].extras.scenewright``: what the caller passes (format, attribution, ...);
  ``asset.copyright``: the credits of the assets used.

No string in the file is an absolute local path (a path is cut to its last part), and
nothing trimesh keeps for itself (``from_gltf_primitive``, ``units``, ...) is written.
Colours are written as stored (scenewright's renderer shows them as display values).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import PIL.Image
import trimesh

from scenewright.encoded_images import original_encoding
from scenewright.export.common import ExportSettings, Surface, attribution_of, export_metadata, relations_of, surface_of
from scenewright.scene import GLTF_FROM_OPENCV, SCENE_FORMAT, Scene

PALETTE_MAX_PIXELS = 64 * 64
PALETTE_MAX_COLOURS = 16
CREASE_DEG = 30.0

_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def without_local_paths(value):
    """``value`` (JSON-able) with every absolute path string cut to its last part (``/a/b/lib`` → ``lib``)."""
    if isinstance(value, dict):
        return {str(k): without_local_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_local_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith(("/", "~")) or _WINDOWS_PATH.match(value)) and len(value) > 1:
        return Path(value.replace("\\", "/")).name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return without_local_paths(value.tolist())
    return value


def has_own_vertex_normals(mesh) -> bool:
    """True when the mesh carries normals from its file (trimesh caches loaded normals)."""
    from scenewright.render.meshprep import has_own_vertex_normals as own
    return own(mesh) and len(mesh.vertex_normals) == len(mesh.vertices)


def unit_normals(mesh) -> np.ndarray:
    """(V, 3) float32 vertex normals of unit length; a vertex of no triangle with area gets +Y.

    The file's normals when it had them (``include_cache`` copies keep them), else trimesh's
    area-weighted face normals.
    """
    n = np.array(mesh.vertex_normals, np.float64).reshape(-1, 3)
    length = np.linalg.norm(n, axis=1)
    bad = ~np.isfinite(length) | (length < 1e-12)
    n[bad] = (0.0, 1.0, 0.0)
    length[bad] = 1.0
    return (n / length[:, None]).astype(np.float32)


def crease_normals(mesh, crease_deg: float = CREASE_DEG) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normals for a mesh that has none of its own, split at creases: (source vertex (V',),
    triangles (F, 3) into the new vertices, unit normals (V', 3) float32).

    A vertex whose triangles all lie within half ``crease_deg`` of their area-weighted mean
    normal keeps that normal (a smooth surface: no split). At the other vertices each corner's
    normal is the area-weighted mean of the vertex's triangles within ``crease_deg`` of its
    own triangle, one vertex copy per distinct normal: a box keeps flat faces (24 vertices) —
    the flat shading glTF prescribes for normal-less meshes and scenewright's renderer gives
    them — without doubling the vertices of smooth meshes.
    """
    faces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    n_vertices = len(mesh.vertices)
    up = np.float32([0, 1, 0])
    if len(faces) == 0:
        return np.arange(n_vertices), faces, np.tile(up, (n_vertices, 1))
    tri = np.asarray(mesh.vertices, np.float64)[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])          # length = 2 · area

    def unit(v):
        length = np.linalg.norm(v, axis=1, keepdims=True)
        return np.where(length > 1e-20, v / np.maximum(length, 1e-300), up)

    face_unit = unit(cross)
    corner_vertex = faces.reshape(-1)
    corner_face = np.repeat(np.arange(len(faces)), 3)
    smooth = unit(np.stack([np.bincount(corner_vertex, cross[corner_face, k], n_vertices) for k in range(3)], 1))
    corner_dot = np.einsum("ij,ij->i", face_unit[corner_face], smooth[corner_vertex])
    sharp = np.zeros(n_vertices, bool)
    sharp[corner_vertex[corner_dot < np.cos(np.radians(crease_deg / 2))]] = True
    corners = np.flatnonzero(sharp[corner_vertex])                     # the corners at sharp vertices
    new_index = corner_vertex.copy()
    if len(corners) == 0:
        return np.arange(n_vertices), new_index.reshape(-1, 3), smooth.astype(np.float32)
    cv, cf = corner_vertex[corners], corner_face[corners]
    order = np.argsort(cv, kind="stable")
    counts = np.bincount(cv, minlength=n_vertices)
    group_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # every pair (corner, other corner of the same vertex), positions in sorted order
    k = counts[cv[order]]
    first = np.repeat(np.arange(len(order)), k)
    second = np.repeat(group_start[cv[order]], k) + np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    f_a, f_b = cf[order[first]], cf[order[second]]
    keep = np.einsum("ij,ij->i", face_unit[f_a], face_unit[f_b]) >= np.cos(np.radians(crease_deg))
    summed = np.stack([np.bincount(first[keep], cross[f_b[keep], axis], len(order)) for axis in range(3)], 1)
    corner_normal = np.empty((len(corners), 3))
    corner_normal[order] = unit(summed)
    # one vertex per (source vertex, normal): normals equal to ~1e-6 count as one
    key = np.column_stack([cv, np.round(corner_normal * 1e6).astype(np.int64)])
    _, first_corner, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    new_index[corners] = n_vertices + inverse.reshape(-1)
    source = np.concatenate([np.arange(n_vertices), cv[first_corner]])
    normals = np.concatenate([smooth, corner_normal[first_corner]]).astype(np.float32)
    return source, new_index.reshape(-1, 3), normals


def flat_colour_parts(mesh, surface: Surface) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``[(face indices, RGBA factor (4,) in 0..1), ...]`` when the mesh is painted with flat colours.

    One part for a plain material; one per colour when vertex colours are constant over
    every triangle or a small palette texture gives each triangle one colour (sampled at
    the triangle's UV centre, nearest texel, wrapping as glTF's REPEAT); None when the
    colours really vary (a photo texture, smooth vertex colours).
    """
    faces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    if surface.texture is None and surface.vertex_colors is None:
        return [(np.arange(len(faces)), surface.base_color)]
    if surface.texture is not None:
        img = surface.texture
        if img.size[0] * img.size[1] > PALETTE_MAX_PIXELS or surface.uv is None:
            return None
        px = np.asarray(img.convert("RGBA"), np.float64) / 255.0           # (h, w, 4), row 0 = top
        if len(np.unique(px.reshape(-1, 4), axis=0)) > PALETTE_MAX_COLOURS:
            return None
        h, w = px.shape[:2]
        centre = np.asarray(surface.uv, np.float64)[faces].mean(1) if len(faces) else np.zeros((0, 2))
        col = np.floor(np.mod(centre[:, 0], 1.0) * w).astype(int).clip(0, w - 1)
        row = np.floor((1.0 - np.mod(centre[:, 1], 1.0)) * h).astype(int).clip(0, h - 1)   # uv origin: bottom
        face_rgba = px[row, col] * surface.base_color[None, :]
    else:
        vc = np.asarray(surface.vertex_colors, np.float64)[faces]           # (F, 3, 4)
        if np.abs(vc - vc[:, :1]).max(initial=0.0) > 0.5 / 255.0:
            return None
        face_rgba = vc[:, 0]
    keys = np.round(face_rgba * 255.0).astype(np.int64)
    colours, inverse = np.unique(keys, axis=0, return_inverse=True)
    if len(colours) > PALETTE_MAX_COLOURS:
        return None
    inverse = inverse.reshape(-1)
    return [(np.flatnonzero(inverse == k), colours[k] / 255.0) for k in range(len(colours))]


class PrimitiveArrays(NamedTuple):
    """What one glTF primitive stores: per-vertex arrays of the vertices it uses, and its triangles."""

    positions: np.ndarray                 # (n, 3) float32, object frame
    normals: np.ndarray | None            # (n, 3) float32 unit
    uv: np.ndarray | None                 # (n, 2) float32, glTF's origin (top left)
    colours: np.ndarray | None            # (n, 4) uint8 RGBA
    indices: np.ndarray                   # (3F,) uint16, or uint32 from 65535 vertices on
    position_bounds: tuple[list, list] | None   # per-axis min and max of ``positions`` (None: none)


@dataclass(frozen=True)
class PreparedMesh:
    """What a mesh becomes in a GLB, apart from its names: its surface and its primitives
    (``(RGBA factor (4,), arrays)`` each; one per colour when ``flat``, else one textured or
    coloured primitive)."""

    surface: Surface
    flat: bool
    primitives: tuple[tuple[np.ndarray, PrimitiveArrays], ...]


def _primitive_arrays(mesh, source: np.ndarray, normals: np.ndarray | None, faces: np.ndarray,
                      surface: Surface, with_uv: bool, with_colours: bool) -> PrimitiveArrays:
    """The arrays of a primitive of ``faces`` (indices into the vertex set ``source`` → mesh
    vertex, ``normals``), holding only the vertices it uses."""
    used, local = np.unique(faces.reshape(-1), return_inverse=True)
    src = source[used]
    uv = colours = None
    if with_uv:
        uv_src = np.asarray(surface.uv, np.float64)[src]
        uv = np.column_stack([uv_src[:, 0], 1.0 - uv_src[:, 1]]).astype(np.float32)
    if with_colours:
        colours = np.round(np.clip(surface.vertex_colors[src], 0, 1) * 255).astype(np.uint8)
    index_type = np.uint16 if len(used) < 65535 else np.uint32     # 65535 is the restart value
    positions = np.asarray(mesh.vertices, np.float64)[src].astype(np.float32)
    normals = None if normals is None else normals[used]
    indices = local.reshape(-1).astype(index_type)
    for array in (positions, normals, uv, colours, indices):
        if array is not None:
            array.flags.writeable = False      # kept on the mesh and written again: never edited
    return PrimitiveArrays(positions=positions, normals=normals, uv=uv, colours=colours, indices=indices,
                           position_bounds=(positions.min(0).tolist(), positions.max(0).tolist())
                           if len(positions) else None)


def _prepare_mesh(mesh, textures: bool) -> PreparedMesh | None:
    faces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    if len(faces) == 0:
        return None
    surface = surface_of(mesh, textures)
    source = np.arange(len(mesh.vertices))
    if has_own_vertex_normals(mesh):
        normals = unit_normals(mesh)
    else:
        # a smooth surface gets its normals; one with creases (a box) none: glTF clients
        # then shade it flat, as scenewright's renderer does — splitting its vertices
        # would change the mesh the method made (and open a watertight one)
        split_source, _, split_normals = crease_normals(mesh)
        normals = split_normals if len(split_source) == len(mesh.vertices) else None
    parts = flat_colour_parts(mesh, surface)
    if parts is not None:
        prims = tuple((factor, _primitive_arrays(mesh, source, normals, faces[face_idx], surface, False, False))
                      for face_idx, factor in parts)
        return PreparedMesh(surface, True, prims)
    textured = surface.texture is not None
    factor = surface.base_color if textured or surface.vertex_colors is None else np.ones(4)
    arrays = _primitive_arrays(mesh, source, normals, faces, surface, textured and surface.uv is not None,
                               surface.vertex_colors is not None)
    return PreparedMesh(surface, False, ((factor, arrays),))


_PREPARED_ATTRIBUTE = "_scenewright_glb"


def _mesh_state(mesh) -> tuple[tuple, tuple] | None:
    """(objects, values) that :func:`_prepare_mesh` reads from ``mesh``: the objects compared by
    identity (visual, material, images, loaded normals: held by the mesh, so no other object can
    take their place while they are compared), the values by equality (trimesh's content hashes
    of geometry, UVs and colours, the material's parameters). None for a mesh whose appearance
    is not one plain or PBR material or colours (not kept)."""
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals):
        material = visual.material
        if not isinstance(material, (trimesh.visual.material.PBRMaterial,
                                     trimesh.visual.material.SimpleMaterial)):
            return None
        fields = getattr(material, "_data", None)
        fields = dict(fields) if isinstance(fields, dict) else {}
        fields.update((k, v) for k, v in vars(material).items() if k != "_data")
        images, params = [], []
        for key in sorted(fields):
            value = fields[key]
            if isinstance(value, PIL.Image.Image):
                images.append(value)       # pixels edited in place are not seen (see encoded_images)
                params.append((key, value.mode, tuple(value.size)))
            elif isinstance(value, np.ndarray):
                params.append((key, value.dtype.str, value.shape, value.tobytes()))
            elif value is None or isinstance(value, (bool, int, float, str, tuple)):
                params.append((key, value))
            else:
                return None                # a parameter not compared: not kept
        objects = (visual, material, *images)
    elif isinstance(visual, trimesh.visual.ColorVisuals):
        objects, params = (visual,), []
    else:
        return None
    own_normals = mesh._cache.cache.get("vertex_normals")
    return (*objects, own_normals), (hash(mesh), hash(visual), len(mesh.vertices), tuple(params))


def prepared_mesh(mesh, textures: bool = True) -> PreparedMesh | None:
    """:class:`PreparedMesh` of ``mesh`` (None when it has no triangles), kept on the mesh itself.

    A warm process writes the same library meshes scene after scene (the library shares
    them); their crease normals, texture hash, colour parts and primitive arrays are the
    same each time. They are kept on the mesh object — alive as long as the mesh (the
    library's LRU bounds how many), one per ``textures`` choice — with what they were made
    from (:func:`_mesh_state`), and made again when any of it changed.
    """
    state = _mesh_state(mesh)
    if state is None:
        return _prepare_mesh(mesh, textures)
    kept = mesh.__dict__.setdefault(_PREPARED_ATTRIBUTE, {})
    found = kept.get(textures)
    if found is not None:
        (objects, values), prepared = found
        if (len(objects) == len(state[0]) and all(a is b for a, b in zip(objects, state[0]))
                and values == state[1]):
            return prepared
    prepared = _prepare_mesh(mesh, textures)
    kept[textures] = (state, prepared)
    return prepared


class _GltfBuilder:
    """Accumulates glTF JSON and the binary buffer (each accessor in its own 4-byte-aligned view)."""

    def __init__(self) -> None:
        self.doc: dict = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": []}], "nodes": []}
        self.blob = bytearray()
        self.images: dict[str, int] = {}           # texture key → texture index

    def _list(self, key: str) -> list:
        return self.doc.setdefault(key, [])

    def _view(self, data: bytes, target: int | None) -> int:
        self.blob += b"\0" * (-len(self.blob) % 4)
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.blob += data
        views = self._list("bufferViews")
        views.append(view)
        return len(views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int, normalized: bool = False,
                 bounds: tuple[list, list] | None = None) -> int:
        """An accessor of ``array``; ``bounds``: its per-component (min, max), which glTF
        requires of positions."""
        array = np.ascontiguousarray(array)
        ctype = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UBYTE, np.dtype(np.uint16): _USHORT,
                 np.dtype(np.uint32): _UINT}[array.dtype]
        acc = {"bufferView": self._view(array.tobytes(), target), "componentType": ctype,
               "count": int(len(array) if kind != "SCALAR" else array.size), "type": kind}
        if normalized:
            acc["normalized"] = True
        if bounds is not None:
            acc["min"], acc["max"] = bounds
        accessors = self._list("accessors")
        accessors.append(acc)
        return len(accessors) - 1

    def texture(self, surface: Surface, name: str) -> int:
        if surface.texture_key not in self.images:
            encoded = original_encoding(surface.texture)     # a library texture's own file: no re-encoding
            if encoded is None:
                buf = io.BytesIO()
                surface.texture.save(buf, format="PNG")
                encoded = ("image/png", buf.getvalue())
            self._list("images").append({"name": name, "mimeType": encoded[0],
                                         "bufferView": self._view(encoded[1], None)})
            if "samplers" not in self.doc:   # linear, mipmapped, repeating: glTF's usual choice
                self.doc["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497}]
            textures = self._list("textures")
            textures.append({"sampler": 0, "source": len(self.doc["images"]) - 1})
            self.images[surface.texture_key] = len(textures) - 1
        return self.images[surface.texture_key]

    def material(self, name: str, factor: np.ndarray, surface: Surface, texture: int | None) -> int:
        factor = [float(np.clip(c, 0.0, 1.0)) for c in factor]
        pbr = {"baseColorFactor": factor, "metallicFactor": float(np.clip(surface.metallic, 0, 1)),
               "roughnessFactor": float(np.clip(surface.roughness, 0, 1))}
        if texture is not None:
            pbr["baseColorTexture"] = {"index": texture}
        mat = {"name": name, "pbrMetallicRoughness": pbr}
        if surface.double_sided:
            mat["doubleSided"] = True
        if factor[3] < 1.0 or (texture is not None and surface.alpha_blend):
            mat["alphaMode"] = "BLEND"
        materials = self._list("materials")
        materials.append(mat)
        return len(materials) - 1

    def primitive(self, arrays: "PrimitiveArrays", material: int) -> dict:
        """One triangle primitive of ``arrays`` drawn with ``material``."""
        attrs = {"POSITION": self.accessor(arrays.positions, "VEC3", _ARRAY_BUFFER, bounds=arrays.position_bounds)}
        if arrays.normals is not None:
            attrs["NORMAL"] = self.accessor(arrays.normals, "VEC3", _ARRAY_BUFFER)
        if arrays.uv is not None:
            attrs["TEXCOORD_0"] = self.accessor(arrays.uv, "VEC2", _ARRAY_BUFFER)
        if arrays.colours is not None:
            attrs["COLOR_0"] = self.accessor(arrays.colours, "VEC4", _ARRAY_BUFFER, normalized=True)
        indices = self.accessor(arrays.indices, "SCALAR", _ELEMENT_ARRAY_BUFFER)
        return {"attributes": attrs, "indices": indices, "material": material, "mode": 4}

    def mesh(self, name: str, mesh, settings: ExportSettings) -> int | None:
        """A glTF mesh (one primitive, or one per flat colour) with named materials; None when empty."""
        prepared = prepared_mesh(mesh, settings.textures)
        if prepared is None:
            return None
        surface = prepared.surface
        if settings.double_sided:
            surface = dataclasses.replace(surface, double_sided=True)
        prims = []
        if prepared.flat:
            for k, (factor, arrays) in enumerate(prepared.primitives):
                name_k = f"{name}_mat" if len(prepared.primitives) == 1 else f"{name}_mat_{k}"
                prims.append(self.primitive(arrays, self.material(name_k, factor, surface, None)))
        else:
            tex = self.texture(surface, f"{name}_basecolor") if surface.texture is not None else None
            factor, arrays = prepared.primitives[0]
            prims.append(self.primitive(arrays, self.material(f"{name}_mat", factor, surface, tex)))
        meshes = self._list("meshes")
        meshes.append({"name": name, "primitives": prims})
        return len(meshes) - 1

    def node(self, name: str, matrix: np.ndarray | None, mesh: int | None = None, extras: dict | None = None,
             camera: int | None = None) -> int:
        node: dict = {"name": name}
        if matrix is not None and not np.allclose(matrix, np.eye(4), atol=0, rtol=0):
            node["matrix"] = [float(v) for v in np.asarray(matrix, float).T.reshape(-1)]   # column-major
        if mesh is not None:
            node["mesh"] = mesh
        if camera is not None:
            node["camera"] = camera
        if extras:
            node["extras"] = extras
        self.doc["nodes"].append(node)
        self.doc["scenes"][0]["nodes"].append(len(self.doc["nodes"]) - 1)
        return len(self.doc["nodes"]) - 1

    def glb(self) -> bytes:
        if self.blob:
            self.blob += b"\0" * (-len(self.blob) % 4)
            self.doc["buffers"] = [{"byteLength": len(self.blob)}]
        text = json.dumps(self.doc, separators=(",", ":"), allow_nan=False).encode()
        text += b" " * (-len(text) % 4)
        chunks = struct.pack("<I4s", len(text), b"JSON") + text
        if self.blob:
            chunks += struct.pack("<I4s", len(self.blob), b"BIN\0") + bytes(self.blob)
        return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def _camera(scene: Scene, settings: ExportSettings) -> dict:
    """glTF perspective camera of K: vertical field of view and the aspect of the two fields of view."""
    cam = scene.camera
    fx, fy = float(cam.K[0, 0]), float(cam.K[1, 1])
    tan_x, tan_y = cam.width / 2.0 / fx, cam.height / 2.0 / fy
    return {"name": "camera", "type": "perspective",
            "perspective": {"yfov": float(2 * np.arctan(tan_y)), "aspectRatio": float(tan_x / tan_y),
                            "znear": float(settings.clip_near_m), "zfar": float(settings.clip_far_m)}}


def _credits(scene: Scene) -> str:
    parts = [f"{a['name'] or a['asset_id']} by {a['creator'] or 'unknown'} ({a['license'] or 'licence unknown'})"
             for a in attribution_of(scene).values()]
    return "; ".join(parts)


def room_extras(name: str) -> dict:
    """``{"scenewright": {"room": "floor"|"wall"|"ceiling", "label": name, ...}}`` of a room node."""
    kind = "wall" if name.startswith("wall_") else name
    data = {"room": kind, "label": name, "category": "room"}
    if kind == "wall":
        data["wall"] = int(name.split("_", 1)[1])
    return {"scenewright": data}


def scene_glb(scene: Scene, settings: ExportSettings | None = None, extras: dict | None = None) -> bytes:
    """The GLB bytes of ``scene``: objects, the room (``settings.room``), the camera (``settings.camera``).

    ``extras``: JSON-able data for ``scenes[0].extras.scenewright`` (default: format and
    attribution, what ``scene.glb`` holds). Local paths are cut to their last part everywhere.
    """
    from scenewright import __version__
    settings = settings or ExportSettings()
    b = _GltfBuilder()
    b.doc["asset"]["generator"] = f"scenewright {__version__}"
    credits_text = _credits(scene)
    if credits_text:
        b.doc["asset"]["copyright"] = credits_text
    credits, relations = attribution_of(scene), relations_of(scene)
    for inst in scene.instances:
        data = {"instance_id": int(inst.id), "label": inst.label, "category": inst.category,
                "asset_id": inst.asset_id}
        credit = credits.get(inst.asset_id)
        if credit is not None:
            data.update(license=credit["license"], creator=credit["creator"], asset_name=credit["name"],
                        catalog=credit["catalog"])
        if inst.score is not None:
            data["score"] = float(inst.score)
        if inst.size is not None:
            data["size"] = [float(s) for s in inst.size]
        if relations[inst.id]:
            data["relations"] = relations[inst.id]
        mesh = b.mesh(inst.node, inst.mesh, settings) if inst.mesh is not None else None
        b.node(inst.node, np.asarray(inst.world_from_object, float), mesh,
               extras={"scenewright": without_local_paths({k: v for k, v in data.items() if v is not None})})
    if settings.room:
        for name, mesh_tm in scene.room.items():
            b.node(name, None, b.mesh(name, mesh_tm, settings), extras=room_extras(name))
    if settings.camera and scene.camera is not None and scene.camera.world_from_camera is not None:
        b.doc["cameras"] = [_camera(scene, settings)]
        b.node("camera", np.asarray(scene.camera.world_from_camera, float) @ GLTF_FROM_OPENCV, camera=0)
    if extras is None:
        extras = {"format": SCENE_FORMAT, "attribution": scene.attribution}
    b.doc["scenes"][0]["extras"] = {"scenewright": without_local_paths(extras)}
    return b.glb()


def write_glb(scene: Scene, path: Path, settings: ExportSettings, source: str = "") -> dict:
    """Write ``scene`` as the export GLB at ``path``: :func:`scene_glb` with the export's metadata."""
    meta = export_metadata(scene, settings, os.path.basename(os.path.normpath(source)) if source else "")
    path.write_bytes(scene_glb(scene, settings, extras=meta))
    return {"objects": sum(i.mesh is not None for i in scene.instances),
            "room": len(scene.room) if settings.room else 0}
