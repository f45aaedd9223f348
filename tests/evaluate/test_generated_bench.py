"""The evaluator and the box baseline on a tiny benchmark made by ``scenewright bench make``."""

from __future__ import annotations

import shutil

import pytest

from scenewright.cli import main
from scenewright.evaluate.evaluator import evaluate_bench, read_manifest

CATALOG = "BlendSwap-CC-0"
# Low-poly assets covering the placement roles (wall, table, seat, small on a support).
ASSETS = ["BlendSwap-CC-0/couch2", "BlendSwap-CC-0/glassDoorCabinet", "BlendSwap-CC-0/bedsideTable2",
          "BlendSwap-CC-0/oakTable", "BlendSwap-CC-0/chair2", "BlendSwap-CC-0/desklamp",
          "BlendSwap-CC-0/littlePlant", "BlendSwap-CC-0/desk"]


@pytest.fixture(scope="module")
def generated_bench(furniture, tmp_path_factory):
    from scenewright.bench.generate import BenchSettings, make_bench
    from scenewright.library import BuildSettings, build_library
    root = tmp_path_factory.mktemp("genbench")
    build_library(root / "library", [furniture / f"{CATALOG}.sh3f"], workers=1, only=ASSETS, progress=False,
                  settings=BuildSettings(n_samples=256, voxel_grid=8, views=False))
    make_bench(root / "bench", root / "library",
               BenchSettings(scenes=2, seed=0, size=128, objects=(3, 5)), progress=False)
    return root / "bench"


def test_generated_ground_truth_scores_perfectly_and_is_plausible(generated_bench, tmp_path, fast_settings):
    for name in read_manifest(generated_bench):
        shutil.copytree(generated_bench / name / "gt", tmp_path / "pred" / name)
    report = evaluate_bench(tmp_path / "pred", generated_bench, fast_settings)
    s = {k: v["mean"] for k, v in report["summary"].items()}
    assert report["failures"] == [] and report["n_scored"] == 2
    assert s["recovery"] == s["exact_asset"] == s["category_match"] == 1.0
    assert s["p1_cd_s"] < 1e-12 and s["p1_f_s"] == pytest.approx(100) and s["p1_iou_b"] == pytest.approx(1)
    assert s["p2_cd"] < 1e-9 and s["auc_rot60"] == pytest.approx(1) and s["auc_trans0.5"] == pytest.approx(1)
    # The generator places things without collisions or gaps; an independent check agrees.
    assert s["n_interpenetrating_pairs"] == 0 and s["n_floating"] == 0 and s["n_below_floor"] == 0


def test_box_baseline_on_generated_bench(generated_bench, tmp_path):
    for name in read_manifest(generated_bench):
        assert main(["reconstruct", str(generated_bench / name / "capture"), "-o", str(tmp_path / "boxes" / name),
                     "--method", "boxes", "--no-preview"]) == 0
    out = tmp_path / "report.json"
    assert main(["eval", str(tmp_path / "boxes"), str(generated_bench), "--out", str(out),
                 "--points", "1024"]) == 0
    import json
    report = json.loads(out.read_text())
    s = {k: v["mean"] for k, v in report["summary"].items()}
    assert s["recovery"] == 1.0 and s["exact_asset"] == 0.0
    assert 0.05 < s["p1_iou_b"] < 0.95 and 10 < s["p1_f_s"] < 100
    assert s["trans_err_m"] < 0.5 and s["n_below_floor"] == 0
