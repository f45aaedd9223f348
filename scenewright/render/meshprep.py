"""CPU-side preparation of a trimesh mesh for the GPU: one interleaved vertex array.

Every mesh becomes the same vertex layout (position, normal, uv, RGBA colour), an
optional index array, an optional texture image and a constant base colour, so one
shader program draws every material kind trimesh produces:

- ``TextureVisuals`` with a ``PBRMaterial`` (``baseColorTexture``, ``baseColorFactor``)
  or a ``SimpleMaterial`` (``image``, ``diffuse``), UVs per vertex;
- ``ColorVisuals`` with vertex colours, or face colours (the only case that needs the
  mesh unmerged into three vertices per face);
- anything else: a neutral grey.

Everything here is vectorised numpy; nothing touches OpenGL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial, SimpleMaterial

# Interleaved vertex layout, shared with the shader (see gl.py): 36 bytes per vertex.
VERTEX_DTYPE = np.dtype([("position", "<f4", 3), ("normal", "<f4", 3), ("uv", "<f4", 2),
                         ("color", "u1", 4)])
VERTEX_FORMAT = "3f 3f 2f 4f1"          # moderngl buffer format of VERTEX_DTYPE
VERTEX_ATTRIBUTES = ("in_position", "in_normal", "in_uv", "in_color")

# Largest texture side uploaded; bigger images are downsampled (memory and upload time).
MAX_TEXTURE_SIDE = 4096


@dataclass
class PreparedMesh:
    """A mesh ready for upload.

    ``vertices`` (N,) of ``VERTEX_DTYPE``; ``indices`` (F, 3) uint32 or None (then every three
    vertices are one triangle); ``texture`` (h, w, 4) uint8 RGBA with row 0 = the *bottom* of the
    image (OpenGL's texture origin, so trimesh UVs apply as they are) or None;
    ``base_color`` (4,) float32 in [0, 1] multiplying vertex colour and texture;
    ``smooth``: the normals are the mesh's own vertex normals (else the shader shades flat);
    ``alpha_cutoff``: fragments with alpha below it are discarded (glTF alphaMode MASK), else 0;
    ``colored``: the vertex colours vary (vertex or face colours), so the shader reads them.
    """

    vertices: np.ndarray
    indices: np.ndarray | None
    texture: np.ndarray | None
    base_color: np.ndarray
    smooth: bool
    alpha_cutoff: float = 0.0
    colored: bool = False      # per-vertex colours matter (else all white)
    has_material: bool = True  # False: no material; the renderer's default colour applies

    @property
    def n_triangles(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.vertices) // 3


def stretched(prepared: PreparedMesh, scale) -> PreparedMesh:
    """``prepared`` with its object frame scaled by ``scale`` (3,) per axis: positions times
    ``scale``, own normals by the adjugate of the scaling and renormalised (as trimesh's
    ``apply_transform`` treats them); the texture and index arrays are shared, not copied."""
    scale = np.asarray(scale, np.float64).reshape(3)
    vertices = prepared.vertices.copy()
    vertices["position"] = vertices["position"] * scale
    if prepared.smooth:
        n = vertices["normal"] * scale[[1, 0, 0]] * scale[[2, 2, 1]]
        length = np.linalg.norm(n, axis=1, keepdims=True)
        vertices["normal"] = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
    return dataclasses.replace(prepared, vertices=vertices)


def _unit_rgba(color, default=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Any trimesh colour (uint8 0-255 or float 0-1, RGB or RGBA) → (4,) float32 in [0, 1]."""
    if color is None:
        return np.asarray(default, np.float32)
    c = np.asarray(color).reshape(-1)
    if c.dtype.kind in "ui" or (c.size and float(np.max(c)) > 1.0):
        c = c.astype(np.float32) / 255.0
    c = c.astype(np.float32)
    if c.size == 3:
        c = np.append(c, np.float32(1.0))
    if c.size != 4:
        return np.asarray(default, np.float32)
    return np.clip(c, 0.0, 1.0)


def texture_array(image, max_side: int = MAX_TEXTURE_SIDE) -> np.ndarray | None:
    """A PIL image (or array) → (h, w, 4) uint8 RGBA, rows flipped to OpenGL's bottom-up order."""
    if image is None:
        return None

    if not isinstance(image, Image.Image):
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    if image.mode in ("I;16", "I;16B", "I", "F"):
        # 16-bit / float single channel: scale to 8 bits before converting
        arr = np.asarray(image, np.float64)
        image = Image.fromarray(np.clip(arr / max(arr.max(), 1.0) * 255, 0, 255).astype(np.uint8))
    image = image.convert("RGBA")
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(image, np.uint8)[::-1])


