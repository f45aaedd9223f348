"""MIDI registration and photo textures, measured exactly on ground-truth bench scenes.

    .venv/bin/python benchmarks/bench_midi_register.py --bench BENCH [--library LIB] [--scenes N] [-o OUT]

Each ground-truth scene (``scenewright bench make``) is moved into a MIDI-like normalised
frame by a random similarity (uniform rotation, ~2 units wide, seeded per scene) and
registered back (``scenewright.methods.midi.register``) with depth and without it (masks,
with the library's category sizes for the metric scale). Reported per mode: rotation
error (°), relative scale error, translation error (the largest displacement of any
object centre, m) and its mean over objects, mask IoU, wall and CPU time (the process's, so other jobs on the machine do not count) — against the targets
(< 1°, < 1 %, < 2 cm with depth; < 3°, < 5 %, < 10 cm without).

Textures: the depth-registered scene is coloured from the photo (``texture.py``) and
re-rendered unlit from the input camera; masked colour error (MAE, PSNR) against the photo,
beside the untextured (grey) meshes. Figures go to OUT/texture_<scene>.png
(photo | untextured | textured). Writes OUT/report.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"depth": (1.0, 0.01, 0.02), "masks": (3.0, 0.05, 0.10)}


def main(argv=None) -> int:
    from PIL import Image

    from scenewright.capture import load_capture
    from scenewright.methods.midi import register as rg
    from scenewright.methods.midi.finish import size_priors
    from scenewright.methods.midi.texture import masked_colour_error, texture_from_photo
    from scenewright.scene import read_scene
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from machine_info import machine as machine_info

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench", required=True)
    p.add_argument("--library", default=None, help="asset library for category sizes (no-depth scale)")
    p.add_argument("--heldout-catalogs", nargs="+", default=[],
                   help="leave these catalogs' assets out of the size table (rooms furnished from them "
                        "stand for generated objects that match no asset)")
    p.add_argument("--scenes", type=int, default=None)
    p.add_argument("--modes", nargs="+", default=["depth", "masks"])
    p.add_argument("--no-texture", action="store_true", help="skip the photo-texture comparison")
    p.add_argument("--first-scene", type=int, default=0, help="skip the manifest's first N scenes")
    p.add_argument("-o", "--out", default="out/bench_midi_register")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = Path(args.bench)
    names = json.loads((bench / "manifest.json").read_text())["scenes"]
    names = names[args.first_scene:][:args.scenes]
    if args.heldout_catalogs:
        from scenewright.library import Library
        held = set(args.heldout_catalogs)
        sizes = rg.category_sizes(Library.open(args.library), keep=lambda r: r.catalog not in held)
    else:
        sizes = size_priors(args.library)
    rows = []
    for k, name in enumerate(names):
        cap = load_capture(bench / name / "capture")
        gt = read_scene(bench / name / "gt")
        meshes, truth = rg.random_midi_frame(gt, np.random.default_rng([7, args.first_scene + k]))
        centres = np.stack([m.bounds.mean(0) for m in meshes.values()])
        for mode in args.modes:
            t0, c0 = time.perf_counter(), time.process_time()
            reg = rg.register(meshes, cap, rg.RegisterSettings(mode=mode), sizes=sizes)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            e = rg.similarity_errors(reg.camera_from_midi, truth, centres)
            pe = centres @ reg.camera_from_midi[:3, :3].T + reg.camera_from_midi[:3, 3]
            pt = centres @ truth[:3, :3].T + truth[:3, 3]
            e["translation_mean_m"] = float(np.linalg.norm(pe - pt, axis=1).mean())
            e.update(scene=name, mode=mode, time_s=dt, cpu_s=cpu, scale_from=reg.scale_from, flags=reg.flags,
                     mask_iou=float(np.mean(list(reg.mask_iou.values()))),
                     camera_height_err_m=abs(reg.camera_height_m - float(gt.camera.world_from_camera[1][3])))
            print(json.dumps({a: (round(b, 4) if isinstance(b, float) else b) for a, b in e.items()}), flush=True)
            rows.append(e)
            if mode == "depth" and not args.no_texture:
                from scenewright.scene import Instance, Scene
                raw = Scene(camera=None, instances=[Instance(id=i, mesh=m) for i, m in meshes.items()],
                            extra={"midi": {}})
                scene = rg.registered_scene(raw, cap, reg)
                t0 = time.perf_counter()
                textured, _ = texture_from_photo(scene, cap)
                t_tex = time.perf_counter() - t0
                plain = masked_colour_error(scene, cap)
                tex = masked_colour_error(textured, cap)
                rows.append({"scene": name, "mode": "texture", "untextured_mae": plain["mae"],
                             "textured_mae": tex["mae"], "untextured_psnr_db": plain["psnr_db"],
                             "textured_psnr_db": tex["psnr_db"], "time_s": t_tex})
                print(json.dumps(rows[-1]), flush=True)
                Image.fromarray(np.concatenate([np.asarray(cap.rgb), plain["render_rgb"], tex["render_rgb"]], 1)
                                ).save(out / f"texture_{name}.png")
    summary = {}
    for mode in args.modes:
        r = [x for x in rows if x["mode"] == mode]
        if not r:
            continue
        tr, ts, tt = TARGETS[mode]
        summary[mode] = {
            "scenes": len(r),
            "rotation_deg_median": float(np.median([x["rotation_deg"] for x in r])),
            "scale_rel_median": float(np.median([x["scale_rel"] for x in r])),
            "translation_m_median": float(np.median([x["translation_m"] for x in r])),
            "translation_mean_m_median": float(np.median([x["translation_mean_m"] for x in r])),
            "within_targets": sum(x["rotation_deg"] < tr and x["scale_rel"] < ts and x["translation_m"] < tt
                                  for x in r),
            "time_s_median": float(np.median([x["time_s"] for x in r])),
            "cpu_s_median": float(np.median([x["cpu_s"] for x in r])),
        }
    t = [x for x in rows if x["mode"] == "texture"]
    if t:
        summary["texture"] = {k: float(np.mean([x[k] for x in t])) for k in
                              ("untextured_mae", "textured_mae", "untextured_psnr_db", "textured_psnr_db", "time_s")}
    report = {"bench": str(bench), "library": args.library, "heldout_catalogs": args.heldout_catalogs,
              "targets": TARGETS, "summary": summary,
              "rows": rows, "machine": machine_info()}
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
