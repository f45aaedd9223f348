"""Estimated depth placed on the no-depth solution (``depth.backbone`` "metrology"): the camera
from where floor objects meet the floor and their known sizes, the estimate only scaled to it
(rooms the benchmark generator rendered at 384², the real library, renderer and evaluator)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from tests.layout.test_depth_none import bench384  # noqa: F401  (fixture)
from tests.layout.test_floor_pose import _floor_errors
from tests.layout.test_pipeline import library, library_dir, renderer  # noqa: F401  (fixtures)


def test_the_estimates_own_scale_is_never_trusted(bench384, library):  # noqa: F811
    """The same estimate off by 0.8× or 1.25× conditions to the same metric depth: its scale
    comes from the metrology camera's height, and the floor in the corrected map lies there."""
    from scenewright.capture import load_capture
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.depth_fit import condition_depth
    from scenewright.methods.layout.features import make_extractor
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.methods.layout.retrieval import library_index
    s = LayoutSettings()
    assert s.depth.backbone == "metrology"             # the default
    index = library_index(Resources(library=library).library(), s.retrieval.n_points, s.seed)
    extractor = make_extractor(s.features, s.dinov2_weights)
    name = json.loads((bench384 / "manifest.json").read_text())["scenes"][0]
    capture = load_capture(bench384 / name / "capture")
    outs, records = [], []
    for factor in (0.8, 1.25):
        estimate = dataclasses.replace(capture, depth=capture.depth * factor, depth_kind="estimated-metric")
        conditioned, record = condition_depth(estimate, index, s, extractor)
        outs.append(np.asarray(conditioned.depth, float))
        records.append(record)
    for record in records:
        assert record["used_as"] == "estimated" and record["backbone"] == "metrology"
        # the warp correction's floor, scaled, stands the camera at the metrology height
        # (both figures rounded to 5 significant decimals in the record)
        height = record["scale"] * record["correction"]["floor_height_input_units"]
        assert abs(height / record["metrology"]["camera_height_m"] - 1.0) < 1e-4
    assert records[0]["metrology"] == records[1]["metrology"]
    finite = np.isfinite(outs[0]) & np.isfinite(outs[1]) & (outs[0] > 0)
    assert finite.mean() > 0.9
    # float32 maps, logs and polynomial fits of a few thousand pixels: agreement to 1e-4
    assert np.max(np.abs(outs[1][finite] / outs[0][finite] - 1.0)) < 1e-4
    # backbone "depth" reads the scale off the objects' sizes in the estimate instead
    s.depth.backbone = "depth"
    _, record = condition_depth(dataclasses.replace(capture, depth=capture.depth * 1.25,
                                                    depth_kind="estimated-metric"), index, s, extractor)
    assert "backbone" not in record and "metrology" not in record


def test_estimated_depth_on_the_metrology_backbone_end_to_end(bench384, library, tmp_path):  # noqa: F811
    """A degraded (mono) capture run both ways: the backbone run places its floor objects by
    their silhouettes (the no-depth machinery), records what it did, and given depth is untouched."""
    from scenewright.bench.degrade import degrade_bench
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.pipeline import LayoutSettings, _floor_backbone
    from scenewright.run import run_to_folder
    assert not _floor_backbone({"used_as": "given"}) and not _floor_backbone({"used_as": "estimated"})
    assert _floor_backbone({"used_as": "none"}) and _floor_backbone({"used_as": "relative", "backbone": "metrology"})
    manifest = degrade_bench(bench384, tmp_path / "b", "mono", seed=0)
    name = manifest["scenes"][0]
    errors = {}
    for backbone in ("metrology", "depth"):
        s = LayoutSettings()
        s.depth.backbone = backbone
        out = tmp_path / backbone
        scene = run_to_folder(tmp_path / "b" / name / "capture", out, "layout", s, Resources(library=library),
                              preview=False)
        rec = scene.extra["depth"]
        assert rec["used_as"] == "estimated" and scene.method["settings"]["depth"]["backbone"] == backbone
        assert ("metrology" in rec) is (backbone == "metrology")
        errors[backbone] = _floor_errors(out, bench384 / name / "gt")
        assert errors[backbone]                    # the floor objects were all placed
    assert len(errors["metrology"]) == len(errors["depth"])