def _material_colour_and_image(material) -> tuple[np.ndarray, object, float]:
    """(base colour (4,), image or None, alpha cutoff) of a trimesh material of any kind."""

    if isinstance(material, PBRMaterial):
        cutoff = 0.0
        if str(material.alphaMode or "").upper() == "MASK":
            cutoff = 0.5 if material.alphaCutoff is None else float(material.alphaCutoff)
        return _unit_rgba(material.baseColorFactor), material.baseColorTexture, cutoff
    if isinstance(material, SimpleMaterial):
        if material.image is not None:
            # OBJ viewers show map_Kd as is; trimesh's SimpleMaterial carries a default 40 %
            # grey diffuse (also after packing an OBJ's materials) that would darken it.
            return np.ones(4, np.float32), material.image, 0.0
        return _unit_rgba(material.diffuse), None, 0.0
    # MultiMaterial or unknown kinds: fall back to the material's own summary colour
    try:
        return _unit_rgba(material.main_color), None, 0.0
    except Exception:
        return _unit_rgba(None), None, 0.0


def has_own_vertex_normals(mesh: trimesh.Trimesh) -> bool:
    """True if the mesh carries vertex normals of its own (from its file), not computed ones.

    trimesh keeps loaded normals in its cache under ``vertex_normals``; when absent it would
    compute area-weighted averages, which make boxes look blobby, so we shade flat instead.
    """
    return "vertex_normals" in mesh._cache


def prepare_mesh(mesh: trimesh.Trimesh, default_color=(0.7, 0.7, 0.7, 1.0),
                 max_texture_side: int = MAX_TEXTURE_SIDE) -> PreparedMesh:
    """Turn ``mesh`` (object frame, its own materials) into a :class:`PreparedMesh`."""
    vertices = np.asarray(mesh.vertices, np.float32)
    faces = np.asarray(mesh.faces, np.int64)
    n = len(vertices)
    smooth = has_own_vertex_normals(mesh) and len(mesh.vertex_normals) == n
    normals = np.asarray(mesh.vertex_normals, np.float32) if smooth else None
    uv = None
    colors = None           # (n, 4) uint8 per vertex
    face_colors = None      # (F, 4) uint8 per face → needs unmerging
    texture = None
    base = _unit_rgba(default_color)
    cutoff = 0.0

    visual = mesh.visual
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        base, image, cutoff = _material_colour_and_image(visual.material)
        if visual.uv is not None and len(visual.uv) == n and image is not None:
            uv = np.asarray(visual.uv, np.float32)
            texture = texture_array(image, max_texture_side)
    elif kind == "vertex":
        colors = np.asarray(visual.vertex_colors, np.uint8)
        base = np.ones(4, np.float32)
    elif kind == "face":
        face_colors = np.asarray(visual.face_colors, np.uint8)
        base = np.ones(4, np.float32)

    if face_colors is not None:
        # Per-face attributes: three fresh vertices per face (vectorised gather).
        flat = faces.reshape(-1)
        out = np.zeros(len(flat), VERTEX_DTYPE)
        out["position"] = vertices[flat]
        if normals is not None:
            out["normal"] = normals[flat]
        out["color"] = np.repeat(face_colors, 3, axis=0)
        return PreparedMesh(out, None, None, base, smooth, cutoff, colored=True)

    out = np.zeros(n, VERTEX_DTYPE)
    out["position"] = vertices
    if normals is not None:
        out["normal"] = normals
    if uv is not None:
        out["uv"] = uv
    out["color"] = colors if colors is not None else 255
    return PreparedMesh(out, faces.astype(np.uint32), texture, base, smooth, cutoff,
                        colored=colors is not None, has_material=kind in ("texture", "vertex", "face"))
