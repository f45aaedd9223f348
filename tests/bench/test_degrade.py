"""``bench degrade``: seeded depth variants whose error follows the documented model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenewright.bench.degrade import DepthErrorModel, degrade_bench, degrade_depth, smooth_warp
from scenewright.capture import load_capture
from scenewright.cli import main
from scenewright.errors import InputError


def _plane_depth(h=96, w=128):
    # A tilted plane (a floor seen at a slant): the Gaussian bleed leaves a linear map unchanged
    # away from the border, so every remaining difference is the documented scale/warp/noise.
    v, u = np.mgrid[0:h, 0:w].astype(float)
    return 2.0 + 0.02 * v + 0.005 * u


def test_mono_error_statistics_follow_the_model():
    d = _plane_depth()
    model = DepthErrorModel()
    scales, noise_sd, warp_max = [], [], []
    for seed in range(12):
        mono, drawn = degrade_depth(d, "mono", np.random.default_rng([seed, 0]), model)
        g = drawn["scale"]
        scales.append(g)
        warp = 1 + model.warp * smooth_warp(d.shape, np.random.default_rng([seed, 0]), model.warp_grid)
        inner = (slice(8, -8), slice(8, -8))                    # 4σ from the border of the blur
        resid = mono[inner] / (g * warp[inner] * d[inner]) - 1
        noise_sd.append(resid.std())
        warp_max.append(np.abs(mono[inner] / (g * d[inner]) - 1).max())
    assert all(0.8 <= g <= 1.25 for g in scales) and max(scales) / min(scales) > 1.2
    # 1 % noise per pixel, measured over ~9000 pixels: the estimate is within a few % of 0.01.
    assert np.allclose(noise_sd, 0.01, rtol=0.1)
    # The warp reaches ±8 % (plus noise) and no further (4.5σ of 1 % noise on top).
    assert max(warp_max) < 0.08 + 0.045 and max(warp_max) > 0.06


def test_relative_is_positive_disparity_affine_in_the_true_one():
    d = _plane_depth()
    q, drawn = degrade_depth(d, "relative", np.random.default_rng([3, 0]))
    assert np.all(q > 0)
    # Undo the drawn shift: what is left is scale / (warped depth), so its product with the
    # depth is the warp × noise — within ±8 % (+ noise) of its median.
    inv = (q - drawn["shift"]) * d
    inner = inv[8:-8, 8:-8]
    assert np.abs(inner / np.median(inner) - 1).max() < 0.2
    # And the shift matters: the same product without undoing it varies far more.
    raw = (q * d)[8:-8, 8:-8]
    assert np.ptp(raw / np.median(raw)) > np.ptp(inner / np.median(inner)) or abs(drawn["shift"]) < 0.05


def test_degrade_bench_keeps_ground_truth_and_declares_the_kind(bench, tmp_path):
    out = tmp_path / "mono"
    assert main(["bench", "degrade", str(bench), "-o", str(out), "--depth", "mono", "--seed", "4", "--quiet"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    names = man["scenes"]
    assert man["depth_variant"]["kind"] == "mono" and set(man["depth_variant"]["per_scene"]) == set(names)
    for name in names:
        assert (out / name / "gt" / "scene.json").read_bytes() == (bench / name / "gt" / "scene.json").read_bytes()
        assert (out / name / "capture" / "rgb.png").read_bytes() == (bench / name / "capture" / "rgb.png").read_bytes()
        cap, orig = load_capture(out / name / "capture"), load_capture(bench / name / "capture")
        assert cap.depth_kind == "estimated-metric"
        g = man["depth_variant"]["per_scene"][name]["scale"]
        ratio = np.nanmedian(cap.depth / orig.depth)
        assert abs(ratio / g - 1) < 0.08 + 0.02          # the warp's reach plus edge bleeding
    # Same seed, same files; another seed, other draws.
    again = tmp_path / "again"
    degrade_bench(bench, again, "mono", seed=4)
    for name in names:
        assert np.array_equal(np.load(again / name / "capture" / "depth.npy"),
                              np.load(out / name / "capture" / "depth.npy"))
    other = degrade_bench(bench, tmp_path / "other", "mono", seed=5)
    assert other["depth_variant"]["per_scene"] != man["depth_variant"]["per_scene"]


def test_relative_and_none_variants(bench, tmp_path):
    rel = degrade_bench(bench, tmp_path / "rel", "relative", seed=0)
    name = rel["scenes"][0]
    cap = load_capture(tmp_path / "rel" / name / "capture")
    assert (cap.depth_kind, cap.depth_quantity) == ("relative", "disparity")
    assert np.nanmin(cap.depth) > 0
    degrade_bench(bench, tmp_path / "none", "none", seed=0)
    cap = load_capture(tmp_path / "none" / name / "capture")
    assert cap.depth is None and not (tmp_path / "none" / name / "capture" / "depth.json").exists()


def test_bad_inputs(bench, tmp_path, capsys):
    degrade_bench(bench, tmp_path / "m", "mono")
    with pytest.raises(InputError, match="already a depth variant"):
        degrade_bench(tmp_path / "m", tmp_path / "mm", "mono")
    assert main(["bench", "degrade", str(tmp_path / "nothing"), "-o", str(tmp_path / "x"), "--depth", "mono"]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "m" / json.loads((tmp_path / "m" / "manifest.json").read_text())["scenes"][0] / "capture"
    (bad / "depth.json").write_text('{"kind": "guessed"}')
    with pytest.raises(InputError, match="depth.json: 'kind' must be one of"):
        load_capture(bad)


def test_labels_removed_alone_and_with_depth(bench, tmp_path, capsys):
    # Labels only: instances.json says "no label" for every id, depth and pictures untouched.
    assert main(["bench", "degrade", str(bench), "-o", str(tmp_path / "nl"), "--labels", "none", "--quiet"]) == 0
    man = json.loads((tmp_path / "nl" / "manifest.json").read_text())
    assert man["label_variant"]["kind"] == "none" and "depth_variant" not in man
    for name in man["scenes"]:
        src, dst = bench / name / "capture", tmp_path / "nl" / name / "capture"
        cap, orig = load_capture(dst), load_capture(src)
        assert sorted(cap.labels) == sorted(orig.labels)
        assert set(cap.labels.values()) == {""} and any(orig.labels.values())
        assert cap.depth_kind == "metric" and np.array_equal(cap.depth, orig.depth, equal_nan=True)
        for f in ("rgb.png", "seg.png", "camera.json"):
            assert (dst / f).read_bytes() == (src / f).read_bytes()
    # A label variant of a depth variant, and the reverse: both variants recorded.
    degrade_bench(tmp_path / "nl", tmp_path / "nl_none", "none")
    both = json.loads((tmp_path / "nl_none" / "manifest.json").read_text())
    assert both["label_variant"]["kind"] == "none" and both["depth_variant"]["kind"] == "none"
    name = both["scenes"][0]
    cap = load_capture(tmp_path / "nl_none" / name / "capture")
    assert cap.depth is None and set(cap.labels.values()) == {""}
    # Refused: removing labels twice, and asking for nothing.
    with pytest.raises(InputError, match="already removed"):
        degrade_bench(tmp_path / "nl", tmp_path / "again", None, labels="none")
    assert main(["bench", "degrade", str(bench), "-o", str(tmp_path / "x")]) == 2
    assert "nothing to degrade" in capsys.readouterr().err and not (tmp_path / "x").exists()
