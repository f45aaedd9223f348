"""``run_batch``: captures → ``OUT_ROOT/<name>/`` scene folders, on Ray or in this process.

>>> from scenewright.batch import BatchSettings, run_batch
>>> report = run_batch("bench/", "out/", BatchSettings(method="layout", library="data/library"))

``OUT_ROOT/batch.json`` (rewritten atomically after every capture, so an interrupted
batch can be resumed) records the settings, the Ray cluster, every capture's status,
seconds and worker, and the totals. Resuming skips a capture whose ``scene.json``
exists, says it was made by the same method with the same settings, and — when an
earlier ``batch.json`` knows it — came from the same library and weights.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from rich.progress import TextColumn

from scenewright import __version__
from scenewright.batch.inputs import CaptureJob, find_captures
from scenewright.batch.worker import needs_perception
from scenewright.batch.settings import SEQUENTIAL, BatchSettings, fingerprint, method_settings, settings_json
from scenewright.errors import InputError
from scenewright.fileio import (check_writable_parent, is_no_space_text, read_json, refuse_overlap,
                                remove_stale_temporaries, write_json)
from scenewright.methods.registry import get_method
from scenewright.models.folder import models_dir
from scenewright.progress import make_progress

BATCH_FORMAT = "batch/1"
BATCH_FILE = "batch.json"
EVAL_FILE = "eval.json"


def _library_version(batch: BatchSettings) -> str | None:
    if "library" not in get_method(batch.method).needs:
        return None
    from scenewright.bench.generate import library_version
    from scenewright.library import Library
    return library_version(Library.open(batch.library))


def _previous_records(out_root: Path) -> dict[str, dict]:
    """Per-capture records of an earlier batch into ``out_root`` (name → record)."""
    path = out_root / BATCH_FILE
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != BATCH_FORMAT:
        raise InputError(f"{path}: not a scenewright batch record (format {BATCH_FORMAT}); "
                         "move it away or choose another output folder")
    rows = list(data.get("earlier_captures", [])) + list(data.get("captures", []))
    return {r["name"]: r for r in rows if isinstance(r, dict) and "name" in r}


def _scene_settings(out: Path) -> tuple[str | None, dict | None]:
    """(method name, method settings) recorded in ``out/scene.json`` (None, None if unreadable)."""
    try:
        data = json.loads((out / "scene.json").read_text())
        return data["method"]["name"], data["method"].get("settings")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def plan(jobs: list[CaptureJob], out_root: Path, batch: BatchSettings, finger: dict,
         previous: dict[str, dict]) -> tuple[list[tuple], list[dict]]:
    """Decide each capture's fate: ``(tasks to run, records of captures not run)``.

    A task is ``(job, out_dir, overwrite)``. A capture is skipped (resume) when its
    output is up to date; an existing output is replaced when this batch wrote it
    before (its record is in ``batch.json``) or with ``--overwrite``; any other
    existing folder is left alone and the capture fails saying so.
    """
    tasks, records = [], []
    for job in jobs:
        out = out_root / job.name
        prev = previous.get(job.name)
        exists = out.is_dir() and any(out.iterdir())
        if not exists:
            if out.exists() and not out.is_dir():
                records.append(_failed(job, out, f"{out}: exists and is not a folder"))
            else:
                tasks.append((job, out, False))
            continue
        name, settings = _scene_settings(out)
        same = (name == finger["method"] and settings == finger["settings"]
                and (prev is None or prev.get("settings_key") == finger["key"]))
        if batch.resume and same:
            rec = {"name": job.name, "capture": str(job.path), "out": str(out), "status": "skipped",
                   "reason": "output exists with the same settings (resume)", "settings_key": finger["key"]}
            if prev is not None:
                # The run that made it (carried through any number of resumed runs).
                rec["previous"] = prev.get("previous") if prev.get("status") == "skipped" else \
                    {k: prev.get(k) for k in ("seconds", "worker", "finished")}
            records.append(rec)
        elif prev is not None or batch.overwrite:
            tasks.append((job, out, True))
        else:
            why = "was made with other settings" if name else "is not a scene folder made by this batch"
            records.append(_failed(job, out, f"{out}: exists and {why}; pass --overwrite to replace it"))
    return tasks, records


def _failed(job: CaptureJob, out: Path, error: str) -> dict:
    return {"name": job.name, "capture": str(job.path), "out": str(out), "status": "failed",
            "error": error, "seconds": None, "worker": None}


def check_perception_models(jobs: list[CaptureJob], batch: BatchSettings) -> None:
    """Before any work: the models the perceived captures will need are in the models folder
    (depth for every image; detector and segmenter for those without instance masks).
    InputError, one line naming the download command; a corrupt folder fails its captures."""
    from scenewright.models.folder import model_folder
    from scenewright.perception.cli import lacks_inputs
    needed: list[str] = []
    for job in (j for j in jobs if needs_perception(j, batch)):
        no_seg = job.seg is None and (job.is_image or lacks_inputs(job.path, wanted=("seg",)))
        no_depth = job.is_image or lacks_inputs(job.path, wanted=("depth",))
        for name, missing in (("detector", no_seg), ("segmenter", no_seg), ("depth", no_depth)):
            if missing and name not in needed:
                needed.append(name)
    for name in needed:
        model_folder(name, batch.models)


def machine_info() -> dict:
    import os
    return {"host": platform.node(), "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count()}


def _progress(enabled: bool):
    return make_progress(enabled, "batch",
                         TextColumn("[green]{task.fields[ok]} ok[/green] [red]{task.fields[failed]} failed[/red]"),
                         eta=True)


def totals(records: list[dict], run_s: float, startup_s: float) -> dict:
    """Counts, seconds and throughput of the captures run (skipped ones count as neither)."""
    ran = [r for r in records if r["status"] in ("ok", "failed") and r.get("seconds") is not None]
    ok = sum(r["status"] == "ok" for r in records)
    busy = sum(r["seconds"] for r in ran)
    per_worker: dict[str, int] = {}
    for r in ran:
        per_worker[r.get("worker") or "?"] = per_worker.get(r.get("worker") or "?", 0) + 1
    return {"captures": len(records), "ok": ok, "failed": sum(r["status"] == "failed" for r in records),
            "skipped": sum(r["status"] == "skipped" for r in records),
            "startup_s": round(startup_s, 3), "run_s": round(run_s, 3),
            "capture_seconds_sum": round(busy, 3),
            "mean_capture_s": round(busy / len(ran), 3) if ran else None,
            "throughput_per_min": round(60.0 * len(ran) / run_s, 3) if ran and run_s > 0 else None,
            "captures_per_worker": per_worker}


def run_batch(source, out_root, batch: BatchSettings | None = None, progress: bool = True) -> dict:
    """Reconstruct every capture of ``source`` into ``out_root``; returns the ``batch.json`` data.

    Failed captures are recorded (``status: failed``, ``error``) and never stop the
    batch; bad settings or a bad ``source`` raise InputError before any work starts.
    """
    batch = batch or BatchSettings()
    batch.validate()
    t_start = time.perf_counter()
    out_root = Path(out_root)
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: exists and is not a folder")
    jobs = find_captures(source, batch.limit)
    perceives = any(needs_perception(job, batch) for job in jobs)
    check_perception_models(jobs, batch)
    # OUT_ROOT must be clear of everything the batch reads: with --overwrite, a root that is
    # (or holds) the benchmark would have every capture/ replaced by a prediction.
    refuse_overlap(out_root, [source, *(j.path for j in jobs), *(j.seg for j in jobs if j.seg), batch.eval_bench,
                              *batch.resources().paths(get_method(batch.method).needs),
                              *get_method(batch.method).reads(method_settings(batch)),
                              *([models_dir(batch.models)] if perceives else [])])
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: exists and is not a folder")
    check_writable_parent(out_root / BATCH_FILE)
    remove_stale_temporaries(out_root)          # of a killed earlier batch into this root
    mjson = settings_json(method_settings(batch))
    finger = fingerprint(batch, mjson, _library_version(batch), perceives)
    previous = _previous_records(out_root)
    tasks, records = plan(jobs, out_root, batch, finger, previous)
    order = {j.name: k for k, j in enumerate(jobs)}

    finger_json = {k: v for k, v in finger.items() if k != "settings"}
    report = {"format": BATCH_FORMAT, "scenewright": __version__, "status": "running",
              "input": str(Path(source).resolve()), "out_root": str(out_root.resolve()),
              "settings": batch.to_json(), "method_settings": mjson,
              "settings_key": finger["key"], "fingerprint": finger_json,
              "machine": machine_info(), "ray": None, "workers": [], "notes": [],
              "captures": [], "totals": None,
              # Outputs of earlier runs into this root that this run did not touch (--limit, another
              # INPUT): kept, so a later run knows this batch wrote them.
              "earlier_captures": [r for n, r in previous.items() if n not in order]}

    def save() -> None:
        report["captures"] = sorted(records, key=lambda r: order.get(r["name"], 0))
        write_json(out_root / BATCH_FILE, report)

    created = not out_root.exists()
    out_root.mkdir(parents=True, exist_ok=True)
    startup_s, run_s = 0.0, 0.0
    try:
        bar = _progress(progress)
        with bar:
            task = bar.add_task("", total=len(jobs), ok=0, failed=0,
                                completed=len(records))
            counts = {"ok": 0, "failed": sum(r["status"] == "failed" for r in records)}
            bar.update(task, failed=counts["failed"])
            t_run = [time.perf_counter()]

            def on_result(record: dict) -> None:
                if record["status"] == "failed" and is_no_space_text(record.get("error", "")):
                    # every later capture would fail the same way: stop (resuming continues here)
                    raise InputError(f"{out_root}: no space left on device ({record['error']})")
                record["settings_key"] = finger["key"]
                record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                records.append(record)
                counts[record["status"]] = counts.get(record["status"], 0) + 1
                bar.update(task, advance=1, ok=counts["ok"], failed=counts["failed"], description=record["name"])
                save()

            save()
            if tasks and batch.address == SEQUENTIAL:
                bar.update(task, description="warming up")
                startup_s = _run_sequential(batch, tasks, report, on_result, t_run)
            elif tasks:
                bar.update(task, description="starting Ray")
                startup_s = _run_ray(batch, tasks, report, on_result, t_run, save,
                                     lambda text: bar.update(task, description=text))
            run_s = time.perf_counter() - t_run[0] if tasks else 0.0
    except BaseException as exc:
        # Leave a record that says the batch stopped and why (resume picks up from here).
        report["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["totals"] = totals(records, run_s, startup_s)
        try:
            save()
        finally:
            if created and not any(out_root.iterdir()):
                out_root.rmdir()             # nothing was written: leave no empty folder behind
        raise
    report["totals"] = totals(records, run_s, startup_s)
    report["totals"]["total_s"] = round(time.perf_counter() - t_start, 3)
    report["status"] = "done"
    save()
    if batch.eval_bench:
        report["eval"] = run_eval(out_root, batch.eval_bench, batch.eval_points)
        save()
    return report


def _run_sequential(batch: BatchSettings, tasks: list[tuple], report: dict, on_result, t_run: list) -> float:
    """One Reconstructor in this process, the captures in order; returns its warm-up seconds."""
    from scenewright.batch.worker import Reconstructor
    t0 = time.perf_counter()
    worker = Reconstructor(batch)
    try:
        report["workers"] = [{**worker.info(), "actor": 0}]
        startup_s = time.perf_counter() - t0
        t_run[0] = time.perf_counter()
        for job, out, overwrite in tasks:
            record = worker.run(job, str(out), overwrite)
            record["actor"] = 0
            on_result(record)
    finally:
        worker.close()
    return startup_s


def _run_ray(batch: BatchSettings, tasks: list[tuple], report: dict, on_result, t_run: list, save,
             say) -> float:
    """The captures on a Ray actor pool; returns the start-up seconds (connect + warm-up)."""
    import math
    import os

    from scenewright.batch.cluster import cluster_info, connect, pool_size, run_pool
    t0 = time.perf_counter()
    local_cpus = None
    if batch.address == "local":
        local_cpus = max(1, math.ceil((batch.workers or os.cpu_count() or 1) * batch.cpus_per_task))
    ray, started = connect(batch.address, local_cpus)
    try:
        info = cluster_info(ray)
        info.update(address=batch.address, started_here=started)
        report["ray"] = info
        n_workers, note = pool_size(batch.workers, info["cpus"], batch.cpus_per_task)
        n_workers = min(n_workers, len(tasks))
        if note:
            report["notes"].append(note)
        info["connect_s"] = round(time.perf_counter() - t0, 3)
        say(f"warming {n_workers} workers")

        def on_started(infos: list[dict], seconds: float) -> None:
            report["workers"] = infos
            info["warmup_s"] = round(seconds, 3)
            t_run[0] = time.perf_counter()
            save()

        report["workers"] = run_pool(ray, batch, tasks, n_workers, on_result, on_started)
        return t_run[0] - t0
    finally:
        if started:
            ray.shutdown()


def run_eval(out_root: Path, bench: str | Path, points: int = 20480) -> dict:
    """Score ``out_root`` against ``bench`` with the evaluator; its report goes to ``eval.json``."""
    from scenewright.evaluate.evaluator import EvalSettings, evaluate_bench
    t0 = time.perf_counter()
    report = evaluate_bench(out_root, bench, EvalSettings(points_per_object=points))
    write_json(out_root / EVAL_FILE, report)
    return {"bench": str(Path(bench).resolve()), "report": EVAL_FILE,
            "seconds": round(time.perf_counter() - t0, 3), "n_scenes": report.get("n_scenes"),
            "n_failures": len(report.get("failures", [])), "pooled": report.get("pooled")}
