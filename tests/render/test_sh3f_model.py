"""A real textured model: a Sweet Home 3D catalog OBJ (+MTL + JPEG texture) loaded by trimesh."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from scenewright.capture import intrinsics_from_hfov
from scenewright.render import Renderer, RenderItem, camera_for_bounds

CATALOG = Path("/usr/share/sweethome3d/furniture/BlendSwap-CC-0.sh3f")


def catalog_models(path: Path) -> list[str]:
    """OBJ paths the catalog's properties list (``model#N=/folder/name.obj``)."""
    with zipfile.ZipFile(path) as zf:
        text = zf.read("PluginFurnitureCatalog.properties").decode("latin-1")
    return [line.split("=", 1)[1].strip().lstrip("/") for line in text.splitlines()
            if line.startswith("model#")]


@pytest.mark.skipif(not CATALOG.is_file(), reason="Sweet Home 3D catalog not installed")
def test_textured_catalog_model_renders_its_texture(tmp_path):
    model = next(m for m in catalog_models(CATALOG) if m.endswith("bookcase/bookcase.obj"))
    folder = model.rsplit("/", 1)[0] + "/"
    with zipfile.ZipFile(CATALOG) as zf:
        zf.extractall(tmp_path, [n for n in zf.namelist() if n.startswith(folder)])
    mesh = trimesh.load(tmp_path / model, force="mesh")
    assert mesh.visual.kind == "texture" and mesh.visual.material.image is not None
    plain = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)   # same shape, no material

    size = 192
    K = intrinsics_from_hfov(size, size, 50)
    world_from_camera = camera_for_bounds(mesh.bounds, K, size, size, view_direction=(0.4, 0.3, 1.0))
    r = Renderer(size, size)
    try:
        res = r.render([RenderItem(mesh, np.eye(4), 1)], K, world_from_camera, far=1000.0)  # units: cm
        grey = r.render([RenderItem(plain, np.eye(4), 1)], K, world_from_camera, far=1000.0)
    finally:
        r.release()
    drawn = res.instance_ids == 1
    assert 0.1 < drawn.mean() < 0.9
    assert np.array_equal(drawn, grey.instance_ids == 1)
    pix = res.rgb[drawn].astype(int)
    chroma = pix.max(axis=1) - pix.min(axis=1)
    # the wood texture is coloured; the untextured render is grey everywhere
    assert np.median(chroma) > 15 or np.percentile(chroma, 90) > 30
    grey_pix = grey.rgb[drawn].astype(int)
    assert (grey_pix.max(axis=1) - grey_pix.min(axis=1)).max() <= 1
    # and not one flat colour: the texture's grain shows
    assert pix.std(axis=0).mean() > 8
