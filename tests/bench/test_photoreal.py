"""``bench photoreal``: a benchmark re-rendered by real Cycles — only rgb.png changes, the
silhouettes are checked against seg.png, exposure varies around a metered one, reruns resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scenewright.bench.generate import make_bench
from scenewright.bench.photoreal import (LightRig, PhotorealSettings, draw_rig, kelvin_rgb, photoreal_bench,
                                         render_photoreal, silhouette_iou, without_duplicate_faces)
from scenewright.cli import main
from scenewright.errors import InputError

from .conftest import small_settings

pytest.importorskip("bpy")
FAST = dict(samples=4)          # a few paths per pixel: the test checks geometry, light and exposure


@pytest.fixture(scope="module")
def tiny_bench(small_library, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photoreal") / "bench"
    make_bench(out, small_library, small_settings(scenes=1, size=96, objects=(4, 6)), progress=False)
    return out


@pytest.fixture(scope="module")
def photo(tiny_bench, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photoreal") / "photo"
    assert main(["bench", "photoreal", str(tiny_bench), "-o", str(out), "--samples", "4", "--seed", "3",
                 "--quiet"]) == 0
    return out


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_only_the_picture_changes(tiny_bench, photo):
    before, after = _digests(tiny_bench), _digests(photo)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {"scene_0000/capture/rgb.png", "manifest.json"}
    assert set(after) - set(before) == {"photoreal.json", "scene_0000/photoreal.json"}
    old = np.asarray(Image.open(tiny_bench / "scene_0000/capture/rgb.png"))
    new = np.asarray(Image.open(photo / "scene_0000/capture/rgb.png"))
    assert new.shape == old.shape and new.dtype == np.uint8
    # a different rendering of the same room: not a copy, yet not empty or saturated
    assert np.abs(new.astype(int) - old).mean() > 5
    assert 10 < new.mean() < 245 and new.std() > 10


def test_manifest_records_settings_draws_and_checks(tiny_bench, photo):
    man = json.loads((photo / "manifest.json").read_text())
    src = json.loads((tiny_bench / "manifest.json").read_text())
    assert {k: v for k, v in man.items() if k != "photoreal"} == src
    info = man["photoreal"]
    assert info["settings"]["samples"] == 4 and info["settings"]["seed"] == 3
    assert info["settings"]["view_transform"] == "AgX"
    scene = info["per_scene"]["scene_0000"]
    assert scene["iou_min"] >= 0.9 and scene["iou_mean"] >= 0.98
    seg = np.asarray(Image.open(tiny_bench / "scene_0000/capture/seg.png"))
    assert sorted(int(k) for k in scene["iou"]) == sorted(int(i) for i in np.unique(seg[seg > 0]))
    assert {"AREA", "POINT"} <= {light["type"] for light in scene["lights"]}
    assert abs(scene["exposure_offset"]) <= 1.0
    assert scene["exposure_stops"] == pytest.approx(scene["metered_stops"] + scene["exposure_offset"])
    assert scene["timings_s"]["render"] > 0


def test_rerun_skips_done_scenes_and_other_settings_are_refused(tiny_bench, photo):
    rgb = photo / "scene_0000/capture/rgb.png"
    stamp = rgb.stat().st_mtime_ns
    photoreal_bench(tiny_bench, photo, PhotorealSettings(seed=3, **FAST), progress=False)
    assert rgb.stat().st_mtime_ns == stamp          # not rendered again
    with pytest.raises(InputError, match="not empty"):
        photoreal_bench(tiny_bench, photo, PhotorealSettings(seed=4, **FAST), progress=False)
    assert rgb.stat().st_mtime_ns == stamp


def test_exposure_offset_brightens_the_same_render(tiny_bench, tmp_path):
    """Same lights and seed: the linear render (so the metered exposure) is the same, and +1 stop
    gives a brighter picture than −1 stop."""
    from scenewright.scene import read_scene
    scene = read_scene(tiny_bench / "scene_0000/gt")
    settings = PhotorealSettings(**FAST)
    bounds = np.array([np.min([m.bounds[0] for m in scene.room.values()], 0),
                       np.max([m.bounds[1] for m in scene.room.values()], 0)])
    rig = draw_rig(np.random.default_rng(0), bounds, [i.node for i in scene.instances], settings)
    results, means = [], []
    for k, offset in enumerate((-1.0, 1.0)):
        rig = LightRig(rig.lights, rig.roughness, rig.floor_roughness, offset)
        work = tmp_path / f"w{k}"
        work.mkdir()
        results.append(render_photoreal(scene, tiny_bench, work / "rgb.png", rig, settings, seed=1, work=work))
        means.append(np.asarray(Image.open(work / "rgb.png"), float).mean())
    assert results[0]["metered_stops"] == pytest.approx(results[1]["metered_stops"], abs=1e-6)
    assert results[1]["exposure_stops"] - results[0]["exposure_stops"] == pytest.approx(2.0)
    assert means[1] > means[0] + 20
    np.testing.assert_array_equal(results[0]["ids"], results[1]["ids"])


def test_silhouettes_that_disagree_with_seg_are_refused(tiny_bench, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bench, bad)
    seg_path = bad / "scene_0000/capture/seg.png"
    seg = np.asarray(Image.open(seg_path))
    Image.fromarray(np.roll(seg, 6, axis=1)).save(seg_path)     # the masks 6 px off the picture
    out = tmp_path / "out"
    with pytest.raises(InputError, match="IoU"):
        photoreal_bench(bad, out, PhotorealSettings(**FAST), progress=False)
    assert not (out / "scene_0000").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]      # no temporaries left
    # --overwrite onto a finished benchmark: when the new one fails, the old one is still there
    kept = tmp_path / "kept"
    shutil.copytree(tiny_bench, kept)
    before = _digests(kept)
    with pytest.raises(InputError, match="IoU"):
        photoreal_bench(bad, kept, PhotorealSettings(**FAST), overwrite=True, progress=False)
    assert _digests(kept) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_inputs(photo, tmp_path, capsys):
    assert main(["bench", "photoreal", str(tmp_path / "nothing"), "-o", str(tmp_path / "x")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["bench", "photoreal", str(photo), "-o", str(tmp_path / "y"), "--quiet"]) == 2
    assert "already a photoreal" in capsys.readouterr().err
    assert main(["bench", "photoreal", str(photo), "-o", str(tmp_path / "z"), "--samples", "0"]) == 2
    assert "--samples" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists() and not (tmp_path / "z").exists()


def test_duplicate_faces_are_dropped_once():
    import trimesh
    quad = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
    # the same quad again, wound the other way, on vertices of its own
    both = trimesh.util.concatenate([quad, trimesh.Trimesh(quad.vertices, quad.faces[:, ::-1], process=False)])
    out = without_duplicate_faces(both)
    assert len(out.faces) == 2 and np.isclose(out.area, quad.area)
    assert without_duplicate_faces(quad) is quad


def test_lights_inside_the_room_and_seeded():
    bounds = np.array([[-2.0, 0.0, -1.5], [2.0, 2.6, 1.5]])
    s = PhotorealSettings()
    a = draw_rig(np.random.default_rng([0, 1]), bounds, ["inst_1"], s)
    b = draw_rig(np.random.default_rng([0, 1]), bounds, ["inst_1"], s)
    assert a == b
    for seed in range(20):
        rig = draw_rig(np.random.default_rng([seed, 0]), bounds, ["inst_1"], s)
        for light in rig.lights:
            position = np.asarray(light["position"])
            assert np.all(position > bounds[0]) and np.all(position < bounds[1])
            assert 0 < min(light["color"]) and max(light["color"]) <= 1 + 1e-9
        colours = np.array([light["color"] for light in rig.lights])
        mix = (np.array([light["power_w"] for light in rig.lights])[:, None] * colours).sum(0)
        np.testing.assert_allclose(mix / mix.max(), 1.0, atol=1e-9)      # white balanced
        assert colours.max() == pytest.approx(1.0)
        assert s.gloss_roughness[0] <= rig.roughness["inst_1"] <= s.gloss_roughness[1]
        assert abs(rig.exposure_offset) <= s.exposure_range
    # warm lamps redder than daylight
    warm, cool = kelvin_rgb(2700), kelvin_rgb(6500)
    assert warm[2] / warm[0] < cool[2] / cool[0]


def test_silhouette_iou():
    seg = np.zeros((4, 4), int)
    seg[:2, :2] = 1
    ren = seg.copy()
    ren[0, 2] = 1
    assert silhouette_iou(ren, seg) == {1: pytest.approx(4 / 5)}
