"""The layout method end to end: a real small library, a generated benchmark, the evaluator.

Everything is real: assets built by the library builder from the Debian Sweet Home 3D
catalogs, rooms furnished and rendered by the benchmark generator, reconstruction with
the real renderer, scoring by ``scenewright.evaluate``. Thresholds are ones a broken
stage fails (a wrong ICP sign, a missing floor snap, a wrong category table...).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenewright.capture import load_capture, write_capture
from scenewright.cli import main as cli_main
from scenewright.errors import InputError
from scenewright.scene import read_scene

CATALOGS = ["BlendSwap-CC-0", "KatorLegaz"]
# Light assets of two catalogs covering every placement role, two of some categories so
# retrieval has a real choice (two chairs, two tables, two bookcases, two couches).
ASSETS = [
    "BlendSwap-CC-0/couch2", "BlendSwap-CC-0/glassDoorCabinet", "BlendSwap-CC-0/bedsideTable2",
    "BlendSwap-CC-0/bookcase", "BlendSwap-CC-0/oakTable", "BlendSwap-CC-0/chair2",
    "BlendSwap-CC-0/desklamp", "BlendSwap-CC-0/littlePlant", "BlendSwap-CC-0/desk",
    "KatorLegaz/glass-dining-table", "KatorLegaz/dining-chair", "KatorLegaz/filing-cabinet",
    "KatorLegaz/full-bookcase", "KatorLegaz/futon-couch", "KatorLegaz/pedestal-vase-lamp",
]
SIZE = 192


@pytest.fixture(scope="module")
def library_dir(furniture, tmp_path_factory) -> Path:
    from scenewright.library import BuildSettings, build_library
    out = tmp_path_factory.mktemp("layout_lib") / "library"
    build_library(out, [furniture / f"{c}.sh3f" for c in CATALOGS], workers=2, only=ASSETS,
                  progress=False, settings=BuildSettings(n_samples=2048, voxel_grid=8, view_size=64))
    return out


@pytest.fixture(scope="module")
def library(library_dir):
    from scenewright.library import Library
    return Library.open(library_dir)


@pytest.fixture(scope="module")
def bench(library_dir, tmp_path_factory) -> Path:
    from scenewright.bench.generate import BenchSettings, make_bench
    out = tmp_path_factory.mktemp("layout_bench") / "bench"
    make_bench(out, library_dir, BenchSettings(scenes=3, seed=0, size=SIZE, objects=(4, 7)), progress=False)
    return out


@pytest.fixture(scope="module")
def renderer():
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.render import Renderer
    n = LayoutSettings().pose.render_size
    r = Renderer(n, n)
    yield r
    r.release()


@pytest.fixture(scope="module")
def layout_method(library):
    """The registered layout method, built once over the library (index and renderer warm)."""
    from scenewright import Resources, get_method
    resources = Resources(library=library)
    method = get_method("layout")(resources=resources)
    yield method
    method.close()
    resources.close()


@pytest.fixture(scope="module")
def predictions(bench, layout_method, tmp_path_factory) -> Path:
    from scenewright import run_to_folder
    root = tmp_path_factory.mktemp("layout_pred")
    for name in json.loads((bench / "manifest.json").read_text())["scenes"]:
        run_to_folder(bench / name / "capture", root / name, layout_method, preview=(name == "scene_0000"))
    return root


def test_end_to_end_quality(bench, predictions):
    from scenewright.evaluate.evaluator import EvalSettings, evaluate_bench
    report = evaluate_bench(predictions, bench, EvalSettings(points_per_object=1024, icp_max_points=0))
    summary, pooled = report["summary"], report["pooled"]
    assert report["n_scored"] == 3 and not report["failures"], report["failures"]
    assert summary["recovery"]["mean"] == 1.0
    assert summary["category_match"]["mean"] >= 0.95
    assert summary["exact_asset"]["mean"] >= 0.6
    assert pooled["auc_trans0.5"] >= 0.7
    assert pooled["auc_rot60_sym"] >= 0.6
    assert summary["n_interpenetrating_pairs"]["mean"] <= 0.34    # at most one pair in three scenes
    assert summary["n_floating"]["mean"] == 0
    assert summary["n_below_floor"]["mean"] == 0


def test_scene_folder_contents(bench, predictions, library):
    folder = predictions / "scene_0000"
    assert {p.name for p in folder.iterdir()} == {"scene.glb", "scene.json", "preview.png"}
    scene = read_scene(folder)
    data = json.loads((folder / "scene.json").read_text())
    capture = load_capture(bench / "scene_0000" / "capture")
    assert sorted(i.id for i in scene.instances) == capture.instance_ids
    assert set(data["timings_s"]) == {"perception", "category", "retrieval", "pose", "graph", "optimize",
                                      "export", "room", "preview"}
    assert data["method"]["name"] == "layout" and data["method"]["settings"]["seed"] == 0
    assert data["camera"]["world_from_camera"] is not None and data["floor"] == {"normal": [0.0, 1.0, 0.0],
                                                                                 "height": 0.0}
    used = {i.asset_id for i in scene.instances}
    assert {a["asset_id"] for a in data["attribution"]} == used
    for inst in scene.instances:
        assert inst.mesh is not None and inst.asset_id in library.ids
        # the GLB node holds the library mesh in its object frame, the transform places it
        lib_mesh = library.mesh(inst.asset_id)
        assert np.allclose(inst.mesh.bounds, lib_mesh.bounds, atol=1e-4)
        assert np.isclose(np.linalg.det(inst.world_from_object[:3, :3]) > 0, True)


def test_deterministic(bench, library, renderer):
    from scenewright.methods.layout.pipeline import reconstruct
    capture = load_capture(bench / "scene_0001" / "capture")
    a = reconstruct(capture, library, renderer=renderer)
    b = reconstruct(capture, library, renderer=renderer)
    for x, y in zip(a.instances, b.instances):
        assert x.asset_id == y.asset_id
        np.testing.assert_allclose(x.world_from_object, y.world_from_object, atol=1e-9)


def _edited(bench, tmp_path, edit) -> Path:
    """A copy of scene_0000's capture with ``edit(capture)`` applied."""
    capture = load_capture(bench / "scene_0000" / "capture")
    edit(capture)
    out = tmp_path / "capture"
    write_capture(capture, out)
    return out


