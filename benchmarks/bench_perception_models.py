"""Learned perception: speed per stage (tiny models, this CPU), memory of the real models, and —
when real weights are in the models folder — quality of each stage on a generated benchmark.

    .venv/bin/python benchmarks/bench_perception_models.py [--models DIR] [--bench BENCH | --library LIB]
        [--scenes 5] [--method boxes|layout] [--out out/bench_perception] [--any-models]

1. Memory: parameters of each real checkpoint from its config (built on the ``meta``
   device: exact, nothing downloaded) × bytes per parameter.
2. Speed: each stage of ``perceive_image`` with tiny random-weight models of the real
   architectures (``scenewright.models.tiny``) at two image sizes, and the segmenter's
   one-encoding-for-all-boxes against the obvious alternative (one SAM call per box).
   Tiny models time the code around the networks (processors, NMS, mask painting,
   resizing); the real networks' cost is not in these figures.
3. Quality (real weights only; ``--any-models`` scores whatever is there, to check the
   script): per scene of the benchmark, depth AbsRel and δ < 1.25 against the rendered
   depth; detection recall (a GT instance is found when a detected box has IoU ≥ 0.5 with
   its mask's box, labels = the capture's instance labels); mask IoU (GT instances matched
   one to one to predicted masks, Hungarian on IoU); and ``scenewright eval`` of the
   method with given inputs vs estimated depth vs everything estimated (predicted
   instances renumbered to their matched GT ids, unmatched ones beyond).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scenewright.capture import Capture, load_capture, write_capture  # noqa: E402
from scenewright.models.folder import MARKER, models_dir  # noqa: E402


def memory_table(root: Path | None = None) -> list[dict]:
    from scenewright.models.folder import REQUIRED_FILE
    from scenewright.models.memory import parameter_count, parameter_count_of_folder
    from scenewright.models.registry import MODELS
    rows = []
    for name, spec in MODELS.items():
        n = parameter_count(name)
        if n is None and root is not None and (root / name / REQUIRED_FILE.get(name, "config.json")).is_file():
            n = parameter_count_of_folder(root / name)      # a checkpoint that is present: its tensors
        rows.append({"model": name, "repo": spec.repo_id, "params": n,
                     "fp32_MB": None if n is None else n * 4 / 2**20, "fp16_MB": None if n is None else n * 2 / 2**20})
    print("\nMemory of the real models' weights (from their configs; activations extra):")
    for r in rows:
        if r["params"] is None:
            print(f"  {r['model']:<10} {r['repo']:<58} (no config-only model; counted from the "
                  "checkpoint when it is in the models folder)")
        else:
            print(f"  {r['model']:<10} {r['repo']:<58} {r['params'] / 1e6:7.1f} M params  "
                  f"{r['fp32_MB']:7.0f} MiB fp32  {r['fp16_MB']:6.0f} MiB fp16")
    return rows


def _room_image(width: int, height: int) -> np.ndarray:
    from PIL import Image
    rgb = Image.open(ROOT / "examples" / "living_room" / "capture" / "rgb.png").convert("RGB")
    return np.asarray(rgb.resize((width, height)), np.uint8)


def tiny_timings(sizes=((512, 384), (1024, 768)), repeats: int = 3) -> dict:
    from scenewright.models.tiny import build_tiny_models
    from scenewright.perception.from_image import ImagePerceptionSettings, PerceptionModels, perceive_image
    out: dict = {"stages": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = build_tiny_models(Path(tmp) / "models")
        settings = ImagePerceptionSettings(box_threshold=0.0, text_threshold=0.0)
        models = PerceptionModels(root, "cpu", settings)
        t = time.perf_counter()
        models.detector()._load(), models.segmenter()._load(), models.depth()._load()
        out["load_s"] = time.perf_counter() - t
        print(f"\nSpeed with tiny models (random weights, real architectures) on this CPU; "
              f"loading all three: {out['load_s']:.2f} s")
        print(f"  {'image':>10} {'detect':>8} {'segment':>8} {'depth':>8} {'camera':>8} {'total':>8}  (s, median of {repeats})")
        for w, h in sizes:
            rgb = _room_image(w, h)
            runs = []
            for _ in range(repeats):
                _, rec = perceive_image(rgb, ["sofa", "chair", "coffee table", "lamp"], models, settings)
                runs.append(rec.timings_s)
            med = {k: float(np.median([r.get(k, 0.0) for r in runs])) for k in runs[0]}
            out["stages"].append({"size": [w, h], **med, "instances": len(rec.detections)})
            print(f"  {w:>5}x{h:<4} " + " ".join(f"{med.get(k, 0):8.3f}" for k in
                                                  ("detect", "segment", "depth", "camera", "total")))
        # One image encoding for all boxes vs one SAM call per box.
        seg = models.segmenter()
        rgb = _room_image(1024, 768)
        boxes = np.array([[40 + 60 * i, 100, 200 + 60 * i, 500] for i in range(12)], float)
        t = time.perf_counter()
        for _ in range(repeats):
            batched, _ = seg.segment(rgb, boxes)
        once = (time.perf_counter() - t) / repeats
        t = time.perf_counter()
        for _ in range(repeats):
            single = np.concatenate([seg.segment(rgb, b[None])[0] for b in boxes])
        per_box = (time.perf_counter() - t) / repeats
        same = bool(np.array_equal(batched, single))
        out["segment_12_boxes"] = {"encode_once_s": once, "per_box_s": per_box, "ratio": per_box / once,
                                   "same_masks": same}
        print(f"  segmenter, 12 boxes at 1024x768: encode once {once:.3f} s vs one call per box "
              f"{per_box:.3f} s ({per_box / once:.1f}x slower); same masks: {same}")
    return out


def _match(gt_seg: np.ndarray, pred_seg: np.ndarray, gt_ids: list[int]) -> tuple[dict, np.ndarray]:
    """GT id → (pred id, IoU), one to one by Hungarian on IoU; IoU matrix too."""
    from scipy.optimize import linear_sum_assignment
    pred_ids = [int(i) for i in np.unique(pred_seg) if i != 0]
    iou = np.zeros((len(gt_ids), len(pred_ids)))
    for a, g in enumerate(gt_ids):
        gm = gt_seg == g
        for b, p in enumerate(pred_ids):
            pm = pred_seg == p
            union = np.logical_or(gm, pm).sum()
            iou[a, b] = np.logical_and(gm, pm).sum() / union if union else 0.0
    rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
    return {gt_ids[r]: (pred_ids[c], float(iou[r, c])) for r, c in zip(rows, cols)}, iou


def _renumber(pred_seg: np.ndarray, labels: dict, matches: dict, min_iou: float = 0.25):
    """Predicted ids → matched GT ids (IoU ≥ min_iou), the rest beyond the largest GT id."""
    out = np.zeros_like(pred_seg)
    new_labels = {}
    to_gt = {p: g for g, (p, iou) in matches.items() if iou >= min_iou}
    nxt = max([*matches.keys(), 0]) + 1000
    for p in [int(i) for i in np.unique(pred_seg) if i != 0]:
        new = to_gt.get(p)
        if new is None:
            new, nxt = nxt, nxt + 1
        out[pred_seg == p] = new
        new_labels[new] = labels.get(p, "")
    return out, new_labels


def score_bench(bench: Path, root: Path, method: str, library: str | None, out: Path, limit: int) -> dict:
    from scenewright.perception.from_image import ImagePerceptionSettings, PerceptionModels, perceive_image
    from scenewright.perception.detect import box_iou
    from scenewright.perception.metric_depth import DepthAnythingDepth
    from scenewright.models.folder import model_folder
    manifest = json.loads((bench / "manifest.json").read_text())
    scenes = manifest["scenes"][:limit]
    settings = ImagePerceptionSettings()
    models = PerceptionModels(root, "cpu", settings)
    depth_source = DepthAnythingDepth(model_folder("depth", root))
    variants = {"given": out / "pred_given", "depth_estimated": out / "pred_depth", "all_estimated": out / "pred_all"}
    rows = []
    for name in scenes:
        cap = load_capture(bench / name / "capture")
        gt_ids = cap.instance_ids
        labels = sorted({lab for lab in cap.labels.values() if lab})
        t = time.perf_counter()
        est = depth_source.depth(cap)              # given focal length: rescaled
        t_depth = time.perf_counter() - t
        valid = np.isfinite(cap.depth) & np.isfinite(est) & (cap.depth > 0)
        ratio = est[valid] / cap.depth[valid]
        absrel = float(np.mean(np.abs(est[valid] - cap.depth[valid]) / cap.depth[valid]))
        delta1 = float(np.mean(np.maximum(ratio, 1 / ratio) < 1.25))
        t = time.perf_counter()
        dets = models.detector().detect(cap.rgb, labels)
        t_det = time.perf_counter() - t
        gt_boxes = np.array([[*np.nonzero(cap.seg == g)[1].min(0, keepdims=True), *np.nonzero(cap.seg == g)[0].min(0, keepdims=True),
                              np.nonzero(cap.seg == g)[1].max() + 1, np.nonzero(cap.seg == g)[0].max() + 1] for g in gt_ids], float)
        det_boxes = np.stack([d.box for d in dets]) if dets else np.zeros((0, 4))
        found = (box_iou(gt_boxes, det_boxes).max(axis=1) >= 0.5) if len(det_boxes) else np.zeros(len(gt_ids), bool)
        blank = Capture(rgb=cap.rgb, K=cap.K, camera_is_default=True, path=cap.path)
        t = time.perf_counter()
        try:
            perceived, rec = perceive_image(blank, labels, models, settings)
            matches, _ = _match(cap.seg, perceived.seg, gt_ids)
        except Exception as exc:      # nothing found counts as zero
            perceived, matches, rec = None, {}, None
            print(f"  {name}: perception failed ({exc})")
        t_all = time.perf_counter() - t
        mask_iou = float(np.mean([matches.get(g, (0, 0.0))[1] for g in gt_ids])) if gt_ids else None
        rows.append({"scene": name, "absrel": absrel, "delta1": delta1, "recall": float(found.mean()),
                     "mask_iou": mask_iou, "detections": len(dets), "gt": len(gt_ids),
                     "timings_s": {"depth": t_depth, "detect": t_det, "perceive_all": t_all}})
        print(f"  {name}: AbsRel {absrel:.3f}  δ<1.25 {delta1:.3f}  recall {found.mean():.2f}  "
              f"mask IoU {mask_iou:.3f}  ({len(dets)} boxes for {len(gt_ids)} objects)")
        # Inputs for the end-to-end runs.
        write_capture(cap, variants["given"].parent / "cap_given" / name, overwrite=True)
        write_capture(Capture(rgb=cap.rgb, K=cap.K, seg=cap.seg, depth=est, labels=cap.labels, path=cap.path),
                      out / "cap_depth" / name, overwrite=True)
        if perceived is not None:
            seg, labs = _renumber(perceived.seg, perceived.labels, matches)
            write_capture(Capture(rgb=cap.rgb, K=perceived.K, seg=seg, depth=perceived.depth, labels=labs,
                                  camera_is_default=False), out / "cap_all" / name, overwrite=True)
    summary = {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in ("absrel", "delta1", "recall", "mask_iou")}
    print("  mean: " + "  ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    # End to end: the method on each input variant, scored by `scenewright eval`.
    e2e = {}
    for variant, caps in (("given", out / "cap_given"), ("depth_estimated", out / "cap_depth"), ("all_estimated", out / "cap_all")):
        preds = variants[variant]
        shutil.rmtree(preds, ignore_errors=True)
        preds.mkdir(parents=True)
        print(f"  running {method} on {variant} inputs ({len(scenes)} scenes) and scoring…", flush=True)
        for name in scenes:
            if not (caps / name).is_dir():
                continue
            cmd = [sys.executable, "-m", "scenewright", "reconstruct", str(caps / name), "-o", str(preds / name),
                   "--method", method, "--no-preview"] + (["--library", library] if library else [])
            subprocess.run(cmd, cwd=ROOT, capture_output=True)
        report_path = out / f"eval_{variant}.json"
        subprocess.run([sys.executable, "-m", "scenewright", "eval", str(preds), str(bench), "--out", str(report_path)],
                       cwd=ROOT, capture_output=True)
        if report_path.is_file():     # summary values are {"mean": x, "n": k}
            summ = json.loads(report_path.read_text()).get("summary", {})
            e2e[variant] = {k: (v.get("mean") if isinstance(v, dict) else v) for k, v in summ.items()}
    if e2e:
        keys = [k for k in ("recovery", "auc_trans0.5", "auc_rot60_sym", "p1_f_s", "p1_iou_b") if k in next(iter(e2e.values()))]
        print(f"\nEnd to end ({method}), given vs estimated inputs:")
        print(f"  {'inputs':<17}" + "".join(f"{k:>15}" for k in keys))
        for variant, summ in e2e.items():
            print(f"  {variant:<17}" + "".join(f"{'-' if summ.get(k) is None else round(summ[k], 3):>15}" for k in keys))
    return {"scenes": rows, "summary": summary, "end_to_end": e2e}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="models folder (default: $SCENEWRIGHT_MODELS, else the cache)")
    ap.add_argument("--bench", default=None, help="a benchmark folder (else one is made with --library)")
    ap.add_argument("--library", default=None, help="asset library (bench making; --method layout)")
    ap.add_argument("--scenes", type=int, default=5)
    ap.add_argument("--method", choices=["boxes", "layout"], default=None,
                    help="end-to-end method (default: layout with --library, else boxes)")
    ap.add_argument("--out", default="out/bench_perception")
    ap.add_argument("--any-models", action="store_true", help="score whatever models are there (checks the script)")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    args.method = args.method or ("layout" if args.library else "boxes")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import platform
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if Path("/proc/cpuinfo").is_file() else platform.processor()
    import os
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {load[0]} / {load[1]} / {load[2]}")
    report: dict = {"cpu": cpu, "load_average": load, "memory": memory_table(models_dir(args.models))}
    if not args.skip_speed:
        report["speed_tiny"] = tiny_timings()
    root = models_dir(args.models)
    needed = ("depth", "detector", "segmenter")
    real = [n for n in needed if (root / n / MARKER).is_file()]
    present = [n for n in needed if (root / n / "config.json").is_file()]
    if len(real) < 3 and not (args.any_models and len(present) == 3):
        missing = [n for n in needed if n not in real]
        print(f"\nQuality: real weights absent in {root} ({', '.join(missing)} not downloaded) — "
              f"no quality figures. Get them online with `scenewright models download {' '.join(missing) if len(missing) == 1 else 'all'}`.")
        report["quality"] = {"skipped": f"real weights absent in {root}: {missing}"}
    else:
        bench = Path(args.bench) if args.bench else out / "bench"
        if not (bench / "manifest.json").is_file():
            if not args.library:
                sys.exit("--bench BENCH or --library LIB (to make one) is needed for the quality figures")
            subprocess.run([sys.executable, "-m", "scenewright", "bench", "make", "-o", str(bench), "--library",
                            args.library, "--scenes", str(args.scenes), "--seed", "0", "--quiet"], cwd=ROOT, check=True)
        print(f"\nQuality on {bench} ({'real weights' if len(real) == 3 else 'the models present: NOT real weights'}):")
        report["quality"] = score_bench(bench, root, args.method, args.library, out, args.scenes)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"\nreport: {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
