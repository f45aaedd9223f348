"""llvmpipe's rasteriser thread count: one by default, the user's ``LP_NUM_THREADS`` kept, the same pixels.

``scenewright.render.gl`` makes its context with one llvmpipe rasteriser thread unless the
environment says otherwise (small renders cost half the CPU so). Each case runs in a new
process, since the count is read once, when the process's context is made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

# A textured, smooth-shaded sphere and a box in a 96² window (render-and-compare's size),
# written with the thread count the context was made with.
RENDER = r"""
import json, os, sys
import numpy as np, trimesh
from PIL import Image
from scenewright.render import Renderer, RenderItem
from scenewright.render.gl import gl_info
sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
uv = np.stack([np.arctan2(sphere.vertices[:, 0], sphere.vertices[:, 2]) / (2 * np.pi) + 0.5,
               sphere.vertices[:, 1] + 0.5], 1)
texture = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
sphere.visual = trimesh.visual.TextureVisuals(uv=uv, image=texture)
box = trimesh.creation.box((0.6, 0.4, 0.3))
K = np.array([[110.0, 0, 47.5], [0, 110.0, 47.5], [0, 0, 1]])
wfc = np.eye(4); wfc[:3, 3] = [0.1, 0.0, -2.5]
place = np.eye(4); place[:3, 3] = [0.55, 0.1, -0.3]
with Renderer(96, 96) as r:
    res = r.render([RenderItem(sphere, np.eye(4), 1), RenderItem(box, place, 2)], K, wfc)
np.savez(sys.argv[1], rgb=res.rgb, ids=res.instance_ids, depth=res.depth)
print(json.dumps(gl_info()))
"""


def _render(tmp_path: Path, name: str, threads: str | None) -> tuple[dict, dict]:
    env = {k: v for k, v in os.environ.items() if k != "LP_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT)
    if threads is not None:
        env["LP_NUM_THREADS"] = threads
    out = tmp_path / f"{name}.npz"
    proc = subprocess.run([sys.executable, "-c", RENDER, str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(proc.stdout.strip().splitlines()[-1]), arrays


def test_one_rasteriser_by_default_the_users_count_kept_and_the_same_pixels(tmp_path):
    info_default, ours = _render(tmp_path, "default", None)
    info_four, four = _render(tmp_path, "four", "4")
    assert info_default["llvmpipe_threads"] == "1"
    assert info_four["llvmpipe_threads"] == "4"
    assert (ours["ids"] == 1).sum() > 500 and (ours["ids"] == 2).sum() > 100     # both drawn
    for key in ("rgb", "ids", "depth"):
        np.testing.assert_array_equal(ours[key], four[key])