def _run(capture_dir, method, tmp_path):
    from scenewright import run_to_folder
    return run_to_folder(capture_dir, tmp_path / "out", method, preview=False)


def test_unknown_labels_still_get_assets(bench, library, layout_method, tmp_path):
    def edit(c):
        c.labels = {i: "thingamajig" for i in c.labels}
    scene = _run(_edited(bench, tmp_path, edit), layout_method, tmp_path)
    capture = load_capture(bench / "scene_0000" / "capture")
    assert sorted(i.id for i in scene.instances) == capture.instance_ids
    assert all(i.asset_id in library.ids for i in scene.instances)
    assert {i.extra["label_match"] for i in scene.instances} == {"unknown"}


def test_tiny_holey_truncated_objects_and_depth_holes(bench, library, layout_method, tmp_path):
    def edit(c):
        new_id = max(c.instance_ids) + 1
        c.seg[c.height - 3:, 5:8] = new_id                 # 9 pixels at the border
        c.labels[new_id] = "vase"
        first = c.instance_ids[0]
        ys, xs = np.nonzero(c.seg == first)
        c.seg[ys[::3], xs[::3]] = 0                        # holes in a mask
        c.depth[:, : c.width // 4] = np.nan                # a band of unknown depth
        c.depth[c.seg == c.instance_ids[-2]] = np.nan      # an object without any depth
    folder = _edited(bench, tmp_path, edit)
    capture = load_capture(folder)
    scene = _run(folder, layout_method, tmp_path)
    assert sorted(i.id for i in scene.instances) == capture.instance_ids
    for inst in scene.instances:
        assert np.all(np.isfinite(inst.world_from_object))
    # the object without depth is still placed near where it is (ray through its mask)
    blind = capture.instance_ids[-2]
    pred = scene.instance(blind)
    assert "no_depth_box" in pred.extra["flags"]
    gt = read_scene(bench / "scene_0000" / "gt", load_meshes=False)
    gt_from_pred = gt.camera.world_from_camera @ np.linalg.inv(scene.camera.world_from_camera)
    where = (gt_from_pred @ pred.world_from_object)[:3, 3]
    assert np.linalg.norm(where - np.asarray(gt.instance(blind).world_from_object)[:3, 3]) < 1.0


def test_no_floor_visible(bench, library, layout_method, tmp_path):
    def edit(c):
        c.depth[c.seg == 0] = np.nan                       # only the objects have depth
    scene = _run(_edited(bench, tmp_path, edit), layout_method, tmp_path)
    assert scene.floor is None and len(scene.instances) == len(load_capture(bench / "scene_0000" /
                                                                            "capture").instance_ids)


def test_bad_inputs_are_input_errors(bench, library, renderer, tmp_path):
    from scenewright.library.subset import LibrarySubset
    from scenewright.methods.layout.pipeline import reconstruct
    capture = load_capture(bench / "scene_0000" / "capture")
    with pytest.raises(InputError, match="empty"):
        reconstruct(capture, LibrarySubset(library, []), renderer=renderer)
    no_depth = load_capture(bench / "scene_0000" / "capture")
    no_depth.depth = None
    from scenewright.methods.layout.pipeline import LayoutSettings
    given = LayoutSettings()
    given.depth.mode = "given"          # without depth the default is single-view metrology
    with pytest.raises(InputError, match="has no depth"):
        reconstruct(no_depth, library, given, renderer=renderer)


def test_cli(bench, library_dir, tmp_path, tiny_dinov2, capsys):
    cap = str(bench / "scene_0002" / "capture")
    out = tmp_path / "scene"
    assert cli_main(["reconstruct", cap, "-o", str(out), "--library", str(library_dir), "--seed", "3"]) == 0
    assert (out / "scene.glb").is_file() and (out / "preview.png").is_file()
    assert json.loads((out / "scene.json").read_text())["method"]["settings"]["seed"] == 3
    # an existing output is kept unless --overwrite
    before = (out / "scene.json").read_bytes()
    assert cli_main(["reconstruct", cap, "-o", str(out), "--library", str(library_dir)]) == 2
    assert (out / "scene.json").read_bytes() == before
    assert "exists" in capsys.readouterr().err
    assert cli_main(["reconstruct", cap, "-o", str(tmp_path / "x"), "--library", str(tmp_path / "nope")]) == 2
    assert cli_main(["reconstruct", cap, "-o", str(tmp_path / "y"), "--library", str(library_dir),
                     "--set", "features=dinov2"]) == 2
    assert "dinov2_weights" in capsys.readouterr().err
    # the DINOv2 path end to end, with a tiny saved model loaded by the same code
    out2 = tmp_path / "dino"
    assert cli_main(["reconstruct", cap, "-o", str(out2), "--library", str(library_dir), "--no-preview",
                     "--set", "features=dinov2", "--set", f"dinov2_weights={tiny_dinov2}"]) == 0
    data = json.loads((out2 / "scene.json").read_text())
    assert data["method"]["settings"]["features"] == "dinov2"
    assert len(data["instances"]) == len(load_capture(cap).instance_ids)
    assert not (out2 / "preview.png").exists()


def test_asset_symmetry_comes_from_its_shape_and_agrees_with_the_evaluator(library):
    from scenewright.geometry.symmetry import mesh_symmetry
    from scenewright.methods.layout.retrieval import library_index
    index = library_index(library)
    groups = {a: index.symmetry(a) for a in index.ids}
    assert groups["KatorLegaz/dining-chair"] == "none" and groups["BlendSwap-CC-0/couch2"] == "none"
    assert set(groups.values()) <= {"none", "two", "four", "radial"}
    assert len(set(groups.values())) >= 2               # not one answer for everything
    # The evaluator reads the same shape the same way (from its own samples of the mesh: an
    # asset right at the tolerance, like a nearly square table, may fall either side).
    differ = [a for a, g in groups.items() if mesh_symmetry(library.mesh(a))[0] != g]
    assert len(differ) <= 2, differ


# ---- depth that is estimated, relative or absent (bench degrade variants) ----------------

def _run_depth(capture_dir, library, renderer, out, mode="auto"):
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.run import run_to_folder
    settings = LayoutSettings()
    settings.depth.mode = mode
    return run_to_folder(capture_dir, out, "layout", settings, Resources(library=library), preview=False)


def _camera_height(scene) -> float:
    return float(np.asarray(scene.camera.world_from_camera)[1, 3])


@pytest.mark.parametrize("kind, used_as", [("mono", "estimated"), ("relative", "relative"), ("none", "none")])
def test_each_depth_kind_end_to_end(bench, library, renderer, tmp_path, kind, used_as):
    from scenewright.bench.degrade import degrade_bench
    manifest = degrade_bench(bench, tmp_path / "b", kind, seed=0)
    name = manifest["scenes"][0]
    scene = _run_depth(tmp_path / "b" / name / "capture", library, renderer, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "scene.json").read_text())
    record = written["depth"]
    assert record["used_as"] == used_as and record["declared"] == {"mono": "estimated-metric",
                                                                     "relative": "relative", "none": "none"}[kind]
    assert written["method"]["settings"]["depth"]["mode"] == "auto"
    gt = read_scene(bench / name / "gt", load_meshes=False)
    assert len(scene.instances) >= len(gt.instances) - 1
    assert scene.extra["optimize"]["colliding_pairs"] in (0, [])
    assert set(record) >= {"camera_height_m", "camera_pitch_deg", "flags", "objects"}
    if kind == "none":
        # No depth at all: the metric scale comes from the masks and the assets' sizes alone
        # (one 192² scene says little: test_depth_none checks the median over rooms at 384²).
        assert record["metrology"]["objects_used"] >= 2
        assert abs(_camera_height(scene) / _camera_height(gt) - 1) < 0.3
    else:
        # the smooth warp was fitted to the floor the lines' pitch gives, and it is recorded
        corr = record["correction"]
        assert "warp_unresolved" not in record["flags"] and corr["floor_pixels"] >= 2000
        assert len(corr["coefficients"]) == 5 and abs(corr["pitch_deg"] - record["lines_pitch_deg"]) < 1e-6
        if kind == "relative":
            assert record["mapping"] == "depth = scale / (value + shift) * correction(x, y)"
    # (Accuracy of mono / relative on 20 scenes at 512²: benchmarks/bench_layout.py --variants depth.)


