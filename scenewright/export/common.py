"""What every exporter shares: settings, surface appearance, relations and attribution per object.

The exporters read a :class:`~scenewright.scene.Scene` (meshes in their object frame,
``world_from_object`` (4, 4), room meshes already in world coordinates, Y up, metres)
and only differ in how they write it; everything format-independent lives here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import trimesh

from scenewright import __version__
from scenewright.errors import InputError
from scenewright.scene import SCENE_FORMAT, Scene

EXPORT_VERSION = "1"

# format name → file extension written; the format is inferred from the extension otherwise
FORMATS = {"usd": ".usd", "usda": ".usda", "usdc": ".usdc", "usdz": ".usdz", "blend": ".blend", "glb": ".glb"}


@dataclass
class ExportSettings:
    """Choices of an export; recorded in the exported file's metadata."""

    room: bool = True                  # floor, walls and ceiling (``--no-room`` drops them)
    camera: bool = True                # the input camera (``--no-camera`` drops it)
    textures: bool = True              # image textures (else only the base colour factor)
    sensor_width_mm: float = 36.0      # film back of the exported camera; focal length follows from K
    clip_near_m: float = 0.01
    clip_far_m: float = 1000.0
    # scenewright's renderer shows colour factors and vertex colours as they are (display, sRGB
    # values), and the captures were rendered that way; USD and Blender colours are linear, so
    # they are converted to look the same there. False: copy the numbers unchanged.
    srgb_colors: bool = True
    # scenewright's renderer draws both sides of every triangle, and many library assets are
    # open sheets (a newspaper, leaves) seen from either side; single-sided would let USD and
    # glTF viewers cull them away. False: honour each material's own doubleSided flag.
    double_sided: bool = True

    def validate(self) -> None:
        if not (np.isfinite(self.sensor_width_mm) and 1.0 <= self.sensor_width_mm <= 1000.0):
            raise InputError("sensor width (--sensor-width) must be between 1 and 1000 mm "
                             f"(got {self.sensor_width_mm})")
        if not (0 < self.clip_near_m < self.clip_far_m):
            raise InputError(f"clip range must satisfy 0 < near < far (got {self.clip_near_m}, {self.clip_far_m})")

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Surface:
    """How one mesh looks, independent of the file format.

    ``base_color`` (4,) float RGBA in [0, 1] (the material's base colour factor; display/sRGB
    values as scenewright stores them until :func:`linear_colors` converts them);
    ``texture`` an RGB(A) PIL image or None; ``uv`` (V, 2) per-vertex texture coordinates
    with the origin at the image's bottom-left (OpenGL / USD / Blender convention) or None;
    ``vertex_colors`` (V, 4) float in [0, 1] when the colours vary over the mesh, else None
    (UVs are kept even without a texture, so a user can add one later);
    ``texture_key`` a content hash, so one image shared by several objects is written once.
    """

    base_color: np.ndarray
    texture: object | None = None
    uv: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    roughness: float = 0.9
    metallic: float = 0.0
    texture_key: str | None = None
    alpha_blend: bool = False
    double_sided: bool = False


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] (any shape) → linear values (IEC 61966-2-1 transfer curve)."""
    c = np.clip(np.asarray(c, float), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_colors(surface: Surface) -> Surface:
    """The same surface with base colour and vertex colours (RGB, not alpha) made linear."""
    base = surface.base_color.copy()
    base[:3] = srgb_to_linear(base[:3])
    vc = None
    if surface.vertex_colors is not None:
        vc = surface.vertex_colors.copy()
        vc[:, :3] = srgb_to_linear(vc[:, :3])
    return dataclasses.replace(surface, base_color=base, vertex_colors=vc)


def surface_for_export(mesh: trimesh.Trimesh, settings: "ExportSettings") -> Surface:
    """:func:`surface_of` with the colour handling of ``settings`` (textures, sRGB → linear)."""
    surface = surface_of(mesh, settings.textures)
    if settings.double_sided:
        surface.double_sided = True
    return linear_colors(surface) if settings.srgb_colors else surface


def surface_of(mesh: trimesh.Trimesh, textures: bool = True) -> Surface:
    """The :class:`Surface` of a trimesh mesh (``TextureVisuals`` with a PBR/simple material, or colours).

    Colours are returned as stored (0..1); see :func:`surface_for_export` for the conversion.
    """
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals):
        mat = visual.material
        if isinstance(mat, trimesh.visual.material.SimpleMaterial):
            mat = mat.to_pbr()
        factor = getattr(mat, "baseColorFactor", None)
        base = np.ones(4) if factor is None else np.asarray(factor, float).reshape(-1)[:4]
        if base.max() > 1.0:            # trimesh keeps factors as uint8
            base = base / 255.0
        if base.size == 3:
            base = np.append(base, 1.0)
        image = getattr(mat, "baseColorTexture", None)
        uv = None if visual.uv is None else np.asarray(visual.uv, float)
        if uv is not None and uv.shape != (len(mesh.vertices), 2):
            uv = None                  # not per vertex: cannot be written as a vertex primvar
        if not textures or uv is None:
            image = None
        key = None
        if image is not None:
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.mode else "RGB")
            key = hashlib.sha1(image.mode.encode() + str(image.size).encode() + image.tobytes()).hexdigest()[:12]
        rough = getattr(mat, "roughnessFactor", None)
        metal = getattr(mat, "metallicFactor", None)
        return Surface(base_color=base, texture=image, uv=uv,
                       roughness=0.9 if rough is None else float(rough),
                       metallic=0.0 if metal is None else float(metal), texture_key=key,
                       alpha_blend=getattr(mat, "alphaMode", None) == "BLEND",
                       double_sided=bool(getattr(mat, "doubleSided", False)))
    colors = np.asarray(visual.vertex_colors, float) / 255.0 if len(mesh.vertices) else np.ones((0, 4))
    if len(colors) == 0:
        return Surface(base_color=np.array([0.8, 0.8, 0.8, 1.0]))
    mean = colors.mean(axis=0)
    if np.abs(colors - mean).max() < 1.0 / 255.0:      # one colour: a plain material says it best
        return Surface(base_color=mean)
    return Surface(base_color=mean, vertex_colors=colors)


def relations_of(scene: Scene) -> dict[int, list[dict]]:
    """Per instance id, the relations it takes part in as subject or member.

    Each entry: ``{"type", "target"}`` where target is a node name (``inst_<id>``,
    ``wall_<k>``) or a list of node names (``same_asset_group``: the other members).
    """
    out: dict[int, list[dict]] = {inst.id: [] for inst in scene.instances}
    for rel in scene.relations:
        if rel.type == "same_asset_group" and rel.members:
            for m in rel.members:
                if m in out:
                    out[m].append({"type": rel.type, "target": [f"inst_{o}" for o in rel.members if o != m]})
        elif rel.subject in out:
            if rel.type == "against_wall" and rel.wall is not None:
                out[rel.subject].append({"type": rel.type, "target": f"wall_{rel.wall}"})
            elif rel.object is not None:
                out[rel.subject].append({"type": rel.type, "target": f"inst_{rel.object}"})
    return out


def attribution_of(scene: Scene) -> dict[str, dict]:
    """asset_id → ``{asset_id, name, creator, license, catalog}`` (strings, never None)."""
    out = {}
    for a in scene.attribution:
        if a.get("asset_id"):
            out[a["asset_id"]] = {k: "" if a.get(k) is None else str(a.get(k))
                                  for k in ("asset_id", "name", "creator", "license", "catalog")}
    return out


def attribution_text(scene: Scene) -> str:
    """A human-readable credits text (one paragraph per asset) for CC-BY and friends."""
    lines = ["Assets used in this scene (exported by scenewright):", ""]
    for a in attribution_of(scene).values():
        lines.append(f"{a['name'] or a['asset_id']} ({a['asset_id']})")
        lines.append(f"  creator: {a['creator'] or 'unknown'}")
        lines.append(f"  licence: {a['license'] or 'unknown'}")
        lines.append(f"  catalog: {a['catalog'] or 'unknown'}")
        lines.append("")
    if len(lines) == 2:
        lines.append("(no library assets: the geometry was generated)")
    return "\n".join(lines) + "\n"


def camera_lens(K: np.ndarray, width: int, height: int, sensor_width_mm: float) -> dict:
    """Physical lens of a pinhole K (3, 3) in pixels: focal length and film back in mm.

    The film back keeps the image's aspect (scaled by fy/fx for non-square pixels), so
    ``atan(aperture / 2 / focal)`` gives back each field of view of K. Offsets (mm) move
    the film window so that pixel (cx, cy) lies on the optical axis: x to the right,
    y up (the image's v axis points down).
    """
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    focal = sensor_width_mm * fx / width
    return {"focal_mm": focal, "h_aperture_mm": sensor_width_mm, "v_aperture_mm": height * focal / fy,
            "h_offset_mm": (width / 2.0 - cx) * focal / fx, "v_offset_mm": (cy - height / 2.0) * focal / fy,
            "hfov_deg": float(np.degrees(2 * np.arctan(width / 2.0 / fx))),
            "vfov_deg": float(np.degrees(2 * np.arctan(height / 2.0 / fy)))}


def export_metadata(scene: Scene, settings: ExportSettings, source: str) -> dict:
    """JSON-able metadata every exported file carries (attribution first: CC-BY needs it)."""
    return {"format": SCENE_FORMAT, "exporter": f"scenewright {__version__} export/{EXPORT_VERSION}",
            "source": source, "attribution": list(attribution_of(scene).values()),
            "relations": [r.to_json() for r in scene.relations],
            "method": scene.method or {}, "settings": settings.to_json(),
            "camera": None if scene.camera is None else scene.camera.to_json()}
