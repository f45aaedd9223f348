"""``--depth given|estimated|relative|none`` on reconstruct and batch: the capture's depth taken
otherwise than its depth.json declares (issue: layout without metric depth)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenewright.capture import declare_depth, load_capture
from scenewright.cli import main
from scenewright.errors import InputError


def test_declare_depth_rewrites_the_kind_and_drops_depth_for_none(small_bench):
    cap = load_capture(small_bench / "scene_0000" / "capture")
    assert cap.depth_kind == "metric" and cap.depth is not None
    assert declare_depth(cap, None) is cap
    assert declare_depth(cap, "estimated").depth_kind == "estimated-metric"
    rel = declare_depth(cap, "relative")
    assert rel.depth_kind == "relative" and rel.depth_quantity == "depth"      # metres are depth, not disparity
    assert np.array_equal(rel.depth, cap.depth, equal_nan=True)
    assert declare_depth(rel, "given").depth_kind == "metric"
    none = declare_depth(cap, "none")
    assert none.depth is None and cap.depth is not None                         # the original untouched
    with pytest.raises(InputError, match="--depth given, but the capture has no depth"):
        declare_depth(none, "given")
    with pytest.raises(InputError, match="--depth must be one of"):
        declare_depth(cap, "metric")


def test_reconstruct_with_depth_none_runs_the_no_depth_path_and_says_so(small_bench, small_library, tmp_path):
    out = tmp_path / "scene"
    rc = main(["reconstruct", str(small_bench / "scene_0000" / "capture"), "-o", str(out), "--library",
               str(small_library), "--depth", "none", "--no-preview", "-q",
               "--set", "pose.render_assets=2", "--set", "retrieval.appearance_top=4"])
    assert rc == 0
    data = json.loads((out / "scene.json").read_text())
    assert data["inputs"]["depth"] == {"declared": "metric", "taken_as": "none", "by": "--depth"}
    assert data["depth"]["declared"] == "none" and data["depth"]["used_as"] == "none"   # the layout saw no depth
    assert data["instances"]


def test_a_method_that_needs_depth_refuses_depth_none_and_writes_nothing(small_bench, small_library, tmp_path, capsys):
    out = tmp_path / "boxes"
    rc = main(["reconstruct", str(small_bench / "scene_0000" / "capture"), "-o", str(out), "--method", "boxes",
               "--depth", "none"])
    assert rc == 2 and "the boxes method needs depth" in capsys.readouterr().err
    assert not out.exists()


def test_batch_takes_depth_and_counts_it_in_what_a_resume_compares(small_bench, small_library, tmp_path):
    out = tmp_path / "batch"
    args = ["batch", str(small_bench), "-o", str(out), "--method", "boxes", "--address", "none", "--limit", "1",
            "--no-progress", "-q"]
    assert main(args + ["--depth", "estimated"]) == 0
    first = json.loads((out / "batch.json").read_text())
    scene = json.loads((out / "scene_0000" / "scene.json").read_text())
    assert scene["inputs"]["depth"]["taken_as"] == "estimated"
    # the same batch as declared is another result: resumed, it is redone, not skipped
    assert main(args) == 0
    second = json.loads((out / "batch.json").read_text())
    assert first["totals"]["ok"] == 1 and second["totals"]["ok"] == 1 and second["totals"]["skipped"] == 0
    assert "inputs" not in json.loads((out / "scene_0000" / "scene.json").read_text())
