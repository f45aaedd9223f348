"""MIDI registration without depth: the metric scale alone, at the true pose.

    .venv/bin/python benchmarks/bench_midi_scale.py BENCH LIBRARY [HELD-OUT CATALOG ...]

Each bench scene's ground-truth meshes are put in the camera frame (metres, so the right
scale is 1), the floor found from their lowest points as the registration does, and the
scale read off the cues (``register.metric_scale_from_cues``) with several settings: the
error is then the scale's alone, not the pose's. Catalogs named after the bench are left
out of the size table (rooms furnished from them stand for objects no asset matches).
Prints the error (%) per scene and variant, and per variant its median, mean and maximum.
"""
import dataclasses
import json
import sys

import numpy as np
from pathlib import Path
from scenewright.scene import read_scene
from scenewright.capture import load_capture
from scenewright.library import Library
from scenewright.methods.midi import register as rg
bench, library, held = Path(sys.argv[1]), sys.argv[2], set(sys.argv[3:])
lib = Library.open(library)
sizes = rg.category_sizes(lib, keep=(lambda r: r.catalog not in held) if held else None)
names = json.loads((bench / "manifest.json").read_text())["scenes"]
base = rg.RegisterSettings()
R = dataclasses.replace
variants = {"weighted median of sizes (before)": None,
            "sizes only": R(base, height_prior_sigma=0.0),
            "sizes only nomerge": R(base, height_prior_sigma=0.0, merge_same_asset=False),
            "default": base,
            "nomerge": R(base, merge_same_asset=False),
            "cam .15": R(base, height_prior_sigma=0.15),
            "cam .15 nomerge": R(base, height_prior_sigma=0.15, merge_same_asset=False),
            "furn .08": R(base, furniture_sigma=0.08),
            "furn .08 nomerge": R(base, furniture_sigma=0.08, merge_same_asset=False),
            "camera only": R(base, height_prior_sigma=0.1, exact_sigma=1e3, furniture_sigma=1e3, small_sigma=1e3)}
err = {k: [] for k in variants}
for k, name in enumerate(names):
    gt = read_scene(bench / name / "gt"); cap = load_capture(bench / name / "capture")
    cfw = np.linalg.inv(np.asarray(gt.camera.world_from_camera, float))
    seg = np.asarray(cap.seg)
    verts = {inst.id: inst.world_mesh().vertices @ cfw[:3, :3].T + cfw[:3, 3] for inst in gt.instances
             if inst.mesh is not None and np.any(seg == inst.id)}
    order = sorted(verts)
    allv = np.concatenate(list(verts.values()))
    size = float(np.linalg.norm(allv.max(0) - allv.min(0)))
    low = lambda ups: np.stack([(verts[i] @ ups.T).min(0) for i in order], 1)
    pitch, height, members = rg.support_floor(low, size, (-15, 75), 0.03)
    floor_ids = [order[m] for m in members]
    line = []
    for vn, st in variants.items():
        if st is None:
            heights, foot = rg.object_measures(verts, floor_ids, pitch, height)
            votes = rg.size_scale_votes(heights, foot, cap.labels, sizes)
            from scenewright.methods.layout.depth_fit import weighted_median
            lr = np.array([v.log_ratio for v in votes.values()]); w = np.array([0.5 if v.small else 1.0 for v in votes.values()])
            sc = float(np.exp(weighted_median(lr, w)))
        else:
            sc = rg.metric_scale_from_cues(verts, floor_ids, pitch, height, cap.labels, sizes, st)[0]
        err[vn].append(100 * abs(sc - 1)); line.append("%5.1f" % err[vn][-1])
    print(name, " ".join(line), flush=True)
print("variants:", list(variants))
for vn, e in err.items():
    e = np.array(e); print("%-20s median %5.1f mean %5.1f max %5.1f  <5%%: %d/%d" % (vn, np.median(e), e.mean(), e.max(), (e < 5).sum(), len(e)))
