"""What a batch runs: inputs found from the three INPUT forms, and settings checked up front.

No Ray here: these are the checks that must fail fast, before a cluster is started.
"""

from __future__ import annotations

import json
import shutil

import pytest

from scenewright.batch import BatchSettings, find_captures, method_settings, run_batch
from scenewright.errors import InputError


def test_bench_folder_gives_manifest_scenes(bench):
    jobs = find_captures(bench)
    names = json.loads((bench / "manifest.json").read_text())["scenes"]
    assert [j.name for j in jobs] == names
    assert all(j.path == bench / n / "capture" for j, n in zip(jobs, names))
    assert [j.name for j in find_captures(bench, limit=2)] == names[:2]


def test_folder_of_captures_and_single_capture(bench, tmp_path):
    root = tmp_path / "caps"
    root.mkdir()
    shutil.copytree(bench / "scene_0001" / "capture", root / "kitchen")
    shutil.copytree(bench / "scene_0000", root / "scene_a")             # <name>/capture layout
    (root / "notes").mkdir()                                            # no rgb.png: not a capture
    jobs = find_captures(root)
    assert [(j.name, j.path) for j in jobs] == [("kitchen", root / "kitchen"),
                                                ("scene_a", root / "scene_a" / "capture")]
    # A folder that is itself a capture is one capture, named after it.
    assert [j.name for j in find_captures(root / "kitchen")] == ["kitchen"]
    assert [j.name for j in find_captures(root / "scene_a" / "capture")] == ["scene_a"]


def test_list_file(mixed_list, bench, corrupt_capture):
    jobs = find_captures(mixed_list)
    assert [j.name for j in jobs] == ["scene_0000", "scene_0001", "broken_capture", "scene_0002",
                                      "scene_0003"]
    assert jobs[2].path == corrupt_capture


def test_list_file_relative_paths_and_errors(bench, tmp_path):
    (tmp_path / "rel.txt").write_text(f"{bench.name}/scene_0002/capture\n")
    shutil.copytree(bench / "scene_0002", tmp_path / bench.name / "scene_0002")
    assert [j.name for j in find_captures(tmp_path / "rel.txt")] == ["scene_0002"]

    (tmp_path / "missing.txt").write_text("# header\n\nno/such/capture\n")
    with pytest.raises(InputError, match=r"missing\.txt, line 3: no/such/capture: capture folder not found"):
        find_captures(tmp_path / "missing.txt")

    dup = tmp_path / "dup.txt"
    dup.write_text(f"{bench}/scene_0000/capture\n{tmp_path / bench.name}/scene_0002/capture\n"
                   f"{bench}/scene_0002/capture\n")
    with pytest.raises(InputError, match="same output folder 'scene_0002'"):
        find_captures(dup)

    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match="not a text file"):
        find_captures(tmp_path / "binary.txt")


def test_bad_input_is_input_error(tmp_path, bench):
    with pytest.raises(InputError, match="not found"):
        find_captures(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no captures found"):
        find_captures(tmp_path / "empty")
    bad = tmp_path / "badbench"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"scenes": "scene_0000"}')
    with pytest.raises(InputError, match=r"manifest\.json: 'scenes' must be a list"):
        find_captures(bad)
    (bad / "manifest.json").write_text('{"scenes": [')
    with pytest.raises(InputError, match=r"manifest\.json: not valid JSON"):
        find_captures(bad)
    # run_batch checks the input before anything is written or any cluster is started.
    with pytest.raises(InputError, match="not found"):
        run_batch(tmp_path / "nowhere", tmp_path / "out", BatchSettings(method="boxes"), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw, message", [
    (dict(method="nerf"), "--method 'nerf': not one of"),
    (dict(method="layout", library=None), "needs --library"),
    (dict(method="layout", library="/nonexistent/lib"), "not an asset library"),
    (dict(method="midi"), "needs --weights"),
    (dict(method="midi", weights="/nonexistent/w"), "weights folder not found"),
    (dict(method="boxes", address="cluster"), "--address must be"),
    (dict(method="boxes", workers=0), "--workers must be"),
    (dict(method="boxes", cpus_per_task=0), "--cpus-per-task must be > 0"),
    (dict(method="boxes", limit=0), "--limit must be at least 1"),
    (dict(method="boxes", eval_bench="/nonexistent"), "not a benchmark folder"),
    (dict(method="boxes", overrides=("percentile",)), "expected KEY=VALUE"),
    (dict(method="boxes", overrides=("nope=1",)), "has no field 'nope'"),
    (dict(method="boxes", overrides=("percentile=high",)), "percentile is a float"),
    (dict(method="layout", overrides=("pose.nope=1",)), "has no field 'nope'"),
    (dict(method="layout", overrides=("posture.x=1",)), "no settings group 'posture'"),
    (dict(method="layout", overrides=("floor_pose.scales=(0.9,1.0,1.1)",)), r"scales is a list of values .*got '\(0.9"),
    (dict(method="boxes", config="/nonexistent/settings.toml"), "settings file not found"),
])
def test_bad_settings(kw, message, library_dir):
    if kw["method"] == "layout" and "library" not in kw:
        kw["library"] = str(library_dir)
    with pytest.raises(InputError, match=message):
        BatchSettings(**kw).validate()


def test_overrides_and_seed_reach_the_method_settings(library_dir):
    s = method_settings(BatchSettings(method="layout", library=str(library_dir), seed=7,
                                      overrides=("pose.render_assets=3", "scale_bounds=[0.5, 2]",
                                                 "features=classical")))
    assert s.seed == 7 and s.pose.render_assets == 3 and s.scale_bounds == (0.5, 2)
    assert s.features == "classical"
    b = method_settings(BatchSettings(method="boxes", overrides=("percentile=5",)))
    assert b.percentile == 5.0 and isinstance(b.percentile, float) and b.seed == 0