def test_a_silhouette_placement_far_from_where_the_estimate_sees_the_object_disagrees():
    from scenewright.methods.layout.floor_pose import placement_disagrees
    wfc = np.eye(4)
    wfc[:3, 3] = [0.0, 1.5, 0.0]
    rng = np.random.default_rng(0)
    seen = np.array([0.0, 0.4, 4.0]) + rng.normal(0.0, 0.2, (200, 3))    # a thing ~4 m ahead
    assert not placement_disagrees(np.array([0.3, 0.0, 4.5]), seen, wfc, 0.35)   # ~0.6 m off: 15 %
    assert placement_disagrees(np.array([1.2, 0.0, 5.6]), seen, wfc, 0.35)       # 2 m off: 50 %
    assert not placement_disagrees(np.array([1.2, 0.0, 5.6]), seen, wfc, 0.0)    # off
    assert not placement_disagrees(np.array([1.2, 0.0, 5.6]), seen[:5], wfc, 0.35)  # too few points
    # a large asset's centre may lie its half-length from the points seen of it: allowed for on request
    assert not placement_disagrees(np.array([1.2, 0.0, 5.6]), seen, wfc, 0.35, allowance_m=1.2)
    assert placement_disagrees(np.array([1.2, 0.0, 5.6]), seen, wfc, 0.35, allowance_m=0.3)
    # the height does not count: a placement on the floor below points seen high up agrees
    assert not placement_disagrees(np.array([0.0, 0.0, 4.0]), seen + [0.0, 1.0, 0.0], wfc, 0.35)


def test_the_arrangement_can_leave_the_walls_out():
    """An object reaching 0.2 m into a wall is pushed back into the room by the arrangement with
    the walls, and left where it is without them (``walls=[]``)."""
    import types

    from scenewright.geometry.planes import Plane
    from scenewright.methods.layout.arrange import ArrangeSettings, arrange
    from scenewright.scene import Instance
    import trimesh
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    box.apply_translation((0.0, 0.5, 0.0))
    m = np.eye(4)
    m[:3, 3] = [0.0, 0.0, -1.7]                   # its back at z = -2.2, the wall at z = -2
    inst = Instance(id=1, mesh=box, world_from_object=m, label="cabinet", category="cabinet", asset_id="a",
                    size=[1.0, 1.0, 1.0], score=1.0)
    observation = types.SimpleNamespace(floor=True, walls=[Plane(np.array([0.0, 0.0, -2.0]),
                                                                 np.array([0.0, 0.0, 1.0]))])

    class _Timer:
        def __call__(self, stage):
            import contextlib
            return contextlib.nullcontext()
    pushed, _, _ = arrange([inst], observation, ArrangeSettings(), _Timer())
    kept, _, _ = arrange([inst], observation, ArrangeSettings(), _Timer(), walls=[])
    z_pushed = float(pushed[0].world_from_object[2, 3])
    z_kept = float(kept[0].world_from_object[2, 3])
    assert z_pushed > -1.5 - 1e-3                 # back out of the wall (flush or inside the room)
    assert abs(z_kept - (-1.7)) < 1e-9


def test_the_surface_test_keeps_a_bed_seen_from_its_foot_and_catches_a_misread_contact_row():
    """A 2 m long box seen from its end: its seen points lie ~1 m from its centre (the centre test
    at a 0.35 share calls that disagreement at 3 m) but on its surface; the same box placed 1.5 m
    farther along the ray is a large share of the distance away."""
    from scenewright.methods.layout.floor_pose import placement_disagrees, surface_misfit
    wfc = np.eye(4)
    wfc[:3, 3] = [0.0, 1.5, 0.0]
    rng = np.random.default_rng(0)
    # the box's surface: 1.4 wide, 0.5 tall, 2.0 long, its centre 3.0 m ahead, sampled on a grid
    g = np.linspace(-0.5, 0.5, 21)
    faces = []
    for a in g:
        for b in g:
            faces += [(a, b, -0.5), (a, b, 0.5), (a, -0.5, b), (a, 0.5, b), (-0.5, a, b), (0.5, a, b)]
    surface = np.array(faces) * [1.4, 0.5, 2.0] + [0.0, 0.25, 3.0]
    # seen: its near end (z = 2.0) and its top's near half, with 1 cm noise
    end = np.c_[rng.uniform(-0.7, 0.7, 300), rng.uniform(0.0, 0.5, 300), np.full(300, 2.0)]
    top = np.c_[rng.uniform(-0.7, 0.7, 300), np.full(300, 0.5), rng.uniform(2.0, 3.0, 300)]
    seen = np.concatenate([end, top]) + rng.normal(0.0, 0.01, (600, 3))
    assert placement_disagrees(np.array([0.0, 0.0, 3.0]), seen, wfc, 0.2)   # the centre test's reading
    near = surface_misfit(surface, seen, wfc)
    assert near is not None and near < 0.02      # the sampling grid's 3.5 cm spacing over ~3 m
    far = surface_misfit(surface + [0.0, 0.0, 1.5], seen, wfc)
    assert far is not None and far > 0.3         # 1.5 m behind the points, ~3 m away
    assert surface_misfit(surface, seen[:5], wfc) is None