def test_estimated_depth_far_off_in_scale_is_rescaled(bench, library, renderer, tmp_path):
    # 60 % too deep — beyond any estimator's usual error — and declared an estimate: the known
    # sizes of the objects bring the camera back near its true height.
    def edit(c):
        c.depth = c.depth * 1.6
        c.depth_kind = "estimated-metric"
    scene = _run_depth(_edited(bench, tmp_path, edit), library, renderer, tmp_path / "out")
    gt = read_scene(bench / "scene_0000" / "gt", load_meshes=False)
    assert scene.extra["depth"]["used_as"] == "estimated"
    assert abs(scene.extra["depth"]["scale"] * 1.6 - 1) < 0.25
    assert abs(_camera_height(scene) / _camera_height(gt) - 1) < 0.25


def test_metric_depth_handed_in_as_relative_or_estimated_keeps_its_scale(bench, library, renderer, tmp_path):
    cap = bench / "scene_0001" / "capture"
    gt = read_scene(bench / "scene_0001" / "gt", load_meshes=False)
    for mode in ("estimated", "relative"):
        scene = _run_depth(cap, library, renderer, tmp_path / mode, mode=mode)
        assert scene.extra["depth"]["used_as"] == mode
        assert abs(_camera_height(scene) / _camera_height(gt) - 1) < 0.2


