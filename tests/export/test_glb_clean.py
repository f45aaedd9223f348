"""Every GLB scenewright writes (scene.glb of the layout, boxes and midi methods, the GLB export with
and without the room, the web page's downloads) passes the Khronos glTF validator with 0 errors
and 0 warnings, and is clean: labels, category, asset and licence on the nodes, unit normals,
named materials, flat colours as baseColorFactor, no trimesh leftovers, no local paths."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from scenewright.export import ExportSettings, export_scene
from scenewright.export.glb import PALETTE_MAX_COLOURS, PALETTE_MAX_PIXELS, flat_colour_parts, scene_glb
from scenewright.methods.base import Resources
from scenewright.run import run_to_folder
from scenewright.scene import read_scene

from .conftest import assert_valid_glb, glb_json, validate_glb


@pytest.fixture(scope="session")
def layout_dir(bench, tmp_path_factory):
    """scene.glb as the layout method writes it (real library assets, the photo-textured room)."""
    out = tmp_path_factory.mktemp("layout") / "scene"
    run_to_folder(bench / "scene_0000" / "capture", out, "layout",
                  resources=Resources(library=bench.parent / "library"), preview=False, ceiling=True)
    return out


@pytest.fixture(scope="session")
def boxes_run_dir(bench, tmp_path_factory):
    """scene.glb as the boxes method writes it through the one write path (room from the photo)."""
    out = tmp_path_factory.mktemp("boxes_run") / "scene"
    run_to_folder(bench / "scene_0000" / "capture", out, "boxes", preview=False)
    return out


@pytest.fixture(scope="session")
def glb_exports(graph_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("glb")
    return {"room": export_scene(graph_dir, out / "room.glb"),
            "no_room": export_scene(graph_dir, out / "bare.glb", settings=ExportSettings(room=False, camera=False)),
            "no_textures": export_scene(graph_dir, out / "flat.glb", settings=ExportSettings(textures=False))}


def _binary(path):
    data = path.read_bytes()
    (n,) = struct.unpack_from("<I", data, 12)
    return data[20 + n + 8:]


def _images(path):
    """PIL images embedded in a GLB."""
    import io

    from PIL import Image
    doc, blob = glb_json(path), _binary(path)
    out = []
    for image in doc.get("images", []):
        view = doc["bufferViews"][image["bufferView"]]
        start = view.get("byteOffset", 0)
        out.append(Image.open(io.BytesIO(blob[start:start + view["byteLength"]])))
    return out


def _accessor(path, index):
    doc, blob = glb_json(path), _binary(path)
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    return np.frombuffer(blob, dtype, acc["count"] * width, start).reshape(acc["count"], width)


def test_validator_finds_errors(tmp_path, boxes_run_dir):
    """The validator as wired here does report a broken file (so 0 errors below means something)."""
    path = tmp_path / "broken.glb"
    data = bytearray((boxes_run_dir / "scene.glb").read_bytes())
    doc = glb_json(boxes_run_dir / "scene.glb")
    doc["nodes"][0]["mesh"] = 999                     # a node pointing at a mesh that does not exist
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    (n,) = struct.unpack_from("<I", data, 12)
    rest = bytes(data[20 + n:])
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(text) + len(rest))
                     + struct.pack("<I4s", len(text), b"JSON") + text + rest)
    (report,) = validate_glb(path)
    assert report["issues"]["numErrors"] >= 1


def test_every_glb_we_write_is_valid(layout_dir, boxes_run_dir, glb_exports, graph_dir, tmp_path):
    # the web page's download without the room is written by the same call as in app/jobs.py
    page = tmp_path / "page.glb"
    page.write_bytes(scene_glb(read_scene(layout_dir), ExportSettings(room=False, double_sided=False)))
    paths = [layout_dir / "scene.glb", boxes_run_dir / "scene.glb", graph_dir / "scene.glb", page,
             *glb_exports.values()]
    assert_valid_glb(*paths)


def test_nodes_carry_label_category_asset_and_licence(layout_dir, graph_dir, glb_exports):
    for scene_dir, path in ((layout_dir, layout_dir / "scene.glb"), (graph_dir, glb_exports["room"])):
        scene = read_scene(scene_dir)
        credits = {a["asset_id"]: a for a in scene.attribution}
        nodes = {n["name"]: n for n in glb_json(path)["nodes"]}
        assert scene.instances
        for inst in scene.instances:
            data = nodes[inst.node]["extras"]["scenewright"]
            assert data["instance_id"] == inst.id and data["label"] == inst.label
            assert data["category"] == inst.category and data["asset_id"] == inst.asset_id
            assert data["license"] == credits[inst.asset_id]["license"] != ""
            assert data["creator"] == credits[inst.asset_id]["creator"]
        for name in scene.room:
            assert nodes[name]["extras"]["scenewright"]["room"] in ("floor", "wall", "ceiling")


def test_unit_normals_named_materials_no_leftovers(layout_dir, boxes_run_dir, glb_exports):
    """Normals wherever a mesh had them or is smooth (assets, the room); the boxes (creases and
    no normals of their own) have none, so glTF clients shade them flat as the preview does."""
    from scenewright.render.meshprep import has_own_vertex_normals
    for path, scene_dir in ((layout_dir / "scene.glb", layout_dir), (boxes_run_dir / "scene.glb", boxes_run_dir),
                            (glb_exports["room"], None)):
        doc = glb_json(path)
        boxes = path.parent == boxes_run_dir
        for node in doc["nodes"]:
            if "mesh" not in node:
                continue
            mesh = doc["meshes"][node["mesh"]]
            assert "extras" not in mesh                    # nothing trimesh kept for itself
            for prim in mesh["primitives"]:
                if boxes and node["name"].startswith("inst_"):
                    assert "NORMAL" not in prim["attributes"]
                    continue
                if "NORMAL" not in prim["attributes"]:     # only a mesh that has none of its own
                    assert scene_dir is None or not has_own_vertex_normals(
                        read_scene(scene_dir).instance(int(node["name"][5:])).mesh)
                    continue
                normals = _accessor(path, prim["attributes"]["NORMAL"]).astype(np.float64)
                n_vertices = doc["accessors"][prim["attributes"]["POSITION"]]["count"]
                assert len(normals) == n_vertices
                # float32 rounding of a unit vector: a few ulp of 1
                np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
        names = [m.get("name") for m in doc["materials"]]
        assert all(names) and len(set(names)) == len(names)
        text = json.dumps(doc)
        for leftover in ("from_gltf_primitive", "units", "trimesh"):
            assert leftover not in text
    # the boxes keep the method's 8 vertices each (nothing welded or split)
    back = read_scene(boxes_run_dir)
    assert all(len(i.mesh.vertices) == 8 for i in back.instances)


def test_no_local_path_anywhere(layout_dir, glb_exports, bench, graph_dir):
    """The folders the scenes came from (absolute paths of this machine) appear in no GLB."""
    for path in (layout_dir / "scene.glb", *glb_exports.values()):
        blob = path.read_bytes()
        for local in (str(bench.parent), str(graph_dir), str(layout_dir), "/tmp/", "/home/", "/root/"):
            assert local.encode() not in blob, f"{path}: holds {local}"

        def strings(value):
            if isinstance(value, dict):
                for v in value.values():
                    yield from strings(v)
            elif isinstance(value, list):
                for v in value:
                    yield from strings(v)
            elif isinstance(value, str):
                yield value
        assert not [s for s in strings(glb_json(path)) if s.startswith("/")]


def test_flat_colours_are_factors_not_tiny_textures(layout_dir, boxes_run_dir, glb_exports):
    for path in (layout_dir / "scene.glb", boxes_run_dir / "scene.glb", glb_exports["room"]):
        for image in _images(path):
            rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
            palette = image.size[0] * image.size[1] <= PALETTE_MAX_PIXELS and \
                len(np.unique(rgb, axis=0)) <= PALETTE_MAX_COLOURS
            assert not palette, f"{path}: a {image.size} texture of flat colours"
    # the boxes are plain colours: factors, and the only images are the room's photo textures
    doc = glb_json(boxes_run_dir / "scene.glb")
    scene = read_scene(boxes_run_dir)
    nodes = {n["name"]: n for n in doc["nodes"]}
    for inst in scene.instances:
        (prim,) = doc["meshes"][nodes[inst.node]["mesh"]]["primitives"]
        pbr = doc["materials"][prim["material"]]["pbrMetallicRoughness"]
        assert "baseColorTexture" not in pbr and "COLOR_0" not in prim["attributes"]
        np.testing.assert_allclose(pbr["baseColorFactor"], inst.mesh.visual.vertex_colors[0] / 255.0, atol=1e-6)
    assert len(doc.get("images", [])) == sum(
        hasattr(m.visual, "material") for m in scene.room.values())


def test_palette_atlas_becomes_one_primitive_per_colour():
    """A 4×2 atlas of two flat colours (as trimesh packs an asset's plain materials) on a mesh
    whose triangles each sample one of them: two primitives with those colours as factors."""
    import trimesh
    from PIL import Image

    from scenewright.export.common import surface_of
    atlas = np.zeros((2, 4, 4), np.uint8)
    atlas[:, :2] = (200, 30, 30, 255)
    atlas[:, 2:] = (20, 40, 220, 255)
    box = trimesh.creation.box()
    faces = np.asarray(box.faces)
    left = np.arange(len(faces)) % 2 == 0
    mesh = trimesh.Trimesh(box.vertices[faces.reshape(-1)], np.arange(faces.size).reshape(-1, 3), process=False)
    uv = np.repeat(np.where(left, 0.2, 0.8), 3)[:, None] * [1, 0] + [0, 0.5]
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(atlas, "RGBA")))
    parts = flat_colour_parts(mesh, surface_of(mesh))
    assert len(parts) == 2
    by_colour = {tuple(np.round(f * 255).astype(int)): set(idx.tolist()) for idx, f in parts}
    assert by_colour[(200, 30, 30, 255)] == set(np.flatnonzero(left).tolist())
    assert by_colour[(20, 40, 220, 255)] == set(np.flatnonzero(~left).tolist())


def test_round_trip_renders_the_same(layout_dir):
    """Writing scene.glb again from the scene read back changes nothing a renderer shows
    (palette atlases became factors, vertex colours stay, photo textures stay)."""
    from scenewright.render import render_scene
    from scenewright.scene import write_scene
    scene = read_scene(layout_dir)
    again_dir = layout_dir.parent / "again"
    write_scene(scene, again_dir, overwrite=True)
    again = read_scene(again_dir)
    a, b = render_scene(scene), render_scene(again)
    diff = np.abs(a.astype(int) - b.astype(int)).max(-1)
    assert np.mean(diff <= 2) > 0.999


def test_midi_scene_glb_is_valid(tiny_midi, tmp_path):
    """MIDI's scene.glb (the tiny checkpoint on the original's golden rgb + seg) passes too."""
    import shutil

    from scenewright.cli import main as cli_main
    capture = tmp_path / "capture"
    capture.mkdir()
    shutil.copy(tiny_midi / "golden" / "scene_rgb.png", capture / "rgb.png")
    shutil.copy(tiny_midi / "golden" / "scene_seg.png", capture / "seg.png")
    out = tmp_path / "midi"
    assert cli_main(["reconstruct", str(capture), "-o", str(out), "--method", "midi", "--weights", str(tiny_midi),
                     "--set", "steps=2", "--set", "octree_depth=4", "--set", "smooth=false", "--no-preview"]) == 0
    assert_valid_glb(out / "scene.glb")
    nodes = [n for n in glb_json(out / "scene.glb")["nodes"] if "mesh" in n]
    assert len(nodes) == len(read_scene(out).instances) > 0
