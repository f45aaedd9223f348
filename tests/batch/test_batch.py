"""Batches on a real local Ray cluster (2 CPUs), checked against in-process runs of the methods.

Every output must be a readable scene folder with one instance per capture instance and
the very transforms a plain sequential call of the method gives (both methods are
deterministic); a corrupt capture fails alone, with a message naming its file; a
resumed batch skips what is done and redoes what was made with other settings.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from scenewright.batch import BATCH_FILE, EVAL_FILE, BatchSettings, run_batch
from scenewright.capture import load_capture
from scenewright.cli import main as cli_main
from scenewright.errors import InputError
from scenewright.scene import load_glb_nodes, read_scene

SCENES = ["scene_0000", "scene_0001", "scene_0002", "scene_0003"]


def batch_json(root) -> dict:
    return json.loads((root / BATCH_FILE).read_text())


def by_name(report: dict) -> dict[str, dict]:
    return {r["name"]: r for r in report["captures"]}


def assert_valid_output(folder, capture_dir):
    """A readable scene folder whose GLB nodes and scene.json agree, one instance per capture instance."""
    scene = read_scene(folder)
    ids = [i.id for i in scene.instances]
    assert ids == load_capture(capture_dir).instance_ids
    nodes = load_glb_nodes(folder / "scene.glb")
    for inst in scene.instances:
        if inst.mesh is not None:
            np.testing.assert_allclose(nodes[f"inst_{inst.id}"][0], inst.world_from_object, atol=1e-6)
    return scene


def assert_same_instances(scene, reference, tol=1e-9):
    assert [i.id for i in scene.instances] == [i.id for i in reference.instances]
    for a, b in zip(scene.instances, reference.instances):
        assert a.asset_id == b.asset_id
        np.testing.assert_allclose(a.world_from_object, b.world_from_object, rtol=0, atol=tol)
        np.testing.assert_allclose(a.size, b.size, rtol=0, atol=tol)


@pytest.fixture(scope="module")
def boxes_run(mixed_list, ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("batch_boxes") / "out"
    # --workers 5 on the 2-CPU cluster: 2 are started, and batch.json says why.
    report = run_batch(mixed_list, root, BatchSettings(method="boxes", address="local", workers=5),
                       progress=False)
    return root, report


def test_boxes_on_ray_matches_the_method_and_isolates_the_corrupt_capture(boxes_run, bench):
    from scenewright.methods.boxes import BoxesSettings, reconstruct_boxes
    root, report = boxes_run
    recs = by_name(report)
    assert report == batch_json(root)                 # what was returned is what was recorded
    assert report["status"] == "done"
    assert report["totals"]["ok"] == 4 and report["totals"]["failed"] == 1

    bad = recs["broken_capture"]
    assert bad["status"] == "failed"
    assert "rgb.png" in bad["error"] and "cannot read image" in bad["error"]
    assert not (root / "broken_capture").exists()     # nothing half-written

    for name in SCENES:
        assert recs[name]["status"] == "ok" and recs[name]["seconds"] > 0
        scene = assert_valid_output(root / name, bench / name / "capture")
        reference = reconstruct_boxes(load_capture(bench / name / "capture"), BoxesSettings())
        assert_same_instances(scene, reference)
        assert scene.method["settings"] == report["method_settings"]

    # The cluster and the workers are recorded; both workers (separate processes) took captures.
    ray = report["ray"]
    assert ray["cpus"] == 2 and len(ray["nodes"]) == 1 and ray["nodes"][0]["cpus"] == 2
    pids = {w["pid"] for w in report["workers"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert report["settings"]["workers"] == 5 and "--workers 5" in report["notes"][0]
    assert {r["worker"] for r in report["captures"]} == {w["worker"] for w in report["workers"]}
    t = report["totals"]
    assert t["throughput_per_min"] > 0 and t["startup_s"] > 0 and t["run_s"] > 0
    assert sum(t["captures_per_worker"].values()) == 5


def test_sequential_fallback_gives_the_same_scenes(boxes_run, mixed_list, tmp_path):
    ray_root, _ = boxes_run
    report = run_batch(mixed_list, tmp_path / "seq", BatchSettings(method="boxes", address="none"),
                       progress=False)
    assert report["ray"] is None and report["workers"][0]["pid"] == os.getpid()
    assert [r["status"] for r in report["captures"]] == ["ok", "ok", "failed", "ok", "ok"]
    for name in SCENES:
        assert_same_instances(read_scene(tmp_path / "seq" / name), read_scene(ray_root / name))


def test_resume_skips_done_and_reruns_changed(mixed_list, bench, tmp_path):
    # In this process: resuming is the same code whichever way the captures ran (the settings
    # key leaves the address out, so a batch started on a cluster can be finished on a laptop).
    root = tmp_path / "out"
    first = run_batch(mixed_list, root, BatchSettings(method="boxes", address="none", limit=2),
                      progress=False)
    assert [r["status"] for r in first["captures"]] == ["ok", "ok"]
    stamps = {n: (root / n / "scene.json").stat().st_mtime_ns for n in SCENES[:2]}

    # Same settings, the whole list: the two done are skipped, untouched; the rest run.
    settings = BatchSettings(method="boxes", address="none")
    second = run_batch(mixed_list, root, settings, progress=False)
    recs = by_name(second)
    assert [recs[n]["status"] for n in SCENES[:2]] == ["skipped", "skipped"]
    assert recs["scene_0000"]["previous"]["worker"] == by_name(first)["scene_0000"]["worker"]
    assert {n: (root / n / "scene.json").stat().st_mtime_ns for n in SCENES[:2]} == stamps
    assert [recs[n]["status"] for n in SCENES[2:]] == ["ok", "ok"]
    assert recs["broken_capture"]["status"] == "failed"       # failures are retried, and fail again
    assert second["totals"]["skipped"] == 2
    # And again: now everything that can be done is done; skipped records still name their run.
    again = by_name(run_batch(mixed_list, root, settings, progress=False))
    assert [again[n]["status"] for n in SCENES] == ["skipped"] * 4
    assert again["scene_0000"]["previous"] == recs["scene_0000"]["previous"]
    assert again["scene_0002"]["previous"]["worker"] == recs["scene_0002"]["worker"]

    # Changed settings: everything is redone (replacing this batch's own outputs) and records them.
    changed = BatchSettings(method="boxes", address="none", overrides=("percentile=10",))
    third = run_batch(mixed_list, root, changed, progress=False)
    assert third["totals"]["skipped"] == 0 and third["totals"]["ok"] == 4
    for n in SCENES:
        assert read_scene(root / n, load_meshes=False).method["settings"]["percentile"] == 10.0
    # A run over part of the input keeps the others' records, so they still count as this batch's.
    partial = run_batch(mixed_list, root, BatchSettings(method="boxes", address="none", limit=1),
                        progress=False)
    assert [r["name"] for r in partial["earlier_captures"]] == ["scene_0001", "broken_capture",
                                                                "scene_0002", "scene_0003"]
    again = BatchSettings(method="boxes", address="none", overrides=("percentile=12",))
    assert run_batch(mixed_list, root, again, progress=False)["totals"]["ok"] == 4
    # --no-resume redoes even what is up to date.
    changed.resume, changed.limit = False, 1
    assert run_batch(mixed_list, root, changed, progress=False)["captures"][0]["status"] == "ok"


def test_existing_folder_not_written_by_a_batch_is_kept(bench, tmp_path):
    root = tmp_path / "out"
    (root / "scene_0001").mkdir(parents=True)
    (root / "scene_0001" / "precious.txt").write_text("mine")
    settings = BatchSettings(method="boxes", address="none", limit=2)
    recs = by_name(run_batch(bench, root, settings, progress=False))
    assert recs["scene_0000"]["status"] == "ok"
    assert recs["scene_0001"]["status"] == "failed" and "--overwrite" in recs["scene_0001"]["error"]
    assert (root / "scene_0001" / "precious.txt").read_text() == "mine"
    settings.overwrite = True
    recs = by_name(run_batch(bench, root, settings, progress=False))
    assert recs["scene_0000"]["status"] == "skipped" and recs["scene_0001"]["status"] == "ok"
    assert not (root / "scene_0001" / "precious.txt").exists()


def test_layout_on_ray_matches_sequential_run_and_scores(bench, library_dir, ray_cluster, tmp_path):
    from scenewright import Resources, get_method, run_to_folder

    root = tmp_path / "out"
    report = run_batch(bench, root, BatchSettings(method="layout", library=str(library_dir), address="local",
                                                  workers=2, eval_bench=str(bench), eval_points=256),
                       progress=False)
    assert report["totals"]["ok"] == 4 and report["totals"]["failed"] == 0
    assert len({r["worker"] for r in report["captures"]}) == 2
    assert report["fingerprint"]["library_version"]

    # The reference: the method's own run, one capture after another in this process.
    resources = Resources(library=library_dir)
    method = get_method("layout")(resources=resources)
    try:
        for name in SCENES:
            reference = run_to_folder(bench / name / "capture", tmp_path / "ref" / name, method, preview=False)
            scene = assert_valid_output(root / name, bench / name / "capture")
            assert_same_instances(scene, reference)
            assert scene.attribution and all(a["license"] for a in scene.attribution)
    finally:
        resources.close()

    # --eval scored the batch output against the benchmark and stored the report beside batch.json.
    ev = json.loads((root / EVAL_FILE).read_text())
    assert ev["n_scenes"] == 4 and ev["n_scored"] == 4 and not any(
        f.get("id") is None for f in ev["failures"])                   # no scene failed as a whole
    assert report["eval"]["report"] == EVAL_FILE and report["eval"]["pooled"] == ev["pooled"]
    assert ev["pooled"]["auc_trans0.5"] > 0.5


def test_cli_exit_codes(mixed_list, corrupt_capture, bench, tmp_path, capsys):
    out = tmp_path / "cli"
    # Failures are reported, the batch still succeeds (exit 0) when anything was produced.
    assert cli_main(["batch", str(mixed_list), "-o", str(out), "--method", "boxes", "--address", "none",
                     "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 ok, 1 failed" in text and "broken_capture" in text and "rgb.png" in text
    assert by_name(batch_json(out))["broken_capture"]["status"] == "failed"
    # Every capture failed: exit 1.
    only_bad = tmp_path / "bad.txt"
    only_bad.write_text(f"{corrupt_capture}\n")
    assert cli_main(["batch", str(only_bad), "-o", str(tmp_path / "cli2"), "--method", "boxes",
                     "--address", "none", "--no-progress"]) == 1
    # Bad input: exit 2 with the file named, nothing written.
    assert cli_main(["batch", str(tmp_path / "nope"), "-o", str(tmp_path / "cli3"), "--method", "boxes",
                     "--no-progress"]) == 2
    assert "nope: not found" in capsys.readouterr().err
    assert not (tmp_path / "cli3").exists()
    assert cli_main(["batch", str(bench), "-o", str(tmp_path / "cli4"), "--method", "boxes",
                     "--set", "percentile=lots", "--no-progress"]) == 2


def test_a_killed_worker_is_replaced_and_its_capture_retried(bench, ray_cluster, tmp_path):
    """A worker process killed (SIGKILL, as the OOM killer or a lost node would) mid-batch."""
    import signal

    from scenewright.batch.cluster import run_pool
    from scenewright.batch.inputs import find_captures

    batch = BatchSettings(method="boxes", address="local")
    tasks = [(job, tmp_path / job.name, False) for job in find_captures(bench)]
    killed, records = [], []

    def kill_first(infos, seconds):
        killed.append(infos[0]["pid"])
        os.kill(infos[0]["pid"], signal.SIGKILL)

    infos = run_pool(ray_cluster, batch, tasks, 2, records.append, kill_first)
    assert sorted(r["name"] for r in records) == SCENES and all(r["status"] == "ok" for r in records)
    retried = [r for r in records if "retried_after" in r]
    assert len(retried) == 1 and "the worker died" in retried[0]["retried_after"]
    assert retried[0]["worker"] != f"{infos[0]['host']}:{killed[0]}"      # done by the replacement
    assert len(infos) == 3 and infos[2]["actor"] == 0 and infos[2]["pid"] != killed[0]
    for name in SCENES:
        assert_valid_output(tmp_path / name, bench / name / "capture")


def test_pool_size():
    from scenewright.batch.cluster import pool_size
    assert pool_size(None, 8.0, 1.0) == (8, None)
    assert pool_size(None, 8.0, 3.0) == (2, None)
    with pytest.raises(InputError, match="only 1 CPUs, no worker could ever start"):
        pool_size(None, 1.0, 2.0)
    assert pool_size(3, 8.0, 1.0) == (3, None)
    n, note = pool_size(6, 4.0, 1.5)
    assert n == 2 and "exceeds the cluster's 4 CPUs" in note


def test_foreign_batch_json_is_refused(bench, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / BATCH_FILE).write_text('{"format": "something/9"}')
    with pytest.raises(InputError, match=r"batch\.json: not a scenewright batch record"):
        run_batch(bench, tmp_path / "out", BatchSettings(method="boxes", address="none"), progress=False)


def test_midi_batch_loads_the_checkpoint_once_and_matches_single_runs(tmp_path, tiny_midi):
    """MIDI with the tiny fixture checkpoint: the worker keeps one loaded pipeline, and every
    capture gives the scene a plain `reconstruct` gives."""
    import shutil

    from scenewright import Resources, get_method
    tiny = tiny_midi
    caps = tmp_path / "caps"
    for name in ("a", "b"):
        (caps / name).mkdir(parents=True)
        shutil.copy(tiny / "golden" / "scene_rgb.png", caps / name / "rgb.png")
        shutil.copy(tiny / "golden" / "scene_seg.png", caps / name / "seg.png")
    settings = BatchSettings(method="midi", weights=str(tiny), address="none",
                             overrides=("steps=2", "octree_depth=4", "smooth=false"))
    report = run_batch(caps, tmp_path / "out", settings, progress=False)
    assert report["totals"]["ok"] == 2
    midi = get_method("midi")
    single = midi(midi.Settings(steps=2, octree_depth=4, smooth=False),
                  Resources(weights=tiny)).reconstruct(load_capture(caps / "a"))
    for name in ("a", "b"):
        scene = read_scene(tmp_path / "out" / name)
        assert scene.timings_s["load_weights"] < 0.01          # loaded once, by the worker
        for x, y in zip(single.instances, scene.instances):
            # the same triangles (scene.glb splits vertices at creases to give them normals)
            assert len(x.mesh.faces) == len(y.mesh.faces)
            np.testing.assert_allclose(x.mesh.vertices[x.mesh.faces], y.mesh.vertices[y.mesh.faces], atol=1e-6)


def test_no_room_and_ceiling_reach_every_scene(bench, tmp_path):
    """batch --no-room / --ceiling do what reconstruct's do, in every scene.glb and scene.json,
    and a batch with another room is another result (not resumed as the default's)."""
    names = sorted(p.name for p in bench.iterdir() if (p / "capture").is_dir())[:2]
    runs = {"default": [], "bare": ["--no-room"], "ceiling": ["--ceiling"]}
    rooms = {}
    for key, flags in runs.items():
        out = tmp_path / key
        assert cli_main(["batch", str(bench), "-o", str(out), "--method", "boxes", "--address", "none",
                         "--limit", "2", *flags]) == 0
        rooms[key] = []
        for name in names:
            data = json.loads((out / name / "scene.json").read_text())
            nodes = load_glb_nodes(out / name / "scene.glb")
            rooms[key].append((bool(data.get("room", {}).get("included")),
                               sorted(n for n in nodes if n in ("floor", "ceiling") or n.startswith("wall_"))))
    assert all(included and "floor" in surfaces and "ceiling" not in surfaces for included, surfaces in rooms["default"])
    assert all(not included and surfaces == [] for included, surfaces in rooms["bare"])
    assert all(included and "ceiling" in surfaces for included, surfaces in rooms["ceiling"])
    # the default batch folder rerun with --no-room is redone, not skipped as already there
    assert cli_main(["batch", str(bench), "-o", str(tmp_path / "default"), "--method", "boxes", "--address", "none",
                     "--limit", "2", "--no-room"]) == 0
    report = json.loads((tmp_path / "default" / "batch.json").read_text())
    assert report["totals"]["skipped"] == 0 and report["totals"]["ok"] == 2
