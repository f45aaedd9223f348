"""``make demo`` runs ``scenewright demo``: the layout method on the shipped capture.

The demo builds the full library on a first run; here it gets a small library of the
shipped capture's catalog (its exact assets plus look-alike distractors) built by the
real builder, and must produce a scene a person would accept.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scenewright.cli import main
from scenewright.library.build import build_library
from scenewright.scene import read_scene

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "living_room"
CATALOG = Path("/usr/share/sweethome3d/furniture/KatorLegaz.sh3f")


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "library"
    report = build_library(out, [CATALOG], workers=2, progress=False,
                           categories=["sofa", "dining_table", "chair", "armchair", "decor", "book"])
    assert not report.skipped
    return out


def test_demo_writes_an_acceptable_scene(demo_library, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--library", str(demo_library), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["preview.png", "scene.glb", "scene.json"]
    printed = capsys.readouterr().out
    assert "inst_" in printed and "timings" in printed

    scene = read_scene(out)
    gt = read_scene(EXAMPLE / "gt")
    assert sorted(i.id for i in scene.instances) == sorted(i.id for i in gt.instances)
    exact = sum(scene.instance(g.id).asset_id == g.asset_id for g in gt.instances)
    assert exact >= 4, f"only {exact} of {len(gt.instances)} exact assets"
    # every object stands in the room, near where the ground truth has it
    to_gt = gt.camera.world_from_camera @ np.linalg.inv(scene.camera.world_from_camera)
    for g in gt.instances:
        pred_centre = (to_gt @ scene.instance(g.id).world_mesh().bounding_box.centroid.tolist().__add__([1.0]))[:3]
        assert np.linalg.norm(pred_centre - g.world_mesh().bounding_box.centroid) < 0.5, g.id
    assert scene.attribution and all(a.get("license") for a in scene.attribution)
    assert set(json.loads((out / "scene.json").read_text())["timings_s"]) >= {"perception", "retrieval"}
    preview = np.asarray(Image.open(out / "preview.png"))
    assert preview.shape[:2] == (512, 512)


def test_demo_keeps_an_existing_output(demo_library, tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["demo", "--library", str(demo_library), "-o", str(out)]) == 2
    assert (out / "mine.txt").read_text() == "keep"


def test_demo_names_a_missing_library_source(tmp_path, monkeypatch):
    broken = tmp_path / "not-a-library"
    broken.mkdir()
    (broken / "junk.txt").write_text("x")
    assert main(["demo", "--library", str(broken), "-o", str(tmp_path / "o")]) == 2