def test_sizes_that_disagree_with_every_asset_are_flagged_not_fatal(bench, library, renderer, tmp_path):
    def edit(c):
        c.depth = c.depth * 12.0           # a room twelve times too big: no asset is that size
        c.depth_kind = "estimated-metric"
    scene = _run_depth(_edited(bench, tmp_path, edit), library, renderer, tmp_path / "out")
    flags = scene.extra["depth"]["flags"]
    assert "scale_out_of_bounds" in flags
    assert len(scene.instances) > 0


def test_single_object_capture_is_a_scene_flagged_low_confidence(bench, library, renderer, tmp_path):
    def edit(c):
        ids = c.instance_ids
        areas = {i: int((c.seg == i).sum()) for i in ids}
        keep = max(areas, key=areas.get)
        c.seg = np.where(c.seg == keep, c.seg, 0).astype(c.seg.dtype)
        c.labels = {keep: c.labels.get(keep, "")}
        c.depth = None
    scene = _run_depth(_edited(bench, tmp_path, edit), library, renderer, tmp_path / "out")
    assert len(scene.instances) == 1
    assert "single_object_low_confidence" in scene.extra["depth"]["flags"]
    assert scene.extra["depth"]["used_as"] == "none"


def test_a_darker_bluer_picture_is_calibrated_by_its_objects(bench, library, renderer):
    """A picture under other light (every channel scaled) is measured against the objects'
    renders and divided back; the flat picture is left alone."""
    import dataclasses
    from scenewright.methods.layout.pipeline import reconstruct
    capture = load_capture(bench / "scene_0000" / "capture")
    gain = np.array([0.6, 0.7, 0.85])
    dark = dataclasses.replace(capture, rgb=np.round(capture.rgb * gain).astype(np.uint8))
    flat = reconstruct(capture, library, renderer=renderer)
    lit = reconstruct(dark, library, renderer=renderer)
    record = flat.extra["colour_transform"]
    assert record is not None and not record["applied"]
    record = lit.extra["colour_transform"]
    assert record["applied"] and record["objects"] >= 2
    assert record["refused"] is None and record["confirmed"]   # every object shows it; those it explains are kept
    # the median ratio of rendered to observed pixels: within 0.1 in log of the gain (shading
    # differs between the bench render and the pose window's; rounding to 8 bits)
    np.testing.assert_allclose(np.log(record["gain"]), np.log(gain), atol=0.1)
    assert [i.asset_id for i in lit.instances] == [i.asset_id for i in flat.instances]
