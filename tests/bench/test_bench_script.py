"""``make bench`` runs benchmarks/bench_layout.py: run it for real on a small library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_layout.py"


def test_bench_layout_makes_runs_scores_and_reports(small_library, tmp_path):
    out = tmp_path / "bl"
    cmd = [sys.executable, str(SCRIPT), "--library", str(small_library), "--scenes", "2",
           "--variants", "main", "noise", "unlabelled", "--out", str(out), "--eval-points", "1024",
           "--set", "pose.render_assets=2", "retrieval.appearance_top=4"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "rotation AUC@60° (sym.)" in run.stdout and "translation AUC@0.5 m" in run.stdout
    report = json.loads((out / "report.json").read_text())
    assert set(report["variants"]) == {"main", "noise", "unlabelled"}
    main = report["variants"]["main"]["metrics"]
    assert main["recovery"] == 1.0                       # every visible object gets a prediction
    assert 0.0 <= main["auc_rot60_sym"] <= 1.0 and 0.0 <= main["auc_trans0.5"] <= 1.0
    assert main["auc_rot60_sym"] >= main["auc_rot60"] - 1e-9
    # The physics witness settled every predicted scene: motions in cm, objects fallen over counted.
    assert 0.0 <= main["settle_median_cm"] <= main["settle_max_cm"] and main["settle_tipped"] >= 0
    assert "settle: median motion cm" in run.stdout
    assert report["settings"]["pose"]["render_assets"] == 2          # --set is applied and recorded
    assert report["settings"]["retrieval"]["appearance_top"] == 4
    assert (out / "bench_noise" / "manifest.json").is_file()
    assert len(report["variants"]["main"]["runs"]) == 2
    # Unlabelled: the same captures without labels, every object still reconstructed, and the
    # layout method recorded that it had no label to go by.
    unlabelled = json.loads((out / "bench_unlabelled" / "manifest.json").read_text())
    assert unlabelled["label_variant"]["kind"] == "none"
    assert report["variants"]["unlabelled"]["metrics"]["recovery"] == 1.0
    scene = json.loads((out / "pred" / "unlabelled" / unlabelled["scenes"][0] / "scene.json").read_text())
    assert scene["instances"] and all(not i.get("label") for i in scene["instances"])


def test_bench_layout_rejects_unknown_settings(small_library, tmp_path):
    cmd = [sys.executable, str(SCRIPT), "--library", str(small_library), "--out", str(tmp_path / "x"),
           "--variants", "main", "--set", "pose.no_such_field=1"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "PoseSettings has no field 'no_such_field'" in run.stderr
    assert not (tmp_path / "x").exists()          # nothing written


def test_mean_variant_averages_seeds_metric_by_metric():
    sys.path.insert(0, str(SCRIPT.parent))
    import bench_layout
    one = {"bench": "a", "assets": 7, "runs": [{"seconds": 1.0, "cpu_seconds": 1.0}],
           "report": {"pooled": {"auc_trans0.5": 0.8}, "summary": {"p1_f_s": {"mean": 80.0}},
                      "physics": {"settle_max_cm": 1.0}}}
    two = {"bench": "b", "assets": 7, "runs": [{"seconds": 3.0, "cpu_seconds": 2.0}],
           "report": {"pooled": {"auc_trans0.5": 0.9}, "summary": {"p1_f_s": {"mean": 90.0}},
                      "physics": {"settle_max_cm": 3.0}}}
    mean = bench_layout.mean_variant([one, two])
    assert bench_layout.metric(mean["report"], "auc_trans0.5") == pytest.approx(0.85)
    assert bench_layout.metric(mean["report"], "p1_f_s") == pytest.approx(85.0)
    assert bench_layout.metric(mean["report"], "settle_max_cm") == pytest.approx(2.0)
    assert bench_layout.metric(mean["report"], "p1_iou_b") is None      # absent in a seed: not averaged
    assert len(mean["runs"]) == 2 and mean["bench"] == ["a", "b"]
    table = bench_layout.table({"heldout_mean": mean})
    assert "heldout_mean" in table.splitlines()[0] and "settle: max motion cm" in table


def test_bench_layout_photoreal_variant_beside_main(small_library, tmp_path):
    """``--variants photoreal`` scores main and its Cycles copy; a rerun renders nothing again."""
    pytest.importorskip("bpy")
    out = tmp_path / "bl"
    cmd = [sys.executable, str(SCRIPT), "--library", str(small_library), "--scenes", "1", "--variants", "photoreal",
           "--samples", "2", "--out", str(out), "--eval-points", "1024", "--no-physics",
           "--set", "pose.render_assets=2", "retrieval.appearance_top=4"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert set(report["variants"]) == {"main", "photoreal"}
    assert report["variants"]["photoreal"]["metrics"]["recovery"] == 1.0
    assert report["rendering"]["settings"]["samples"] == 2 and report["rendering"]["iou_min"] > 0.5
    rgb = out / "bench_photoreal" / "scene_0000" / "capture" / "rgb.png"
    stamp = rgb.stat().st_mtime_ns
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0 and rgb.stat().st_mtime_ns == stamp


def test_bench_layout_runs_every_depth_kind_on_the_held_out_split_too(small_library, tmp_path):
    out = tmp_path / "bl"
    cmd = [sys.executable, str(SCRIPT), "--library", str(small_library), "--scenes", "1",
           "--variants", "heldout", "depth", "--heldout-seeds", "1", "--heldout-catalogs", "KatorLegaz",
           "--out", str(out), "--eval-points", "256",
           "--no-physics", "--set", "pose.render_assets=2", "retrieval.appearance_top=4"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    kinds = ("mono", "relative", "none")
    assert {"main", "heldout", "mono-as-metric", *kinds, *(f"heldout_{k}" for k in kinds)} <= set(report["variants"])
    held = report["variants"]["heldout"]["assets"]
    for k in kinds:
        v = report["variants"][f"heldout_{k}"]
        assert v["assets"] == held < report["variants"]["main"]["assets"]     # the held-out library
        assert v["metrics"]["recovery"] is not None and len(v["runs"]) == len(report["variants"]["heldout"]["runs"])
        manifest = json.loads((out / f"bench_heldout_{k}" / "manifest.json").read_text())
        assert manifest["scenes"] == json.loads((out / "bench_heldout" / "manifest.json").read_text())["scenes"]
    assert not any((out / "bench_heldout_none").glob("scene_*/capture/depth.npy"))
