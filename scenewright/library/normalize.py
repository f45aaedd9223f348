"""Bringing a model into the object frame of a library asset.

The frame (``scene-format.md``): metres, Y up, front facing +Z, centred in x and z
on its bounding box, lowest point at y = 0, and — as Sweet Home 3D does — scaled
anisotropically so the box extents are the catalog's width (x), height (y) and
depth (z). Sweet Home 3D's OBJ models are already Y up with the front toward +Z;
``modelRotation`` (applied first) fixes the ones that are not.

All parts are merged into one :class:`trimesh.Trimesh` whose materials are packed
into one texture atlas, because the renderer and the layout method handle one mesh
per object.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from scenewright.errors import InputError

# Largest side of one part's texture and of the packed atlas (pixels): library
# views are small, so bigger textures only cost disk space and load time.
MAX_TEXTURE = 1024
MAX_ATLAS = 2048
# Most tiles a repeating texture may be unrolled into per axis before it is clamped.
MAX_TILES = 8


def load_parts(path: str | Path) -> list[trimesh.Trimesh]:
    """Load a model file (OBJ with MTL, GLB, ...) as its parts in the file's frame.

    Raises InputError for unreadable files and for models without faces.
    """
    path = Path(path)
    try:
        loaded = trimesh.load(path, force="scene", process=False)
    except Exception as exc:  # trimesh raises many types on corrupt files
        raise InputError(f"{path}: cannot read the model ({type(exc).__name__}: {exc})") from None
    parts = [g for g in loaded.dump(concatenate=False)
             if isinstance(g, trimesh.Trimesh) and len(g.faces) > 0]
    if not parts:
        raise InputError(f"{path}: the model has no faces")
    for part in parts:
        if not np.all(np.isfinite(part.vertices)):
            raise InputError(f"{path}: the model has non-finite vertex coordinates")
    return parts


def missing_textures(obj_path: str | Path) -> list[str]:
    """Material libraries and textures an OBJ refers to that are not on disk.

    trimesh only logs a warning in these cases and falls back to the material's
    diffuse colour (``Kd``), which is also what Sweet Home 3D shows; the builder
    decides whether that is acceptable (see ``BuildSettings.missing_textures``).
    """
    obj_path = Path(obj_path)
    if obj_path.suffix.lower() != ".obj":
        return []
    folder = obj_path.parent
    missing = []
    with open(obj_path, "rb") as f:
        mtllibs = [line.split(None, 1)[1].decode("utf-8", "replace").strip()
                   for line in f if line.startswith(b"mtllib") and len(line.split()) > 1]
    for mtl in mtllibs:
        mtl_path = folder / mtl
        if not mtl_path.is_file():
            missing.append(mtl)
            continue
        for line in mtl_path.read_text(errors="replace").splitlines():
            words = line.split()
            if words and words[0].lower() in ("map_kd", "map_ka") and len(words) > 1:
                tex = words[-1]  # options such as -s come before the file name
                if not (folder / tex).is_file():
                    missing.append(tex)
    return sorted(set(missing))


def _image_of(material) -> Image.Image | None:
    image = getattr(material, "image", None)
    if image is None and isinstance(material, trimesh.visual.material.PBRMaterial):
        image = material.baseColorTexture
    return image


def _material_image(visual) -> Image.Image | None:
    return _image_of(getattr(visual, "material", None))


def _limit_image(image: Image.Image, size: int) -> Image.Image:
    if max(image.size) <= size:
        return image
    scale = size / max(image.size)
    return image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))),
                        Image.BILINEAR)


def unroll_tiling(part: trimesh.Trimesh) -> trimesh.Trimesh:
    """Make a part's UVs lie in [0, 1] without changing its look, so it can be packed.

    Packing a texture into an atlas wraps each UV *vertex* into [0, 1], which breaks
    every face that crosses a tile border (it would smear the whole texture across
    that face). Here each face is shifted by whole tiles to start in the first tile,
    and the image is repeated k times per axis (k = most tiles a face spans, at most
    ``MAX_TILES``; larger spans are clamped) with UVs divided by k.
    """
    visual = part.visual
    image = _material_image(visual)
    uv = getattr(visual, "uv", None)
    if image is None or uv is None or len(uv) != len(part.vertices):
        return part
    uv = np.asarray(uv, dtype=np.float64)
    half = 0.5 / np.array(image.size, dtype=np.float64)
    if uv.min() >= -half.max() and uv.max() <= 1 + half.max():
        return part
    face_uv = uv[part.faces]                                   # (F, 3, 2)
    face_uv = face_uv - np.floor(face_uv.min(axis=1, keepdims=True))
    tiles = np.clip(np.ceil(face_uv.max(axis=(0, 1)) - 1e-6), 1, MAX_TILES).astype(int)  # (2,)
    face_uv = np.clip(face_uv / tiles, 0.0, 1.0)
    rgba = np.asarray(_limit_image(image, MAX_TEXTURE).convert("RGBA"))
    # UV v runs up while image rows run down: tiling the array repeats it either way
    tiled = Image.fromarray(np.tile(rgba, (tiles[1], tiles[0], 1)))
    tiled = _limit_image(tiled, MAX_TEXTURE)
    material = _texture_material(tiled)
    n_faces = len(part.faces)
    return trimesh.Trimesh(
        vertices=part.vertices[part.faces].reshape(-1, 3),
        faces=np.arange(3 * n_faces).reshape(-1, 3),
        visual=trimesh.visual.TextureVisuals(uv=face_uv.reshape(-1, 2), material=material),
        process=False)


def _texture_material(image: Image.Image) -> trimesh.visual.material.SimpleMaterial:
    """A material showing ``image`` as is.

    SimpleMaterial's default diffuse is 40 % grey, which the GLB export turns into a
    baseColorFactor multiplying the texture: every asset would come out dark.
    """
    return trimesh.visual.material.SimpleMaterial(image=image, diffuse=[255, 255, 255, 255])


def _shrink_textures(part: trimesh.Trimesh) -> trimesh.Trimesh:
    image = _material_image(part.visual)
    if image is not None:
        # also drops the MTL's Kd factor, as packing several parts does
        part.visual.material = _texture_material(_limit_image(image, MAX_TEXTURE))
    return part


SWATCH = 8   # px side of the flat image standing for a colour-only material in the atlas


def _material_colour(material) -> np.ndarray:
    """RGBA uint8 (4,) of a material without texture."""
    if isinstance(material, trimesh.visual.material.PBRMaterial):
        factor = material.baseColorFactor
        return np.asarray(factor if factor is not None else [255, 255, 255, 255], dtype=np.uint8)
    return np.asarray(getattr(material, "diffuse", [255, 255, 255, 255]), dtype=np.uint8)


def colour_swatch(part: trimesh.Trimesh) -> trimesh.Trimesh:
    """Give a colour-only part a flat ``SWATCH``² texture with every UV at its centre.

    trimesh's packer turns such a material into a 1-pixel image and points the UVs
    at that pixel's corner, where bilinear sampling blends in the black atlas
    background (a white drawer front came out dark grey). A swatch sampled at its
    centre shows the colour exactly.
    """
    visual = part.visual
    if visual.kind == "texture" and _material_image(visual) is not None:
        return part
    if visual.kind == "texture":
        colour = _material_colour(visual.material)
    else:
        colours = np.asarray(visual.face_colors if visual.kind == "face" else visual.vertex_colors)
        if visual.kind is not None and len(np.unique(colours, axis=0)) > 1:
            return part          # varying colours: trimesh's colour-to-UV conversion handles them
        colour = colours[0] if len(colours) else np.array([200, 200, 200, 255], dtype=np.uint8)
    image = Image.fromarray(np.tile(np.asarray(colour[:3], dtype=np.uint8), (SWATCH, SWATCH, 1)))
    return trimesh.Trimesh(vertices=part.vertices, faces=part.faces, process=False,
                           visual=trimesh.visual.TextureVisuals(
                               uv=np.full((len(part.vertices), 2), 0.5), material=_texture_material(image)))


def merge_parts(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """One mesh from many parts, materials packed into a single atlas (``MAX_ATLAS``)."""
    if len(parts) == 1:
        return _shrink_textures(unroll_tiling(parts[0]))
    prepared = [colour_swatch(_shrink_textures(unroll_tiling(p))) for p in parts]
    kinds = {p.visual.kind for p in prepared}
    if "texture" in kinds:
        # pack once, ourselves, to bound the atlas size (concatenate would use 8192²)
        mats, uvs = [], []
        for p in prepared:
            if p.visual.kind == "texture":
                mats.append(p.visual.material)
                uv = p.visual.uv
                uvs.append(np.full((len(p.vertices), 2), 0.5) if uv is None else np.asarray(uv))
            else:
                mat, uv = trimesh.visual.color.color_to_uv(vertex_colors=p.visual.vertex_colors)
                mats.append(mat)
                uvs.append(uv)
        material, uv = trimesh.visual.material.pack(
            mats, uvs, max_tex_size_individual=MAX_TEXTURE, max_tex_size_fused=MAX_ATLAS)
        # pack bounds the area, not the side; views are small, so bound the side too
        image = _image_of(material)
        if image is not None:   # (pack returns a lone colour-only material unchanged)
            material = _texture_material(_limit_image(image.convert("RGB"), MAX_ATLAS))
        offsets = np.cumsum([0] + [len(p.vertices) for p in prepared])[:-1]
        faces = np.vstack([p.faces + o for p, o in zip(prepared, offsets)])
        return trimesh.Trimesh(vertices=np.vstack([p.vertices for p in prepared]), faces=faces,
                               visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
                               process=False)
    return trimesh.util.concatenate(prepared)


def frame_transform(bounds: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(4, 4) affine mapping a box ``bounds`` (2, 3) to extents ``size`` (3,) in the object frame.

    Centres x and z, puts the lowest point at y = 0 and scales each axis so the
    extent equals ``size`` (metres). A flat axis (zero extent) is left unscaled.
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    extent = bounds[1] - bounds[0]
    size = np.asarray(size, dtype=np.float64)
    size = np.where(np.isnan(size), extent, size)        # NaN: keep the model's own extent
    scale = np.where(extent > 1e-12, size / np.maximum(extent, 1e-12), 1.0)
    centre = (bounds[0] + bounds[1]) / 2
    anchor = np.array([centre[0], bounds[0][1], centre[2]])
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag(scale)
    matrix[:3, 3] = -scale * anchor
    return matrix


def normalize_mesh(parts: list[trimesh.Trimesh], size_m: np.ndarray,
                   rotation: np.ndarray | None = None) -> trimesh.Trimesh:
    """Merge ``parts``, apply ``rotation`` (3, 3), then size and place them in the object frame.

    size_m: (3,) width, height, depth in metres (x, y, z extents of the result).
    """
    mesh = merge_parts(parts)
    mesh.remove_unreferenced_vertices()   # stray vertices would inflate the box
    if rotation is not None and not np.allclose(rotation, np.eye(3)):
        rot = np.eye(4)
        rot[:3, :3] = rotation
        mesh.apply_transform(rot)
    mesh.apply_transform(frame_transform(mesh.bounds, size_m))
    if len(mesh.faces) == 0 or not np.all(np.isfinite(mesh.vertices)):
        raise InputError("the model has no usable faces")
    return mesh
