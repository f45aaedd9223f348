"""The room of a scene as meshes: floor, walls and (optionally) a ceiling, textured from the photo.

A scene stores the floor (y = 0) and walls as planes (``scene.json``); viewers and the
exports need finite geometry. The floor becomes the rectangle around the objects and the
camera (plus a margin), cut by every wall's half-space (the room side); each wall is the
edge of that floor polygon it cut, raised to the wall height; the ceiling is the floor
polygon at the wall height, facing down. Surfaces are one-sided, facing into the room, so
from outside a viewer sees into the room through them (the "dollhouse" view).

Appearance, as Imaginarium retrieves background textures for floor and walls from the
picture: given the capture (photo, instance masks, depth) and the camera pose, every
surface gets a texture rectified from the photo — each texel is projected into the
picture and takes its colour where the picture shows that surface (not covered by an
object, and, with metric depth, at the depth the plane predicts). Texels the picture does
not show take the median colour of those it shows; a surface the picture does not show at
all keeps a plain colour (``FLOOR_RGBA``, ``WALL_RGBA``, ``CEILING_RGBA``).

World frame: Y up, metres. Meshes are returned in world coordinates, named ``floor``,
``wall_<k>`` (k = the wall's index in ``scene.walls``) and ``ceiling``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

FLOOR_RGBA = (176, 148, 118, 255)
WALL_RGBA = (226, 222, 214, 255)
CEILING_RGBA = (240, 240, 238, 255)


@dataclass
class RoomSettings:
    """How the room is built; recorded in ``scene.json`` under ``room``."""

    ceiling: bool = False              # add a ceiling at the wall height (``--ceiling``)
    margin_m: float = 0.5              # floor reaches this far beyond the objects and the camera
    wall_height_m: float | None = None  # None: the highest object's top + 0.3 m, at least 2.5 m
    texture_px: int = 256              # texels along a surface's longer side (photo textures)
    min_seen_texels: int = 64          # fewer seen texels than this: a plain colour, no texture
    depth_tolerance: float = 0.1       # with metric depth, |depth − plane depth| ≤ tol·depth + 5 cm


def clip_polygon(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Keep the part of a convex polygon (N, 2) where ``normal · p + offset >= 0`` (Sutherland–Hodgman)."""
    if len(poly) == 0:
        return poly
    d = poly @ normal + offset
    out = []
    for k in range(len(poly)):
        a, b, da, db = poly[k], poly[(k + 1) % len(poly)], d[k], d[(k + 1) % len(poly)]
        if da >= 0:
            out.append(a)
        if (da >= 0) != (db >= 0):
            out.append(a + (b - a) * (da / (da - db)))
    return np.array(out, float).reshape(-1, 2)


def _world_corners(scene):
    for inst in scene.instances:
        if inst.mesh is None or len(inst.mesh.vertices) == 0:
            continue
        corners = trimesh.bounds.corners(inst.mesh.bounds)
        T = np.asarray(inst.world_from_object, float)
        yield corners @ T[:3, :3].T + T[:3, 3]


def scene_extent_xz(scene, margin: float = 0.5) -> np.ndarray | None:
    """(2, 2) [[xmin, zmin], [xmax, zmax]] around the placed meshes and the camera, or None."""
    pts = [c[:, [0, 2]] for c in _world_corners(scene)]
    cam = scene.camera
    if cam is not None and cam.world_from_camera is not None:
        pts.append(np.asarray(cam.world_from_camera, float)[None, [0, 2], 3])
    if not pts:
        return None
    pts = np.concatenate(pts)
    return np.stack([pts.min(0) - margin, pts.max(0) + margin])