def test_one_silhouette_curve_does_not_rescale_a_scene():
    """A scene is rescaled only when ≥ ``floor_pose.rescale_min_objects`` (2) floor objects' curves
    agree — on the estimate's metrology backbone and without depth alike."""
    from types import SimpleNamespace

    from scenewright.methods.layout.depth_fit import settings_for_run
    from scenewright.methods.layout.floor_pose import scene_scale
    from scenewright.methods.layout.pipeline import LayoutSettings
    s = LayoutSettings()
    assert s.floor_pose.rescale_min_objects == 2
    curve = {0.82: 3.2, 0.9: 3.0, 1.0: 2.7, 1.1: 3.1}
    one = [SimpleNamespace(extra={"scale_curve": curve})]
    for record in ({"used_as": "estimated", "backbone": "metrology"}, {"used_as": "relative", "backbone": "metrology"},
                   {"used_as": "none"}):
        run = settings_for_run(s, record)
        assert scene_scale(one, run.floor_pose) is None
        assert scene_scale(one * 2, run.floor_pose) is not None
    assert settings_for_run(s, {"used_as": "estimated"}) is s                 # backbone "depth"
    assert settings_for_run(s, {"used_as": "given"}) is s


def test_one_curve_reads_the_scale_about_the_camera_only_when_its_asset_is_identified():
    """Too few curves to rescale: the one curve is read finely about 1.0 (the metrology camera) when its
    best asset looks like the object, not for a stand-in's look, not with two curves (those are summed),
    not with the fine steps off; and the fine vertex of that one curve stays within the steps."""
    from types import SimpleNamespace

    from scenewright.methods.layout.floor_pose import (FloorPoseSettings, curves_vertex, single_curve_to_read,
                                                       with_scale_curve)
    s = FloorPoseSettings()
    assert s.rescale_min_objects == 2 and s.single_curve_min_appearance == 0.85

    def floor_object(appearance, curve=True):
        return SimpleNamespace(extra={"scale_curve": {0.82: 3.2, 1.0: 2.7, 1.1: 3.1} if curve else None,
                                      "floor_appearance": appearance})
    best = [None, floor_object(0.91, curve=False), floor_object(0.91)]
    assert with_scale_curve(best) == [2]
    assert single_curve_to_read([best[i] for i in with_scale_curve(best)], s)
    assert not single_curve_to_read([floor_object(0.80)], s)              # a stand-in's size
    assert not single_curve_to_read([floor_object(0.91), floor_object(0.95)], s)   # two: summed instead
    assert not single_curve_to_read([], s)
    assert not single_curve_to_read([floor_object(0.91)], dataclasses.replace(s, fine_scale_steps=()))
    assert not single_curve_to_read([floor_object(0.91)], dataclasses.replace(s, single_curve_min_appearance=1.0))
    # seed 0 mono scene 0's desk: its fine curve about 1.0 peaks between 0.94 and 0.97
    fine = {0.94: 2.8368, 0.97: 2.8541, 1.0: 2.7512, 1.03: 2.7059, 1.06: 2.648}
    assert curves_vertex([fine], s) is None
    k = curves_vertex([fine], s, min_objects=1)
    assert 0.94 <= k < 0.97
    assert curves_vertex([fine], dataclasses.replace(s, rescale_min_objects=1)) == k
    assert curves_vertex([fine, fine], s, min_objects=3) is None          # the argument, not the setting, decides


