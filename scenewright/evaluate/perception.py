"""Measure perception against a benchmark's ground truth (floor, walls, object boxes).

    scenewright eval perception data/bench-512 [--limit N] [--json out.json]

For every scene: the floor's angle and camera-height error, each visible wall's angle and
offset error (at the centroid of its visible pixels, in the camera frame), wall detection
counts, and per object the upright box's yaw error (modulo 180°, boxes with a clear long side),
centre and size errors against the ground-truth object's box. Also how well the geometric
scene graph of the ground-truth scene agrees with the generator's own relations.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from scenewright.capture import DEFAULT_HFOV_DEG, intrinsics_from_hfov, load_capture
from scenewright.fileio import read_json
from scenewright.geometry.boxes import canonical_yaw, yaw_error_deg
from scenewright.geometry.planes import Plane, angle_deg
from scenewright.geometry.transforms import apply, backproject, rigid_inverse, yaw_of
from scenewright.library.categories import category_info
from scenewright.methods.layout.scene_graph import build_scene_graph, object_box
from scenewright.perception.perceive import PerceptionSettings, perceive
from scenewright.progress import make_progress
from scenewright.scene import read_scene


def measure_scene(folder: Path, settings: PerceptionSettings | None = None, graph: bool = True,
                  depth_noise: float = 0.0, nan_fraction: float = 0.0, seed: int = 0,
                  default_camera: bool = False) -> dict:
    """Errors of :func:`perceive` on one benchmark scene folder (``capture/`` + ``gt/``).
    ``depth_noise``: multiplicative Gaussian noise (σ, e.g. 0.02) added to the depth first;
    ``nan_fraction``: share of pixels whose depth is dropped (holes); ``default_camera``: forget
    camera.json (the default field of view is assumed, as for a photo without intrinsics)."""
    cap = load_capture(folder / "capture")
    gt = read_scene(folder / "gt")
    clean_depth = cap.depth.copy()
    true_K = cap.K.copy()
    if default_camera:
        cap.K = intrinsics_from_hfov(cap.width, cap.height, DEFAULT_HFOV_DEG)
        cap.camera_is_default = True
    if depth_noise > 0 or nan_fraction > 0:
        rng = np.random.default_rng(seed)
        cap.depth = (cap.depth * (1 + depth_noise * rng.standard_normal(cap.depth.shape))).astype(np.float32)
        cap.depth[rng.random(cap.depth.shape) < nan_fraction] = np.nan
    t0 = time.perf_counter()
    obs = perceive(cap, settings)
    elapsed = time.perf_counter() - t0
    gt_wfc = np.asarray(gt.camera.world_from_camera, float)
    out: dict = {"scene": folder.name, "seconds": elapsed, "flags": obs.flags,
                 "focal_rel_err": float(abs(obs.K[0, 0] - true_K[0, 0]) / true_K[0, 0])}
    up_gt = gt_wfc[:3, :3].T @ [0, 1, 0]
    gt_height = float(gt_wfc[1, 3] - (gt.floor or {}).get("height", 0.0))
    if obs.floor is not None:
        up_est = obs.world_from_camera[:3, :3].T @ [0, 1, 0]
        out["floor_angle_deg"] = angle_deg(up_est, up_gt)
        out["floor_height_err_m"] = abs(obs.camera_height - gt_height)
    # Walls, compared in the camera frame at the centroid of each GT wall's visible pixels.
    pts_cam = backproject(clean_depth, true_K)
    pts_gt = apply(gt_wfc, pts_cam)
    background = cap.seg == 0
    cam_from_est = rigid_inverse(obs.world_from_camera)
    est = [w.transformed(cam_from_est) for w in obs.walls]
    walls = []
    matched = set()
    for k, w in enumerate(gt.walls):
        p = Plane.from_any(w)
        on = background & (np.abs(p.distance(np.nan_to_num(pts_gt, nan=1e6))) < 0.05)
        if on.sum() < 0.02 * on.size:
            continue
        gt_cam = p.transformed(rigid_inverse(gt_wfc))
        centroid = pts_cam[on].mean(axis=0)
        cands = [(abs(e.distance(centroid)), j) for j, e in enumerate(est)
                 if angle_deg(e.normal, gt_cam.normal, unsigned=True) < 15 and j not in matched]
        if not cands:
            walls.append({"wall": k, "visible_fraction": float(on.mean()), "found": False})
            continue
        dist, j = min(cands)
        matched.add(j)
        walls.append({"wall": k, "visible_fraction": float(on.mean()), "found": True,
                      "angle_deg": angle_deg(est[j].normal, gt_cam.normal, unsigned=True), "dist_m": dist})
    out["walls"] = walls
    out["false_walls"] = len(est) - len(matched)
    # Objects: perceived boxes mapped into the GT world.
    gt_from_est = gt_wfc @ rigid_inverse(obs.world_from_camera)
    turn = yaw_of(gt_from_est[:3, :3])
    objs = []
    for o in obs.objects:
        try:
            inst = gt.instance(o.id)
        except KeyError:
            continue
        if o.box is None or inst.mesh is None:
            objs.append({"id": o.id, "box": False})
            continue
        g = object_box(inst)
        c = apply(gt_from_est, o.box.centre)
        hs_gt, hs_est = sorted(g.size[[0, 2]]), sorted(o.box.size[[0, 2]])
        g_yaw, _ = canonical_yaw(g.yaw, g.size)      # perceived boxes have x = the long side
        elongated = hs_gt[1] > 1.2 * hs_gt[0]
        radial = category_info(inst.category or "").symmetry == "radial"
        objs.append({
            "id": o.id, "category": inst.category, "box": True, "truncated": o.truncated,
            "n_pixels": o.n_pixels,
            # Yaw is meaningless for radially symmetric things (lamps, plants, vases).
            "yaw_err_deg": None if radial else yaw_error_deg(o.box.yaw + turn, g_yaw, 180.0 if elongated else 90.0),
            "elongated": bool(elongated),
            "centre_err_m": float(np.linalg.norm(c - g.centre)),
            "centre_xz_err_m": float(np.linalg.norm((c - g.centre)[[0, 2]])),
            "height_err_m": float(abs(o.box.size[1] - g.size[1])),
            "top_err_m": float(abs(c[1] + o.box.size[1] / 2 - g.top)),
            "footprint_err_m": float(np.abs(np.subtract(hs_est, hs_gt)).max()),
        })
    out["objects"] = objs
    if graph and gt.relations:
        derived = {json.dumps(r.to_json(), sort_keys=True)
                   for r in build_scene_graph(gt.instances, gt.floor, gt.walls)}
        given = {json.dumps(r.to_json(), sort_keys=True) for r in gt.relations}
        out["graph"] = {"given": len(given), "derived": len(derived), "agree": len(given & derived),
                        "missing": sorted(given - derived), "extra": sorted(derived - given)}
    return out


def summarise(results: list[dict]) -> dict:
    """Medians / rates over scenes."""
    def med(values):
        v = [x for x in values if x is not None]
        return None if not v else float(np.median(v))

    def pct(values, q):
        v = [x for x in values if x is not None]
        return None if not v else float(np.percentile(v, q))

    fl = [r for r in results if "floor_angle_deg" in r]
    walls = [w for r in results for w in r["walls"]]
    found = [w for w in walls if w["found"]]
    objs = [o for r in results for o in r["objects"] if o.get("box")]
    full = [o for o in objs if not o["truncated"] and o["n_pixels"] >= 2000]
    graph = [r["graph"] for r in results if "graph" in r]
    yawed = [o for o in objs if o["yaw_err_deg"] is not None]
    full_yawed = [o for o in full if o["yaw_err_deg"] is not None]
    return {
        "scenes": len(results),
        "floor_found": len(fl),
        "floor_angle_deg": {"median": med([r["floor_angle_deg"] for r in fl]),
                            "p90": pct([r["floor_angle_deg"] for r in fl], 90),
                            "max": max([r["floor_angle_deg"] for r in fl], default=None)},
        "floor_height_err_m": {"median": med([r["floor_height_err_m"] for r in fl]),
                               "p90": pct([r["floor_height_err_m"] for r in fl], 90),
                               "max": max([r["floor_height_err_m"] for r in fl], default=None)},
        "walls_visible": len(walls), "walls_found": len(found),
        "false_walls": sum(r["false_walls"] for r in results),
        "wall_angle_deg": {"median": med([w["angle_deg"] for w in found]), "p90": pct([w["angle_deg"] for w in found], 90)},
        "wall_dist_m": {"median": med([w["dist_m"] for w in found]), "p90": pct([w["dist_m"] for w in found], 90)},
        "objects": len(objs),
        "yaw_err_deg": {"n": len(yawed), "median": med([o["yaw_err_deg"] for o in yawed]),
                        "within_10deg": float(np.mean([o["yaw_err_deg"] < 10 for o in yawed])) if yawed else None},
        "yaw_err_deg_unoccluded_large": {"n": len(full_yawed), "median": med([o["yaw_err_deg"] for o in full_yawed]),
                                         "within_10deg": float(np.mean([o["yaw_err_deg"] < 10 for o in full_yawed]))
                                         if full_yawed else None},
        "centre_xz_err_m": {"median": med([o["centre_xz_err_m"] for o in objs]),
                            "unoccluded_large_median": med([o["centre_xz_err_m"] for o in full])},
        "top_err_m": {"median": med([o["top_err_m"] for o in objs])},
        "footprint_err_m": {"median": med([o["footprint_err_m"] for o in objs])},
        "focal_rel_err": {"median": med([r["focal_rel_err"] for r in results]),
                          "max": max([r["focal_rel_err"] for r in results], default=None)},
        "seconds_per_scene": {"median": med([r["seconds"] for r in results]), "max": max([r["seconds"] for r in results], default=None)},
        "graph_agreement": None if not graph else {
            "given": sum(g["given"] for g in graph), "derived": sum(g["derived"] for g in graph),
            "agree": sum(g["agree"] for g in graph)},
    }


def measure_bench(bench: str | Path, settings: PerceptionSettings | None = None, limit: int | None = None,
                  depth_noise: float = 0.0, nan_fraction: float = 0.0, default_camera: bool = False,
                  progress: bool = True) -> dict:
    """``{"summary": summarise(...), "scenes": [measure_scene(...) per scene]}`` for a benchmark folder."""
    bench = Path(bench)
    scenes = read_json(bench / "manifest.json").get("scenes", [])[:limit]
    results = []
    bar = make_progress(progress, "perception")
    with bar:
        task = bar.add_task("", total=len(scenes))
        for name in scenes:
            bar.update(task, description=name)
            results.append(measure_scene(bench / name, settings, depth_noise=depth_noise,
                                         nan_fraction=nan_fraction, seed=len(results),
                                         default_camera=default_camera))
            bar.advance(task)
    return {"summary": summarise(results), "scenes": results}