def floor_outline(scene, margin: float = 0.5) -> tuple[np.ndarray, list[tuple[int, np.ndarray, float]]] | None:
    """(floor polygon (N, 2) in x, z; walls as (index, unit normal (2,), offset)), or None without a floor."""
    if scene.floor is None:
        return None
    extent = scene_extent_xz(scene, margin)
    if extent is None:
        return None
    walls = []
    for k, w in enumerate(scene.walls or []):
        n = np.asarray(w["normal"], float)[[0, 2]]
        if np.linalg.norm(n) < 1e-6:
            continue
        n = n / np.linalg.norm(n)
        p = np.asarray(w["point"], float)[[0, 2]]
        walls.append((k, n, -float(n @ p)))
        # Reach the wall even when nothing stands near it (within 10 m of the objects).
        centre = extent.mean(0)
        foot = centre - (n @ (centre - p)) * n        # the wall point nearest the scene's centre
        if np.all(np.abs(foot - centre) < 10):
            extent = np.stack([np.minimum(extent[0], foot - 0.01), np.maximum(extent[1], foot + 0.01)])
    (x0, z0), (x1, z1) = extent
    poly = np.array([[x0, z0], [x0, z1], [x1, z1], [x1, z0]], float)
    for _, n, off in walls:
        poly = clip_polygon(poly, n, off)
    if len(poly) < 3:
        return None
    return poly, walls


def default_wall_height(scene) -> float:
    """The highest object's top + 0.3 m, at least 2.5 m."""
    top = max((float(c[:, 1].max()) for c in _world_corners(scene)), default=0.0)
    return max(2.5, top + 0.3)


