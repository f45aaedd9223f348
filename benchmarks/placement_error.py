"""Where a layout run's placement error comes from, object by object, in the camera frame.

usage: python benchmarks/placement_error.py RUN BENCH
  RUN    a folder with ``report.json`` (``scenewright eval``) and ``pred/<scene>/scene.json``
  BENCH  the bench those scenes came from (``<scene>/gt/scene.json``)

Per scene: the camera's height (predicted / true) and pitch (predicted − true), the median over
its objects of predicted / true distance from the camera (one number per scene: the scale and
camera height) and the spread about it. Per object: its true distance, the predicted / true
distance (and against the scene's median), the error across the line of sight (m), the size ratio
(cube root of the boxes' volumes), and the evaluator's translation error and IoU-B. Object centres
are the boxes' centres (origin + half the height along the object's up axis).
"""
import json
import sys

import numpy as np


def centre(instance, camera_from_world):
    m = np.array(instance["world_from_object"], float)
    c = m[:3, 3] + m[:3, 1] * instance["size"][1] / 2
    return camera_from_world[:3, :3] @ c + camera_from_world[:3, 3]


def main(run, bench):
    report = json.load(open(f"{run}/report.json"))
    errors = {(s["scene"], o["id"]): o for s in report["scenes"] for o in s["objects"]}
    rows = []
    for s in report["scenes"]:
        name = s["scene"]
        gt = json.load(open(f"{bench}/{name}/gt/scene.json"))
        pred = json.load(open(f"{run}/pred/{name}/scene.json"))
        wg, wp = np.array(gt["camera"]["world_from_camera"]), np.array(pred["camera"]["world_from_camera"])
        cg, cp = np.linalg.inv(wg), np.linalg.inv(wp)
        pitch = np.degrees(np.arcsin(-wp[1, 2])) - np.degrees(np.arcsin(-wg[1, 2]))
        truth = {i["id"]: i for i in gt["instances"]}
        scene = []
        for ins in pred["instances"]:
            g = truth.get(ins["id"])
            if g is None:
                continue
            a, b = centre(ins, cp), centre(g, cg)
            ra, rb = np.linalg.norm(a), np.linalg.norm(b)
            across = np.linalg.norm(a / ra - b / rb) * rb
            size = np.prod(ins["size"]) ** (1 / 3) / np.prod(g["size"]) ** (1 / 3)
            e = errors.get((name, ins["id"]), {})
            scene.append((ins["id"], g["category"], rb, ra / rb, across, size, e.get("trans_err_m"), e.get("p1_iou_b")))
        if not scene:
            continue
        log_range = np.log([r[3] for r in scene])
        median = float(np.median(log_range))
        print(f"{name} camera height ×{wp[1, 3] / wg[1, 3]:.3f} pitch {pitch:+.2f}°  distance ×{np.exp(median):.3f}"
              f" (spread {np.median(np.abs(log_range - median)):.3f})")
        for r in scene:
            t = "—" if r[6] is None else f"{r[6]:.2f}"
            iou = "—" if r[7] is None else f"{r[7]:.2f}"
            print(f"   {r[0]:2d} {r[1]:12s} at {r[2]:.2f} m: distance ×{r[3]:.3f} (×{r[3] / np.exp(median):.3f} of the"
                  f" scene's) across {r[4]:.3f} m  size ×{r[5]:.3f}  trans {t} m  IoU-B {iou}")
        rows += [r + (median, wp[1, 3] / wg[1, 3]) for r in scene]
    log_range = np.log([r[3] for r in rows])
    medians = np.array([r[8] for r in rows])
    print(f"{len(rows)} objects: distance |log| mean {np.mean(np.abs(log_range)):.3f}, about each scene's median"
          f" {np.mean(np.abs(log_range - medians)):.3f}; across the line of sight {np.mean([r[4] for r in rows]):.3f} m;"
          f" size |log| {np.mean(np.abs(np.log([r[5] for r in rows]))):.3f};"
          f" camera height |log| (per object) {np.mean([abs(np.log(r[9])) for r in rows]):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
