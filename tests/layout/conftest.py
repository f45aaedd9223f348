"""Fixtures shared by the layout tests that render hypotheses of real assets."""

from __future__ import annotations

import pytest

from scenewright.methods.layout.pose import PoseSettings


@pytest.fixture(scope="module")
def index(small_library):
    """The retrieval index of the session's small real library."""
    from scenewright.library import Library
    from scenewright.methods.layout.retrieval import LibraryIndex
    return LibraryIndex(Library.open(small_library))


@pytest.fixture(scope="module")
def window_renderer():
    """A renderer of the pose windows' size, released after the module."""
    from scenewright.render import Renderer
    r = Renderer(PoseSettings().render_size, PoseSettings().render_size)
    yield r
    r.release()


def floor_capture(index, items, eye=(0.0, 1.5, 1.0), target=(0.0, 0.3, -2.0), size: int = 160,
                  label: str = "furniture"):
    """Render ``items`` [(asset_id, world_from_object, instance id)] standing on a floor, seen from
    ``eye`` towards ``target`` (metres), into a ``size``² capture with exact seg and depth; returns
    (capture, world_from_camera). Every item gets ``label``."""
    import numpy as np
    import trimesh

    from scenewright.capture import Capture
    from scenewright.geometry.transforms import look_at
    from scenewright.render import RenderItem, Renderer
    K = np.array([[size * 0.8, 0, size / 2], [0, size * 0.8, size / 2], [0, 0, 1]], float)
    wfc = look_at(np.array(eye, float), np.array(target, float))
    floor = trimesh.creation.box([20.0, 0.02, 20.0])
    floor.apply_translation([0, -0.01, 0])
    render_items = [RenderItem(floor, np.eye(4), 99)] + [RenderItem(index.mesh(a), m, i) for a, m, i in items]
    r = Renderer(size, size)
    try:
        res = r.render(render_items, K, wfc)
    finally:
        r.release()
    seg = np.where(res.instance_ids == 99, 0, res.instance_ids).astype(np.int32)
    depth = np.where(res.instance_ids > 0, res.depth, np.nan).astype(np.float32)
    return Capture(rgb=np.ascontiguousarray(res.rgb[..., :3]).astype(np.uint8), K=K, seg=seg, depth=depth,
                   labels={i: label for _, _, i in items}), wfc