def room_geometry(scene, settings: RoomSettings | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (vertices (V, 3) world, triangles (F, 3))}`` of floor, walls and ceiling, facing into the room.

    Empty when the scene has no floor (no-floor frame, MIDI's own frame): there is then
    no ground to stand on. A wall cut away by the others is left out.
    """
    settings = settings or RoomSettings()
    outline = floor_outline(scene, settings.margin_m)
    if outline is None:
        return {}
    poly, walls = outline
    height = settings.wall_height_m if settings.wall_height_m is not None else default_wall_height(scene)
    fan = np.array([[0, k, k + 1] for k in range(1, len(poly) - 1)])
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, y, up in (("floor", 0.0, 1.0), ("ceiling", height, -1.0)):
        if name == "ceiling" and not settings.ceiling:
            continue
        v = np.column_stack([poly[:, 0], np.full(len(poly), y), poly[:, 1]])
        out[name] = (v, _facing(v, fan, np.array([0.0, up, 0.0])))
    for k, n, off in walls:
        on = np.abs(poly @ n + off) < 1e-6
        if on.sum() < 2:
            continue        # cut away by other walls: not part of this room's outline
        tangent = np.array([-n[1], n[0]])
        s = poly[on] @ tangent
        a, b = poly[on][np.argmin(s)], poly[on][np.argmax(s)]
        v = np.array([[a[0], 0, a[1]], [b[0], 0, b[1]], [b[0], height, b[1]], [a[0], height, a[1]]])
        out[f"wall_{k}"] = (v, _facing(v, np.array([[0, 1, 2], [0, 2, 3]]), np.array([n[0], 0.0, n[1]])))
    return out


def _facing(v: np.ndarray, faces: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """``faces`` wound so that the first triangle's normal points along ``normal``."""
    a, b, c = v[faces[0]]
    return faces if np.cross(b - a, c - a) @ normal >= 0 else faces[:, ::-1].copy()


def plane_frame(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(origin (3,), axes (2, 3) unit, size (2,) metres, uv (V, 2) in [0, 1]) of a planar polygon.

    The first axis runs along the polygon's longest edge; the frame is the polygon's bounding
    rectangle in the plane. uv has its origin at the bottom left (trimesh's convention).
    """
    edges = np.roll(vertices, -1, axis=0) - vertices
    e1 = edges[np.argmax(np.linalg.norm(edges, axis=1))]
    e1 = e1 / np.linalg.norm(e1)
    normal = np.cross(vertices[1] - vertices[0], vertices[2] - vertices[0])
    e2 = np.cross(normal / np.linalg.norm(normal), e1)
    local = (vertices - vertices[0]) @ np.stack([e1, e2]).T
    lo, hi = local.min(0), local.max(0)
    size = np.maximum(hi - lo, 1e-6)
    origin = vertices[0] + lo[0] * e1 + lo[1] * e2
    return origin, np.stack([e1, e2]), size, (local - lo) / size


def photo_texture(vertices: np.ndarray, capture, camera, settings: RoomSettings):
    """(texture (h, w, 3) uint8 or None, uv (V, 2), colour (3,) uint8 or None, fraction of texels seen).

    Each texel centre of the surface's plane rectangle is projected through ``camera`` (K,
    world_from_camera: OpenCV camera → world) into ``capture``; it is seen where it lands in
    the picture, in front of the camera, on no object (``seg`` 0) and — with metric or
    estimated-metric depth — within the depth tolerance of the plane. ``colour``: the median
    of the seen texels (None when fewer than ``settings.min_seen_texels``, then texture None).
    """
    origin, axes, size, uv = plane_frame(vertices)
    scale = settings.texture_px / size.max()
    w, h = (max(2, int(np.ceil(s * scale))) for s in size)
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    # row 0 is the image's top, which uv's bottom-left origin puts at v = 1
    a = (cols + 0.5) / w * size[0]
    b = (1.0 - (rows + 0.5) / h) * size[1]
    points = origin + a[..., None] * axes[0] + b[..., None] * axes[1]            # (h, w, 3) world
    camera_from_world = np.linalg.inv(np.asarray(camera.world_from_camera, float))
    pc = points @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    z = pc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pix = pc @ np.asarray(camera.K, float).T
        u, v = pix[..., 0] / z, pix[..., 1] / z
    H, W = capture.rgb.shape[:2]
    seen = (z > 1e-3) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    ui = np.clip(np.nan_to_num(u), 0, W - 1).astype(int)
    vi = np.clip(np.nan_to_num(v), 0, H - 1).astype(int)
    if capture.seg is not None:
        seen &= capture.seg[vi, ui] == 0
    if capture.depth is not None and capture.depth_kind in ("metric", "estimated-metric"):
        d = capture.depth[vi, ui]
        # unknown depth (NaN) does not contradict the plane
        seen &= ~(np.abs(d - z) > settings.depth_tolerance * z + 0.05)
    fraction = float(seen.mean())
    if seen.sum() < settings.min_seen_texels:
        return None, uv, None, fraction
    sampled = capture.rgb[vi, ui]
    colour = np.median(sampled[seen], axis=0).round().astype(np.uint8)
    texture = np.where(seen[..., None], sampled, colour).astype(np.uint8)
    return texture, uv, colour, fraction


def room_surfaces(scene, capture=None, settings: RoomSettings | None = None, *, margin: float | None = None,
                  wall_height: float | None = None, ceiling: bool | None = None,
                  report: dict | None = None) -> dict[str, trimesh.Trimesh]:
    """``{"floor": mesh, "wall_<k>": mesh, "ceiling": mesh}`` in world coordinates.

    ``capture``: the :class:`~scenewright.capture.Capture` the scene was made from; with it
    (and a camera pose in ``scene.camera``) surfaces the photo shows are textured from it
    (``TextureVisuals``, a PBR material named ``<name>_mat``), the others keep a plain
    colour (``face_colors``). ``margin``/``wall_height``/``ceiling`` override ``settings``.
    ``report``: filled with what was done per surface (seen fraction, photo or plain).
    Empty for a scene without a floor.
    """
    settings = settings or RoomSettings()
    if margin is not None or wall_height is not None or ceiling is not None:
        from dataclasses import replace
        settings = replace(settings, margin_m=settings.margin_m if margin is None else margin,
                           wall_height_m=settings.wall_height_m if wall_height is None else wall_height,
                           ceiling=settings.ceiling if ceiling is None else ceiling)
    camera = scene.camera
    use_photo = (capture is not None and camera is not None and camera.world_from_camera is not None
                 and capture.rgb is not None)
    out: dict[str, trimesh.Trimesh] = {}
    for name, (vertices, faces) in room_geometry(scene, settings).items():
        plain = FLOOR_RGBA if name == "floor" else CEILING_RGBA if name == "ceiling" else WALL_RGBA
        texture = None
        fraction = 0.0
        if use_photo:
            texture, uv, colour, fraction = photo_texture(vertices, capture, camera, settings)
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        if texture is not None:
            from PIL import Image
            material = trimesh.visual.material.PBRMaterial(
                name=f"{name}_mat", baseColorTexture=Image.fromarray(texture), baseColorFactor=[255, 255, 255, 255],
                metallicFactor=0.0, roughnessFactor=0.9)
            mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
        else:
            mesh.visual.face_colors = np.tile(np.asarray(plain, np.uint8), (len(faces), 1))
        out[name] = mesh
        if report is not None:
            report[name] = {"seen_fraction": round(fraction, 4), "appearance": "photo" if texture is not None
                            else "plain"}
    return out
