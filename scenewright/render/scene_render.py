"""Previews of a :class:`scenewright.scene.Scene`: alone, or blended over its capture."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from scenewright.capture import DEFAULT_HFOV_DEG, intrinsics_from_hfov
from scenewright.errors import InputError
from scenewright.render.renderer import Renderer, RenderItem, RenderSettings

log = logging.getLogger("scenewright.render")

# Used when a scene has neither a camera nor a capture to borrow one from.
DEFAULT_SIZE = (512, 512)


@dataclass
class PreviewSettings:
    """How :func:`render_scene` draws a preview.

    ``alpha``: opacity of the rendered objects over the capture image; ``outline``: darken
    the pixels on instance boundaries so touching objects stay distinguishable;
    ``include_room``: draw the room surfaces (floor, walls) — ``None`` means only when not
    over a capture (over a photo they would hide it); ``view_direction``: for a scene without
    a camera pose, the direction (world frame, Y up) from the scene centre to the camera;
    ``supersample``: render at this many times the size and average (antialiased edges);
    ``background``: colour where nothing is drawn, when not over a capture.
    """

    alpha: float = 0.8
    supersample: int = 2
    background: tuple[int, int, int] = (235, 235, 235)    # without a capture
    outline: bool = True
    outline_color: tuple[int, int, int] = (25, 25, 25)
    include_room: bool | None = None
    view_direction: tuple[float, float, float] = (0.35, 0.6, 1.0)
    render: RenderSettings | None = None

    def to_json(self) -> dict:
        return asdict(self)


def scale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """K (3, 3) for the same camera at another image size (W, H) (continuous pixel convention)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return np.diag([sx, sy, 1.0]) @ np.asarray(K, float)


def camera_for_bounds(bounds: np.ndarray, K: np.ndarray, width: int, height: int,
                      view_direction=(0.35, 0.6, 1.0), margin: float = 1.1) -> np.ndarray:
    """A ``world_from_camera`` (4, 4, OpenCV) looking at the centre of ``bounds`` (2, 3) from
    ``view_direction`` (world, Y up), far enough that the bounding sphere fits the image."""
    bounds = np.asarray(bounds, float)
    centre = bounds.mean(axis=0)
    radius = max(float(np.linalg.norm(bounds[1] - bounds[0])) / 2, 1e-3)
    half_fov = min(math.atan(width / 2 / K[0, 0]), math.atan(height / 2 / K[1, 1]))
    distance = margin * radius / math.sin(half_fov)
    back = np.asarray(view_direction, float)
    back /= np.linalg.norm(back)
    forward = -back
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:          # looking straight down or up
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2] = right, down, forward
    T[:3, 3] = centre + back * distance
    return T


def scene_render_items(scene, include_room: bool = False) -> list[RenderItem]:
    """RenderItems of every instance with a mesh (id = instance id); room surfaces get id 0."""
    items = [RenderItem(inst.mesh, np.asarray(inst.world_from_object, float), int(inst.id))
             for inst in scene.instances if inst.mesh is not None]
    if include_room:
        items += [RenderItem(mesh, np.eye(4), 0) for mesh in scene.room.values()]
    return items


def _items_bounds(items: list[RenderItem]) -> np.ndarray | None:
    corners = []
    for item in items:
        b = item.mesh.bounds
        c = np.array([[x, y, z] for x in b[:, 0] for y in b[:, 1] for z in b[:, 2]])
        corners.append(c @ item.world_from_object[:3, :3].T + item.world_from_object[:3, 3])
    if not corners:
        return None
    pts = np.concatenate(corners)
    return np.stack([pts.min(axis=0), pts.max(axis=0)])


def _resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR), np.uint8)


