"""Fixtures: a small real library (textured Sweet Home 3D assets), a one-scene benchmark made
from it, the box baseline's scene of the same capture, and exports of them, once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

CATALOGS = ["BlendSwap-CC-0", "KatorLegaz"]
# low-poly, textured assets of two catalogs (a public-domain one and a CC-BY one)
ASSETS = ["BlendSwap-CC-0/couch2", "BlendSwap-CC-0/bedsideTable2", "BlendSwap-CC-0/oakTable",
          "BlendSwap-CC-0/chair2", "BlendSwap-CC-0/desklamp", "BlendSwap-CC-0/littlePlant",
          "KatorLegaz/dining-chair", "KatorLegaz/futon-couch", "KatorLegaz/glass-dining-table"]


@pytest.fixture(scope="session")
def bench(furniture, tmp_path_factory) -> Path:
    from scenewright.bench.generate import BenchSettings, make_bench
    from scenewright.library import BuildSettings, build_library
    root = tmp_path_factory.mktemp("export")
    build_library(root / "library", [furniture / f"{c}.sh3f" for c in CATALOGS], workers=1, only=ASSETS,
                  progress=False, settings=BuildSettings(n_samples=256, voxel_grid=8, views=False))
    make_bench(root / "bench", root / "library",
               BenchSettings(scenes=1, seed=0, size=128, objects=(5, 7)), progress=False)
    return root / "bench"


@pytest.fixture(scope="session")
def gt_dir(bench) -> Path:
    """The benchmark's ground-truth scene folder: real library assets with textures, room, camera."""
    return bench / "scene_0000" / "gt"


@pytest.fixture(scope="session")
def boxes_dir(bench, tmp_path_factory) -> Path:
    """The box baseline's scene of the same capture (plain coloured boxes, no assets)."""
    from scenewright.capture import load_capture
    from scenewright.methods.boxes import reconstruct_boxes
    from scenewright.scene import write_scene
    out = tmp_path_factory.mktemp("boxes") / "scene"
    write_scene(reconstruct_boxes(load_capture(bench / "scene_0000" / "capture")), out)
    return out


@pytest.fixture(scope="session")
def graph_dir(gt_dir, tmp_path_factory) -> Path:
    """The ground truth with every relation type, an off-centre, non-square-pixel camera and one
    object scaled non-uniformly along its own axes (world_from_object = T R S) and one textured
    object tinted by its base colour factor."""
    from scenewright.scene import Relation, read_scene, write_scene
    scene = read_scene(gt_dir)
    ids = [i.id for i in scene.instances]
    assert len(ids) >= 3 and scene.walls
    scene.relations = [Relation("on", subject=ids[1], object=ids[0]),
                       Relation("against_wall", subject=ids[0], wall=1),
                       Relation("facing", subject=ids[2], object=ids[0]),
                       Relation("same_asset_group", members=[ids[1], ids[2]])]
    K = np.array(scene.camera.K, float)
    K[0, 2] += 9.0
    K[1, 2] -= 5.0
    K[1, 1] *= 1.1
    scene.camera.K = K
    scene.camera.height = 96
    scene.instances[0].world_from_object = scene.instances[0].world_from_object @ np.diag([1.3, 0.8, 1.1, 1.0])
    # a tinted texture: glTF multiplies the image by baseColorFactor
    tinted_instance(scene).mesh.visual.material.baseColorFactor = np.array([200, 120, 60, 255], np.uint8)
    out = tmp_path_factory.mktemp("graph") / "scene"
    write_scene(scene, out)
    return out


def glb_json(path: Path) -> dict:
    """The JSON chunk of a GLB file (the glTF document), read as the format defines it."""
    import json
    import struct
    data = Path(path).read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert magic == b"glTF" and version == 2 and length == len(data)
    chunk_length, chunk_type = struct.unpack_from("<I4s", data, 12)
    assert chunk_type == b"JSON"
    return json.loads(data[20:20 + chunk_length])


def tinted_instance(scene):
    """The first instance with a photo-like texture (not a palette of flat colours: scene.glb
    stores those as colour factors)."""
    for inst in scene.instances:
        image = getattr(getattr(inst.mesh.visual, "material", None), "baseColorTexture", None)
        if image is not None and len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 16:
            return inst
    raise AssertionError("the fixture library has no textured asset in this scene")


def glb_nodes(scene_dir: Path) -> dict[str, dict]:
    """Straight from scene.glb: per top-level node (its primitives merged, as glTF means them),
    its transform, vertex count and world-space bounds (2, 3) — what every exported file must
    reproduce."""
    from scenewright.scene import load_glb_nodes
    out: dict[str, dict] = {}
    for node, (tf, mesh) in load_glb_nodes(scene_dir / "scene.glb").items():
        world = trimesh.transform_points(mesh.vertices, tf)
        out[node] = {"transform": tf, "n_vertices": len(mesh.vertices),
                     "bounds": np.array([world.min(0), world.max(0)])}
    return out


def project(K: np.ndarray, world_from_camera: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) world points → (N, 2) pixel coordinates with the OpenCV pinhole K."""
    cam = trimesh.transform_points(points, np.linalg.inv(world_from_camera))
    uv = cam @ np.asarray(K, float).T
    return uv[:, :2] / uv[:, 2:]


VALIDATOR = Path(__file__).resolve().parents[2] / "tools" / "gltf-validator"


def validate_glb(*paths: Path) -> list[dict]:
    """The Khronos glTF validator's report per file (npm ``gltf-validator``, pinned in
    tools/gltf-validator; ``make setup`` installs it with ``npm ci``)."""
    import json
    import shutil
    import subprocess
    node = shutil.which("node")
    assert node, "node is not installed: run `make setup` (scripts/setup-system.sh installs nodejs)"
    assert (VALIDATOR / "node_modules" / "gltf-validator").is_dir(), \
        f"the glTF validator is not installed: run `make setup` (npm ci --prefix {VALIDATOR})"
    proc = subprocess.run([node, str(VALIDATOR / "validate.js"), *map(str, paths)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_valid_glb(*paths: Path) -> None:
    """0 errors and 0 warnings from the Khronos validator (infos and hints are allowed)."""
    for path, report in zip(paths, validate_glb(*paths)):
        issues = report["issues"]
        bad = [f"{m['code']} {m.get('pointer', '')}: {m['message']}" for m in issues["messages"]
               if m["severity"] <= 1]
        assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, f"{path}: " + "; ".join(bad[:10])
