"""The benchmark generator end to end on a small real library, with the real renderer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scenewright.bench.furnish import FurnishSettings
from scenewright.bench.generate import make_bench
from scenewright.capture import load_capture
from scenewright.cli import main
from scenewright.errors import InputError
from scenewright.geometry.stability import tipping_angle
from scenewright.library.categories import category_info
from scenewright.scene import read_scene

from .checks import (back_gap_to_wall, camera_params, front, interpenetrating_pairs, rest_gap_on,
                     wall_planes)
from .conftest import small_settings


def scenes(bench: Path):
    manifest = json.loads((bench / "manifest.json").read_text())
    return manifest, [bench / name for name in manifest["scenes"]]


def test_manifest_and_folders(bench, small_library):
    manifest, folders = scenes(bench)
    assert manifest["format"] == "bench/1"
    assert manifest["scenes"] == ["scene_0000", "scene_0001", "scene_0002"]
    assert Path(manifest["library"]) == Path(small_library).resolve()
    assert manifest["library_version"]
    assert manifest["generator"]["seed"] == 0 and manifest["generator"]["size"] == 128
    assert len(manifest["timings_s"]["per_scene"]) == 3
    assert all(t["total"] > 0 for t in manifest["timings_s"]["per_scene"])
    for folder in folders:
        assert sorted(p.name for p in (folder / "capture").iterdir()) == \
            ["camera.json", "depth.npy", "instances.json", "rgb.png", "seg.png"]
        assert (folder / "gt" / "scene.glb").is_file() and (folder / "gt" / "scene.json").is_file()


def test_capture_and_gt_agree(bench):
    _, folders = scenes(bench)
    for folder in folders:
        cap = load_capture(folder / "capture")
        gt = read_scene(folder / "gt")
        ids = sorted(inst.id for inst in gt.instances)
        assert cap.instance_ids == ids                       # seg.png ids == gt ids, exactly
        assert sorted(cap.labels) == ids
        assert cap.width == cap.height == 128
        np.testing.assert_allclose(cap.K, gt.camera.K)
        assert len(ids) >= 3
        n_pix = cap.width * cap.height
        for inst in gt.instances:
            # visibility filter: every kept instance covers ≥ 0.1 % of the image
            assert np.sum(cap.seg == inst.id) >= 0.001 * n_pix
            assert inst.label == cap.labels[inst.id] and inst.label
            assert inst.category and inst.asset_id and inst.mesh is not None
            np.testing.assert_allclose(inst.size, inst.mesh.extents, atol=1e-4)
        assert {a["asset_id"] for a in gt.attribution} >= {i.asset_id for i in gt.instances}
        assert all(a["license"] and a["catalog"] for a in gt.attribution)
        assert set(gt.room) == {"floor", "wall_0", "wall_1", "wall_2", "wall_3", "ceiling"}
        assert gt.floor == {"normal": [0.0, 1.0, 0.0], "height": 0.0} and len(gt.walls) == 4
        # depth is metric and agrees with the scene: every pixel sees a surface of the room
        assert np.isfinite(cap.depth).all() and 0.05 < np.nanmin(cap.depth) and np.nanmax(cap.depth) < 12


def test_rerendering_gt_reproduces_seg(bench):
    from scenewright.render import Renderer, RenderItem
    _, folders = scenes(bench)
    with Renderer(128, 128) as r:
        for folder in folders:
            cap = load_capture(folder / "capture")
            gt = read_scene(folder / "gt")
            items = [RenderItem(m, np.eye(4), 0) for _, m in sorted(gt.room.items())]
            items += [RenderItem(i.mesh, i.world_from_object, i.id) for i in gt.instances]
            res = r.render(items, gt.camera.K, gt.camera.world_from_camera)
            agree = np.mean(res.instance_ids == cap.seg)
            assert agree >= 0.99, f"{folder.name}: {agree:.4f}"
            both = np.isfinite(res.depth) & np.isfinite(cap.depth)
            assert np.median(np.abs(res.depth[both] - cap.depth[both])) < 0.01


def test_room_rules(bench):
    _, folders = scenes(bench)
    n_checked = {"wall": 0, "facing": 0, "on": 0}
    for folder in folders:
        gt = read_scene(folder / "gt")
        walls = wall_planes(gt)
        on = {r.subject: r.object for r in gt.relations if r.type == "on"}
        for rel in gt.relations:
            if rel.type == "against_wall":
                inst = gt.instance(rel.subject)
                gap = back_gap_to_wall(inst, walls[rel.wall])
                assert -1e-4 <= gap <= 0.02, (folder.name, inst.asset_id, gap)
                assert front(inst) @ walls[rel.wall][1] > 0.999     # facing into the room
                n_checked["wall"] += 1
            elif rel.type == "facing":
                chair, table = gt.instance(rel.subject), gt.instance(rel.object)
                to_table = table.world_mesh().bounds.mean(axis=0) - chair.world_mesh().bounds.mean(axis=0)
                to_table[1] = 0
                # a chair at a desk faces its front; around a table it faces the centre
                assert front(chair) @ to_table / np.linalg.norm(to_table) > 0.7
                n_checked["facing"] += 1
            elif rel.type == "same_asset_group":
                assert len({gt.instance(m).asset_id for m in rel.members}) == 1
        for inst in gt.instances:
            lowest = inst.world_mesh().vertices[:, 1].min()
            if inst.id in on:
                assert category_info(gt.instance(on[inst.id]).category).support
                gap = rest_gap_on(inst, gt.instance(on[inst.id]))
                assert 0.0 <= gap <= 0.005, (folder.name, inst.asset_id, gap)
                # it stands: a nudge of a few degrees does not tip it over
                assert tipping_angle(inst.mesh) >= FurnishSettings().min_tipping, (folder.name, inst.asset_id)
                n_checked["on"] += 1
            elif category_info(inst.category).role == "small":
                pytest.fail(f"{folder.name}: small {inst.asset_id} has no support relation")
            else:
                assert abs(lowest) <= 0.005, (folder.name, inst.asset_id, lowest)   # on the floor
        assert interpenetrating_pairs(gt) == []
    assert n_checked["wall"] >= 2 and n_checked["on"] >= 1


def test_camera_ranges(bench):
    _, folders = scenes(bench)
    for folder in folders:
        gt = read_scene(folder / "gt", load_meshes=False)
        c = camera_params(gt)
        assert 1.2 <= c["height"] <= 1.7
        assert 10 - 1e-6 <= c["pitch_deg"] <= 35 + 1e-6
        assert 55 <= c["hfov_deg"] <= 75
        assert c["roll_deg"] < 1e-6
        room = gt.extra["bench"]["room"]
        x, z = c["position"][0], c["position"][2]
        to_walls = [room["width"] / 2 - abs(x), room["depth"] / 2 - abs(z)]
        assert min(to_walls) > 0 and 0.2 - 1e-6 <= min(to_walls) <= 0.9 + 1e-6    # near a wall, inside


def test_same_seed_same_files_other_seed_differs(bench, small_library, tmp_path):
    again = tmp_path / "again"
    make_bench(again, small_library, small_settings(scenes=2), progress=False)
    for name in ["scene_0000", "scene_0001"]:
        for f in sorted((bench / name).rglob("*")):
            if f.is_file():
                assert f.read_bytes() == (again / f.relative_to(bench)).read_bytes(), f
    m0, m1 = (json.loads((p / "manifest.json").read_text()) for p in (bench, again))
    assert m0["generator"] | {"scenes": 0} == m1["generator"] | {"scenes": 0}
    assert m0["scene_info"][:2] == m1["scene_info"]
    other = tmp_path / "other"
    make_bench(other, small_library, small_settings(scenes=1, seed=1), progress=False)
    assert (other / "scene_0000/capture/rgb.png").read_bytes() != (bench / "scene_0000/capture/rgb.png").read_bytes()


def test_assets_from_restricts_catalogs(small_library, tmp_path):
    out = tmp_path / "held"
    make_bench(out, small_library, small_settings(scenes=2, assets_from=("BlendSwap-CC-0",)), progress=False)
    for folder in scenes(out)[1]:
        gt = read_scene(folder / "gt", load_meshes=False)
        assert gt.instances and all(i.asset_id.startswith("BlendSwap-CC-0/") for i in gt.instances)
        assert all(a["catalog"] == "BlendSwap-CC-0" for a in gt.attribution)


@pytest.mark.parametrize("kw, words", [
    ({"scenes": 0}, "--scenes"), ({"size": 8}, "--size"), ({"size": 100000}, "--size"),
    ({"objects": (5, 2)}, "--objects"), ({"assets_from": ("NoSuchCatalog",)}, "NoSuchCatalog"),
    ({"themes": ("kitchen",)}, "theme"), ({"seed": -1}, "--seed"), ({"min_visible": 20}, "--min-visible"),
])
def test_bad_parameters(small_library, tmp_path, kw, words):
    with pytest.raises(InputError, match=words):
        make_bench(tmp_path / "x", small_library, small_settings(**kw), progress=False)
    assert not (tmp_path / "x").exists()


def test_bad_library_and_cli_exit_codes(small_library, tmp_path, capsys):
    with pytest.raises(InputError, match="library"):
        make_bench(tmp_path / "x", tmp_path / "nolib", small_settings(), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        make_bench(tmp_path / "x", empty, small_settings(), progress=False)
    assert main(["bench", "make", "-o", str(tmp_path / "y"), "--library", str(small_library),
                 "--scenes", "0"]) == 2
    assert main(["bench", "make", "-o", str(tmp_path / "y"), "--library", str(small_library),
                 "--objects", "ten"]) == 2
    assert main(["bench", "make", "-o", str(tmp_path / "y"), "--library", str(small_library),
                 "--assets-from", "Nope"]) == 2
    assert "Nope" in capsys.readouterr().err


def test_cli_makes_a_bench_and_keeps_existing(small_library, tmp_path):
    out = tmp_path / "cli"
    args = ["bench", "make", "-o", str(out), "--library", str(small_library), "--scenes", "1",
            "--seed", "3", "--size", "96", "--objects", "4-6", "--quiet"]
    assert main(args) == 0
    rgb = np.asarray(Image.open(out / "scene_0000/capture/rgb.png"))
    assert rgb.shape == (96, 96, 3) and rgb.std() > 5
    before = (out / "manifest.json").read_bytes()
    assert main(args) == 2                                  # exists: not overwritten
    assert (out / "manifest.json").read_bytes() == before


def test_checks_catch_broken_scenes(bench):
    """The rule checks above can fail: break a gt scene on purpose and they notice."""
    _, folders = scenes(bench)
    for folder in folders:
        gt = read_scene(folder / "gt")
        on = [r for r in gt.relations if r.type == "on"]
        walls = [r for r in gt.relations if r.type == "against_wall"]
        if not (on and walls):
            continue
        small, support = gt.instance(on[0].subject), gt.instance(on[0].object)
        small.world_from_object = small.world_from_object.copy()
        small.world_from_object[1, 3] += 0.02                  # lifted 2 cm: floating
        assert rest_gap_on(small, support) > 0.005
        inst = gt.instance(walls[0].subject)
        moved = inst.world_from_object.copy()
        moved[:3, 3] += 0.05 * wall_planes(gt)[walls[0].wall][1]   # 5 cm off the wall
        inst.world_from_object = moved
        assert back_gap_to_wall(inst, wall_planes(gt)[walls[0].wall]) > 0.02
        other = next(i for i in gt.instances if i.id not in (inst.id, small.id))
        other.world_from_object = inst.world_from_object.copy()  # two things in one place
        assert interpenetrating_pairs(gt)
        return
    pytest.fail("no scene with both an 'on' and an 'against_wall' relation")


def test_damaged_asset_is_named(small_library, tmp_path):
    import shutil
    lib = tmp_path / "lib"
    shutil.copytree(small_library, lib)
    damaged = sorted(lib.rglob("mesh.glb"))
    assert damaged
    for f in damaged:
        f.write_bytes(b"not a glb")
    with pytest.raises(InputError, match="cannot load the mesh of"):
        make_bench(tmp_path / "x", lib, small_settings(scenes=1), progress=False)
    assert not (tmp_path / "x").exists()


def test_cut_by_frame_reads_the_border_of_the_id_image():
    from scenewright.bench.generate import cut_by_frame
    ids = np.zeros((6, 8), np.int32)
    ids[0, 3] = 1          # touches the top edge
    ids[2:4, 2:5] = 2      # inside
    ids[3, 7] = 3          # touches the right edge
    np.testing.assert_array_equal(cut_by_frame(ids, 4), [True, False, True, False])


def test_min_truncated_gives_views_with_objects_cut_by_the_frame(small_library, tmp_path):
    from scenewright.bench.generate import cut_by_frame
    out = tmp_path / "trunc"
    manifest = make_bench(out, small_library, small_settings(scenes=2, min_truncated=2, attempts=12),
                          progress=False)
    for info, folder in zip(manifest["scene_info"], scenes(out)[1]):
        seg = load_capture(folder / "capture").seg
        gt = read_scene(folder / "gt", load_meshes=False)
        cut = cut_by_frame(seg, max(i.id for i in gt.instances))
        assert cut.sum() >= 2 and info["cut_by_frame"] == cut.sum()
    assert manifest["generator"]["min_truncated"] == 2
    with pytest.raises(InputError, match="--min-truncated"):
        make_bench(tmp_path / "x", small_library, small_settings(min_truncated=9, min_visible=3), progress=False)