def outline_mask(ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour has another id (either side drawn)."""
    edge = np.zeros(ids.shape, bool)
    dx = ids[:, 1:] != ids[:, :-1]
    dy = ids[1:, :] != ids[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def render_scene(scene, over=None, size: tuple[int, int] | None = None,
                 settings: PreviewSettings | None = None, notes: list[str] | None = None) -> np.ndarray:
    """Render ``scene`` from its camera, alone or blended over the capture ``over``.

    Returns (H, W, 3) uint8 at ``size`` (W, H), else the capture's size, else the scene
    camera's size. The camera is ``scene.camera`` (K rescaled to the output size); without a
    ``world_from_camera`` (MIDI's output has none) a camera is placed looking at the scene's
    bounds and a note says so (logged, and appended to ``notes`` if given).
    """
    settings = settings or PreviewSettings()
    collect = notes is not None

    def note(msg: str) -> None:
        # A caller collecting notes shows them itself; otherwise they go to the log.
        if collect:
            notes.append(msg)
        else:
            log.warning(msg)

    cam = scene.camera
    if size is not None:
        size = (int(size[0]), int(size[1]))
        if size[0] < 1 or size[1] < 1:
            raise InputError(f"render: size {size[0]}x{size[1]} must be positive")
    elif over is not None:
        size = (over.width, over.height)
    elif cam is not None:
        size = (int(cam.width), int(cam.height))
    else:
        size = DEFAULT_SIZE
    if cam is not None:
        K = scale_intrinsics(cam.K, (cam.width, cam.height), size)
    elif over is not None:
        K = scale_intrinsics(over.K, (over.width, over.height), size)
        note("scene has no camera: using the capture's intrinsics")
    else:
        K = intrinsics_from_hfov(size[0], size[1], DEFAULT_HFOV_DEG)
        note(f"scene has no camera: using a {DEFAULT_HFOV_DEG:.1f}° horizontal field of view")

    include_room = settings.include_room if settings.include_room is not None else over is None
    items = scene_render_items(scene, include_room=include_room)
    if not items:
        note("scene has no meshes to render")
    world_from_camera = None if cam is None else cam.world_from_camera
    bounds = _items_bounds(items)
    if world_from_camera is None:
        box = bounds if bounds is not None else np.array([[-1.0, 0.0, -1.0], [1.0, 1.0, 1.0]])
        world_from_camera = camera_for_bounds(box, K, size[0], size[1], settings.view_direction)
        aligned = "; the render is not aligned with the capture" if over is not None else ""
        note("scene has no camera pose (world_from_camera is null): placed a camera looking at "
             "the scene bounds" + aligned)
    world_from_camera = np.asarray(world_from_camera, float)

    near, far = 0.05, 100.0
    if bounds is not None:
        # Fit the clip range to the scene so large scenes are not cut and small ones keep precision.
        corners = np.array([[x, y, z] for x in bounds[:, 0] for y in bounds[:, 1] for z in bounds[:, 2]])
        z = (corners - world_from_camera[:3, 3]) @ world_from_camera[:3, 2]
        far = max(far, float(z.max()) * 1.5)
        if z.min() > 0:
            near = min(near, float(z.min()) * 0.5)
    near = max(near, far * 1e-6)

    background = None if over is None else _resize_rgb(over.rgb, size)
    ss = max(1, min(int(settings.supersample), 16384 // max(size)))
    renderer = Renderer(size[0] * ss, size[1] * ss, settings.render)
    try:
        res = renderer.render(items, scale_intrinsics(K, size, (size[0] * ss, size[1] * ss)),
                              world_from_camera, near=near, far=far)
    finally:
        renderer.release()
    rgb = res.rgb.astype(np.float32)
    drawn = res.mask
    if background is not None:
        a = float(np.clip(settings.alpha, 0.0, 1.0))
        bg = background.astype(np.float32)
        if ss > 1:
            bg = np.repeat(np.repeat(bg, ss, axis=0), ss, axis=1)
        rgb = np.where(drawn[..., None], a * rgb + (1 - a) * bg, bg)
    else:
        rgb[~drawn] = np.asarray(settings.background, np.float32)
    ids = np.where(drawn, res.instance_ids, -1)      # room (id 0) vs empty (-1) also outlined
    if ss > 1:
        # box filter: each output pixel averages its ss x ss samples
        rgb = rgb.reshape(size[1], ss, size[0], ss, 3).mean(axis=(1, 3))
        ids = ids[ss // 2::ss, ss // 2::ss]
    if settings.outline:
        edge = outline_mask(ids) & (ids > 0)
        rgb[edge] = np.asarray(settings.outline_color, np.float32)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