def test_the_scene_scale_is_read_finely_about_the_coarse_vertex(bench384, library, tmp_path):  # noqa: F811
    """Estimated depth with the coarse-to-fine scale search: scene.json keeps the coarse grid's vertex,
    every floor object's curve at the fine scales about it, and the scene's scale is where those
    curves summed peak — within the fine steps' reach of the coarse vertex."""
    from scenewright.bench.degrade import degrade_bench
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.floor_pose import curves_vertex
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.run import run_to_folder
    manifest = degrade_bench(bench384, tmp_path / "b", "mono", seed=0)
    steps = (0.94, 0.97, 1.0, 1.03, 1.06)
    read = 0
    for name in manifest["scenes"]:
        s = LayoutSettings()
        s.floor_pose.fine_scale_steps = steps
        s.floor_pose.fine_scale_on_estimate_only = True
        scene = run_to_folder(tmp_path / "b" / name / "capture", tmp_path / name, "layout", s,
                              Resources(library=library), preview=False)
        rec = scene.extra["depth"]
        if "coarse_scene_rescaled_by" not in rec:
            continue                              # too few floor objects seen whole: no scale correction
        read += 1
        k = 1.0 / rec["coarse_scene_rescaled_by"]
        curves = [{float(g): v for g, v in c.items()} for c in rec["fine_scale_curves"].values()]
        assert len(curves) >= s.floor_pose.rescale_min_objects
        lo, hi = min(s.floor_pose.scales), max(s.floor_pose.scales)
        expected = [k * f for f in steps if lo - 1e-3 <= k * f <= hi + 1e-3]   # the grid's range only
        for c in curves:                          # the fine scales about the coarse vertex (4 decimals kept)
            assert np.allclose(sorted(c), expected, rtol=2e-4)
        fine = 1.0 / rec["scene_rescaled_by"]
        assert min(steps) * k * (1 - 1e-3) <= fine <= max(steps) * k * (1 + 1e-3)
        # recorded scales and scores are rounded to 4 decimals: the vertex agrees to that
        assert abs(np.log(curves_vertex(curves, s.floor_pose) / fine)) < 2e-3
    assert read >= 1


def test_one_floor_object_without_depth_reads_the_scale_about_the_camera(bench384, library, tmp_path):  # noqa: F811
    """No depth, one floor object seen whole (every other mask removed): its curve alone sets the scene's
    scale, read finely about the metrology camera (``floor_pose.single_curve_on_estimate_only`` off, the
    default) when its asset looks like it, and the scene is redone there; with the switch on the metrology
    camera stays, as before."""
    from PIL import Image

    from scenewright.bench.degrade import degrade_bench
    from scenewright.methods.base import Resources
    from scenewright.methods.layout.pipeline import LayoutSettings
    from scenewright.perception.metrology import footings
    from scenewright.run import run_to_folder
    assert LayoutSettings().floor_pose.single_curve_on_estimate_only is False
    manifest = degrade_bench(bench384, tmp_path / "b", "none", seed=0)
    read = 0
    for name in manifest["scenes"]:
        capture = tmp_path / "b" / name / "capture"
        seg = np.array(Image.open(capture / "seg.png"))
        instances = json.loads((capture / "instances.json").read_text())["instances"]
        feet = footings(seg, [i["id"] for i in instances])
        whole = [i for i in instances if i["id"] in feet and feet[i["id"]].bottom_ok and feet[i["id"]].top_ok]
        if not whole:
            continue
        keep = max(whole, key=lambda i: int(np.sum(seg == i["id"])))      # the largest floor object seen whole
        one = tmp_path / f"{name}_one"
        shutil.copytree(capture, one)
        Image.fromarray(np.where(seg == keep["id"], seg, 0).astype(seg.dtype)).save(one / "seg.png")
        (one / "instances.json").write_text(json.dumps({"instances": [keep]}))
        records = {}
        for on_estimate_only in (False, True):
            s = LayoutSettings()
            s.floor_pose.single_curve_on_estimate_only = on_estimate_only
            scene = run_to_folder(one, tmp_path / f"{name}_{on_estimate_only}", "layout", s,
                                  Resources(library=library), preview=False)
            records[on_estimate_only] = scene.extra["depth"]
        assert "scene_rescaled_by" not in records[True] or records[True]["scene_rescaled_by"] is None
        rec = records[False]
        if not rec.get("single_curve"):
            continue                              # its asset not identified by look: the camera stays
        read += 1
        steps = LayoutSettings().floor_pose.fine_scale_steps
        (curve,) = rec["fine_scale_curves"].values()
        assert np.allclose(sorted(float(g) for g in curve), steps, rtol=2e-4)    # about 1.0: the metrology camera
        k = 1.0 / rec["scene_rescaled_by"]
        assert min(steps) * (1 - 1e-3) <= k <= max(steps) * (1 + 1e-3)
        # the redone scene's camera is the metrology camera's height divided by that scale
        assert rec["camera_height_m"] == pytest.approx(rec["metrology"]["camera_height_m"] / k, rel=2e-3)
    assert read >= 1
