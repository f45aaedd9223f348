"""Offscreen rendering (moderngl over EGL, Mesa llvmpipe): colour, instance ids, metric depth.

>>> from scenewright.render import Renderer, RenderItem, render_scene
>>> r = Renderer(640, 480)
>>> res = r.render([RenderItem(mesh, world_from_object, 1)], K, world_from_camera)
>>> res.rgb, res.instance_ids, res.depth      # (H,W,3) uint8, (H,W) int32, (H,W) float32 m

See ``docs/render.md`` for the pixel conventions.
"""

from scenewright.render.gl import RenderError, current_context, get_context, gl_info
from scenewright.render.renderer import (Renderer, RenderItem, RenderResult, RenderSettings,
                                         clip_from_camera, project_points)
from scenewright.render.scene_render import (PreviewSettings, camera_for_bounds, render_scene,
                                             scene_render_items)

__all__ = ["Renderer", "RenderItem", "RenderResult", "RenderSettings", "RenderError",
           "render_scene", "scene_render_items", "camera_for_bounds", "PreviewSettings",
           "clip_from_camera", "project_points", "get_context", "current_context", "gl_info"]
