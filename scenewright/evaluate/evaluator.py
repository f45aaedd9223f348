"""Score predicted scene folders against a benchmark's ground truth.

``evaluate_bench(pred_root, bench)`` scores every scene of a benchmark folder; one
broken or missing prediction never stops the run: it scores as a failure (worst values
where defined) and is listed with its reason. ``evaluate_scene`` scores one pair of
scene folders. See ``docs/evaluate.md`` for every metric's definition.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from scenewright import __version__
from scenewright.errors import InputError
from scenewright.evaluate import placement as L
from scenewright.evaluate import points as P
from scenewright.evaluate.plausibility import PlausibilitySettings, check_plausibility
from scenewright.geometry.symmetry import RADIAL_ANGLES_DEG, SymmetrySettings, mesh_symmetry
from scenewright.fileio import read_json
from scenewright.library.categories import category_info
from scenewright.scene import Scene, read_scene

EVALUATOR_VERSION = "1.1"      # 1.1: rotation symmetry from the GT geometry (1.0: from the category)
P1_LABEL = "MIDI protocol (corrected ICP)"
P2_LABEL = "metric unaligned (P2-style)"
SYMMETRY_LABELS = {
    "geometry": "rotation symmetry from GT geometry (v1.1): categories with symmetry 'none' stay 'none'; "
                "otherwise the largest yaw group (radial > four > two > none) under which the GT mesh's "
                "seeded surface samples match themselves within the tolerance (excess mean Chamfer / bbox "
                "diagonal)",
    "category": "rotation symmetry from the GT category (v1.0 rule: category_info(cat).symmetry)",
}


@dataclass
class EvalSettings:
    """Protocol settings; recorded in every report."""

    points_per_object: int = 20480
    seed: int = 0                        # base of the per-object sampling seeds
    p1_tau: float = 0.1                  # F-score threshold, unsquared distance
    icp_iterations: int = 50
    icp_rel_tol: float = 1e-6
    icp_max_points: int = 8192           # ICP estimates on this many pred points (0 = all)
    object_norm_bound: float = 0.95      # per-axis min–max normalisation of objects (P1)
    p2_taus: tuple[float, ...] = (0.05, 0.10)   # metres
    auc_rot_limit_deg: float = 60.0
    auc_trans_limit_m: float = 0.5
    plausibility: PlausibilitySettings = field(default_factory=PlausibilitySettings)
    symmetry: SymmetrySettings = field(default_factory=SymmetrySettings)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# Metrics shown in the table, with a short label and "higher is better" flag; order matters.
METRICS: list[tuple[str, str, bool | None]] = [
    ("recovery", "object recovery", True),
    ("exact_asset", "exact-asset rate", True),
    ("category_match", "category match", True),
    ("p1_cd_s", "CD-S (P1, squared, sum)", False),
    ("p1_f_s", "F-S@0.1 (P1) ×100", True),
    ("p1_cd_o", "CD-O (P1)", False),
    ("p1_f_o", "F-O@0.1 (P1) ×100", True),
    ("p1_iou_b", "IoU-B (P1)", True),
    ("p2_cd", "CD scene (P2, m)", False),
    ("p2_f@0.05", "F scene@5cm ×100", True),
    ("p2_f@0.1", "F scene@10cm ×100", True),
    ("p2_cd_o", "CD object (P2, m)", False),
    ("p2_f_o@0.05", "F object@5cm ×100", True),
    ("p2_f_o@0.1", "F object@10cm ×100", True),
    ("rot_err_deg", "rotation error (°)", False),
    ("rot_err_sym_deg", "rotation error, sym. (°)", False),
    ("trans_err_m", "translation error (m)", False),
    ("auc_rot60", "AUC rotation@60°", True),
    ("auc_rot60_sym", "AUC rotation@60°, sym.", True),
    ("auc_trans0.5", "AUC translation@0.5m", True),
    ("n_interpenetrating_pairs", "interpenetrating pairs", False),
    ("n_floating", "floating objects", False),
    ("n_below_floor", "objects below floor", False),
]
# Metrics needing the prediction's world_from_camera (not computable for MIDI-style output).
UNALIGNED_METRICS = {"p1_iou_b", "p2_cd", "p2_f@0.05", "p2_f@0.1", "p2_cd_o", "p2_f_o@0.05",
                     "p2_f_o@0.1", "rot_err_deg", "rot_err_sym_deg", "trans_err_m", "auc_rot60",
                     "auc_rot60_sym", "auc_trans0.5", "n_interpenetrating_pairs", "n_floating",
                     "n_below_floor"}
# Worst values of a failed scene, where a worst value exists (CDs and errors have none).
WORST = {"recovery": 0.0, "exact_asset": 0.0, "category_match": 0.0, "p1_f_s": 0.0, "p1_f_o": 0.0,
         "p1_iou_b": 0.0, "p2_f@0.05": 0.0, "p2_f@0.1": 0.0, "p2_f_o@0.05": 0.0, "p2_f_o@0.1": 0.0,
         "auc_rot60": 0.0, "auc_rot60_sym": 0.0, "auc_trans0.5": 0.0}


def _tau_key(tau: float) -> str:
    return f"{tau:g}"


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _valid_mesh(mesh: trimesh.Trimesh | None) -> str | None:
    """None if ``mesh`` can be scored, else the reason it cannot."""
    if mesh is None:
        return "no mesh in scene.glb"
    if len(mesh.vertices) == 0 or len(mesh.faces) == 0:
        return "empty mesh"
    if not np.all(np.isfinite(mesh.vertices)):
        return "non-finite vertices"
    return None


def _world_meshes(scene: Scene, registration: np.ndarray) -> tuple[dict, dict]:
    """({id: registered world mesh}, {id: reason}) for every instance of ``scene``."""
    meshes, broken = {}, {}
    for inst in scene.instances:
        reason = _valid_mesh(inst.mesh)
        T = np.asarray(inst.world_from_object, float)
        if reason is None and (T.shape != (4, 4) or not np.all(np.isfinite(T))):
            reason = "world_from_object is not a finite 4x4 matrix"
        if reason is None:
            mesh = inst.mesh.copy()
            mesh.apply_transform(registration @ T)
            meshes[inst.id] = mesh
        else:
            broken[inst.id] = reason
    return meshes, broken


def _stretch(world_from_object: np.ndarray) -> np.ndarray:
    """(3, 3) symmetric factor P of the polar decomposition A = R·P of the linear part."""
    U, S, Vt = np.linalg.svd(np.asarray(world_from_object, float)[:3, :3])
    return Vt.T @ np.diag(S) @ Vt


def object_symmetry(inst, settings: SymmetrySettings, cache: dict | None = None,
                    scene_name: str = "") -> tuple[str, str, dict | None]:
    """(group used, category's group, details) of one ground-truth instance.

    Rule (``settings.source == "geometry"``): a category whose symmetry is ``none`` in
    ``library/categories.py`` (seats, beds, cabinets, sofas, tv, ... — things with a
    functional front) stays ``none`` whatever its shape: a cabinet turned to the wall is
    wrong even if its box is symmetric. For every other category the GT mesh decides:
    :func:`symmetry.mesh_symmetry` on seeded surface samples in its object frame, with
    the instance's scale/shear (the stretch of ``world_from_object``) applied so an
    unevenly scaled object is judged by the shape it has in the scene. Results are cached
    per (asset id, mesh size, stretch) in ``cache`` (one dict per run). ``source == "category"``
    uses the category's group alone (evaluator 1.0).
    """
    cat_sym = category_info(inst.category).symmetry if inst.category else "none"
    if settings.source == "category" or cat_sym == "none":
        return cat_sym, cat_sym, None
    P = _stretch(inst.world_from_object)
    stretched = not np.allclose(P, np.eye(3), atol=1e-6)
    owner = inst.asset_id if inst.asset_id else f"{scene_name}/{inst.id}"
    # The asset id names the mesh; its size and vertex count guard against a benchmark
    # that reuses one id for differently sized meshes (the toy bench does).
    shape_key = (len(inst.mesh.vertices), *np.round(np.asarray(inst.mesh.bounds), 6).ravel().tolist())
    key = (owner, shape_key, tuple(np.round(P, 6).ravel()) if stretched else None)
    if cache is not None and key in cache:
        return cache[key][0], cat_sym, cache[key][1]
    t = time.perf_counter()
    group, details = mesh_symmetry(inst.mesh, settings, P if stretched else None)
    details["time_s"] = time.perf_counter() - t
    if cache is not None:
        cache[key] = (group, details)
    return group, cat_sym, details


def registration_transform(gt: Scene, pred: Scene) -> np.ndarray | None:
    """gt_world_from_pred_world = gt_world_from_camera @ inv(pred_world_from_camera), or None."""
    if pred.camera is None or pred.camera.world_from_camera is None:
        return None
    if gt.camera is None or gt.camera.world_from_camera is None:
        raise InputError("ground truth has no camera.world_from_camera")
    pw = np.asarray(pred.camera.world_from_camera, float)
    if pw.shape != (4, 4) or not np.all(np.isfinite(pw)) or abs(np.linalg.det(pw[:3, :3])) < 1e-9:
        raise InputError("prediction camera.world_from_camera is not an invertible 4x4 matrix")
    return np.asarray(gt.camera.world_from_camera, float) @ np.linalg.inv(pw)


def _floor_y(gt: Scene) -> float | None:
    if gt.floor is None:
        return None
    normal = np.asarray(gt.floor.get("normal", [0, 1, 0]), float)
    if not np.allclose(normal / np.linalg.norm(normal), [0, 1, 0], atol=1e-3):
        return None    # not the documented Y-up floor: do not guess
    return float(gt.floor.get("height", 0.0))


def _read_gt(folder: Path) -> Scene:
    """Read a ground-truth scene folder; anything wrong with it is an InputError naming it."""
    try:
        return read_scene(folder)
    except InputError:
        raise
    except Exception as exc:  # read_scene assumes well-formed JSON objects
        raise InputError(f"{folder}: unreadable scene ({type(exc).__name__}: {exc})") from None


def failed_scene(name: str, reason: str, gt: Scene | None) -> dict:
    """The record of a scene whose prediction could not be scored at all."""
    objects = [] if gt is None else [
        {"id": i.id, "category": i.category, "status": "missing", "reason": reason,
         "p1_f_o": 0.0, "p1_iou_b": 0.0, "p2_f_o@0.05": 0.0, "p2_f_o@0.1": 0.0,
         "exact_asset": False, "category_match": False} for i in gt.instances]
    metrics = {k: WORST.get(k) for k, _, _ in METRICS}
    return {"scene": name, "status": "failed", "reason": reason, "registered": False,
            "metrics": metrics, "objects": objects, "not_computed": {}, "plausibility": None,
            "timings_s": {}}


def evaluate_scene(pred_folder: str | Path, gt_folder: str | Path, name: str | None = None,
                   settings: EvalSettings | None = None, symmetry_cache: dict | None = None) -> dict:
    """Score one predicted scene folder against one ground-truth scene folder.

    Returns a JSON-able dict: ``metrics`` (scene level), ``objects`` (per GT instance, plus
    extra predicted ids), ``plausibility``, ``not_computed`` {metric: reason}, ``timings_s``.
    A broken ground truth raises InputError; a broken prediction returns a failed record.
    Each recovered object records ``symmetry`` (the group used for ``rot_err_sym_deg``,
    see :func:`object_symmetry`) and ``symmetry_category`` (its category's group);
    ``symmetry_cache`` shares the per-asset groups between the scenes of a run.
    """
    settings = settings or EvalSettings()
    pred_folder, gt_folder = Path(pred_folder), Path(gt_folder)
    name = name or pred_folder.name
    timings: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    gt = _read_gt(gt_folder)
    try:
        if not pred_folder.is_dir():
            raise InputError(f"{pred_folder}: prediction folder not found")
        pred = read_scene(pred_folder)
        registration = registration_transform(gt, pred)
    except InputError as exc:
        return failed_scene(name, str(exc), gt)
    except Exception as exc:  # a prediction may be broken in ways no reader anticipates
        return failed_scene(name, f"{pred_folder}: unreadable ({type(exc).__name__}: {exc})", gt)
    aligned_only = registration is None
    gt_meshes, gt_broken = _world_meshes(gt, np.eye(4))
    if gt_broken:
        raise InputError(f"{gt_folder}: ground-truth instances without usable meshes: {gt_broken}")
    pred_meshes, pred_broken = _world_meshes(pred, np.eye(4) if aligned_only else registration)
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    n = settings.points_per_object
    gt_pts = {i: P.sample_surface(m, n, P.stable_seed(settings.seed, name, i))
              for i, m in gt_meshes.items()}
    pred_pts = {i: P.sample_surface(m, n, P.stable_seed(settings.seed, name, i))
                for i, m in pred_meshes.items()}
    timings["sample"] = time.perf_counter() - t

    not_computed = {}
    if aligned_only:
        reason = "prediction has no camera.world_from_camera (own frame): unaligned metrics undefined"
        not_computed = {k: reason for k in sorted(UNALIGNED_METRICS)}
    pred_by_id = {i.id: i for i in pred.instances}
    objects, failures = [], []
    t = time.perf_counter()
    for inst in gt.instances:
        obj = {"id": inst.id, "category": inst.category, "gt_asset_id": inst.asset_id}
        p = pred_by_id.get(inst.id)
        obj["pred_asset_id"] = None if p is None else p.asset_id
        obj["pred_category"] = None if p is None else p.category
        obj["exact_asset"] = p is not None and p.asset_id is not None and p.asset_id == inst.asset_id
        obj["category_match"] = p is not None and p.category is not None and p.category == inst.category
        if inst.id not in pred_meshes:
            reason = "no predicted instance with this id" if p is None else pred_broken.get(inst.id, "no mesh")
            obj.update(status="missing", reason=reason, p1_f_o=0.0, p1_cd_o=None,
                       rot_err_deg=None, rot_err_sym_deg=None, trans_err_m=None)
            if not aligned_only:
                obj.update({"p1_iou_b": 0.0, "p2_cd_o": None,
                            **{f"p2_f_o@{_tau_key(tau)}": 0.0 for tau in settings.p2_taus}})
            failures.append({"scene": name, "id": inst.id, "reason": reason})
            objects.append(obj)
            continue
        obj["status"] = "ok"
        gp, pp = gt_pts[inst.id], pred_pts[inst.id]
        b = settings.object_norm_bound
        r = P.p1_metrics(P.normalise_per_axis(pp, b), P.normalise_per_axis(gp, b),
                         settings.p1_tau, settings.icp_iterations,
                         settings.icp_rel_tol, settings.icp_max_points)
        obj.update(p1_cd_o=r["cd"], p1_f_o=r["f"], p1_icp_iterations=r["icp_iterations"])
        if not aligned_only:
            obj["p1_iou_b"] = P.aabb_iou(pred_meshes[inst.id].bounds, gt_meshes[inst.id].bounds)
            r2 = P.p2_metrics(pp, gp, settings.p2_taus)
            obj["p2_cd_o"] = r2["cd"]
            for tau in settings.p2_taus:
                obj[f"p2_f_o@{_tau_key(tau)}"] = r2[f"f@{tau:g}"]
            R_gt = L.rotation_part(inst.world_from_object)
            R_pred = L.rotation_part(registration @ p.world_from_object)
            t_sym = time.perf_counter()
            sym, cat_sym, details = object_symmetry(inst, settings.symmetry, symmetry_cache, name)
            timings["symmetry"] = timings.get("symmetry", 0.0) + time.perf_counter() - t_sym
            obj["symmetry"] = sym
            obj["symmetry_category"] = cat_sym
            if details is not None:
                obj["symmetry_excess"] = {k: details[k] for k in ("excess_180", "excess_90", "max_excess",
                                                                  "footprint")}
            obj["rot_err_deg"] = L.rotation_error_deg(R_gt, R_pred)
            obj["rot_err_sym_deg"] = L.rotation_error_deg(R_gt, R_pred, sym)
            c_gt = L.bbox_centre_world(inst.mesh.bounds, inst.world_from_object)
            c_pred = L.bbox_centre_world(p.mesh.bounds, registration @ p.world_from_object)
            obj["trans_err_m"] = float(np.linalg.norm(c_pred - c_gt))
        objects.append(obj)
    gt_ids = {i.id for i in gt.instances}
    extra = sorted(i for i in pred_meshes if i not in gt_ids)
    for i, reason in pred_broken.items():
        if i not in gt_ids:
            failures.append({"scene": name, "id": i, "reason": f"extra predicted instance: {reason}"})
    timings["objects"] = time.perf_counter() - t

    metrics: dict[str, float | None] = {}
    n_gt = len(objects)
    metrics["recovery"] = sum(o["status"] == "ok" for o in objects) / n_gt if n_gt else None
    metrics["exact_asset"] = sum(o["exact_asset"] for o in objects) / n_gt if n_gt else None
    metrics["category_match"] = sum(o["category_match"] for o in objects) / n_gt if n_gt else None

    t = time.perf_counter()
    if pred_pts:
        all_pred = np.concatenate([pred_pts[i] for i in sorted(pred_pts)])
        all_gt = np.concatenate([gt_pts[i] for i in sorted(gt_pts)])
        r = P.p1_metrics(all_pred, all_gt, settings.p1_tau, settings.icp_iterations,
                         settings.icp_rel_tol, settings.icp_max_points)
        metrics.update(p1_cd_s=r["cd"], p1_f_s=r["f"])
        timings["scene_icp_iterations"] = r["icp_iterations"]
        if not aligned_only:
            r2 = P.p2_metrics(all_pred, all_gt, settings.p2_taus)
            metrics["p2_cd"] = r2["cd"]
            for tau in settings.p2_taus:
                metrics[f"p2_f@{_tau_key(tau)}"] = r2[f"f@{tau:g}"]
    else:
        failures.append({"scene": name, "id": None, "reason": "prediction has no usable object mesh"})
        metrics.update(p1_cd_s=None, p1_f_s=0.0)
        if not aligned_only:
            metrics.update({f"p2_f@{_tau_key(tau)}": 0.0 for tau in settings.p2_taus}, p2_cd=None)
    timings["scene_metrics"] = time.perf_counter() - t

    metrics["p1_cd_o"] = _mean(o.get("p1_cd_o") for o in objects)
    metrics["p1_f_o"] = _mean(o["p1_f_o"] for o in objects)
    plaus = None
    if not aligned_only:
        metrics["p1_iou_b"] = _mean(o["p1_iou_b"] for o in objects)
        metrics["p2_cd_o"] = _mean(o.get("p2_cd_o") for o in objects)
        for tau in settings.p2_taus:
            metrics[f"p2_f_o@{_tau_key(tau)}"] = _mean(o[f"p2_f_o@{_tau_key(tau)}"] for o in objects)
        for key in ("rot_err_deg", "rot_err_sym_deg", "trans_err_m"):
            metrics[key] = _mean(o[key] for o in objects)     # over recovered objects only
        inf = float("inf")
        rot = [inf if o["rot_err_deg"] is None else o["rot_err_deg"] for o in objects]
        rot_sym = [inf if o["rot_err_sym_deg"] is None else o["rot_err_sym_deg"] for o in objects]
        trans = [inf if o["trans_err_m"] is None else o["trans_err_m"] for o in objects]
        metrics["auc_rot60"] = L.auc(rot, settings.auc_rot_limit_deg)
        metrics["auc_rot60_sym"] = L.auc(rot_sym, settings.auc_rot_limit_deg)
        metrics["auc_trans0.5"] = L.auc(trans, settings.auc_trans_limit_m)
        t = time.perf_counter()
        floor_y = _floor_y(gt)
        plaus = check_plausibility(pred_meshes, floor_y, settings.plausibility,
                                   categories={i.id: i.category for i in pred.instances},
                                   points=pred_pts)
        plaus["floor_source"] = "ground truth floor (registered frame)" if floor_y is not None else None
        metrics["n_interpenetrating_pairs"] = plaus["n_interpenetrating_pairs"]
        metrics["n_floating"] = plaus["n_floating"]
        metrics["n_below_floor"] = plaus["n_below_floor"]
        if floor_y is None:
            not_computed["n_floating"] = not_computed["n_below_floor"] = "ground truth has no Y-up floor"
        timings["plausibility"] = time.perf_counter() - t
    for k, _, _ in METRICS:
        metrics.setdefault(k, None)
    timings["total"] = time.perf_counter() - t0
    # CPU time of this process: comparable across runs on a shared, loaded machine.
    timings["cpu"] = time.process_time() - c0
    return {"scene": name, "status": "ok", "registered": not aligned_only,
            "registration": None if aligned_only else registration, "metrics": metrics,
            "objects": objects, "extra_pred_ids": extra, "plausibility": plaus,
            "not_computed": not_computed, "object_failures": failures, "timings_s": timings}


def read_manifest(bench: Path) -> list[str]:
    """Scene names of a benchmark folder; InputError if it is not one."""
    data = read_json(bench / "manifest.json")
    scenes = data.get("scenes")
    if not isinstance(scenes, list) or not all(isinstance(s, str) for s in scenes):
        raise InputError(f"{bench / 'manifest.json'}: 'scenes' must be a list of folder names")
    return scenes


def summarise(scenes: list[dict]) -> dict:
    """Mean over scenes per metric (None values left out), with how many scenes each used."""
    out = {}
    for key, _, _ in METRICS:
        vals = [s["metrics"].get(key) for s in scenes if s.get("status") in ("ok", "failed")]
        vals = [v for v in vals if v is not None]
        out[key] = {"mean": float(np.mean(vals)) if vals else None, "n": len(vals)}
    return out


def pooled(scenes: list[dict], settings: EvalSettings) -> dict:
    """AUCs and error medians pooled over every ground-truth object of the benchmark."""
    objs = [o for s in scenes for o in s.get("objects", [])]
    inf = float("inf")

    def errs(k):
        return np.array([inf if o.get(k) is None else o[k] for o in objs], float)
    if not objs:
        return {}
    rot, rot_sym, trans = errs("rot_err_deg"), errs("rot_err_sym_deg"), errs("trans_err_m")
    return {"n_objects": len(objs),
            "auc_rot60": L.auc(rot, settings.auc_rot_limit_deg),
            "auc_rot60_sym": L.auc(rot_sym, settings.auc_rot_limit_deg),
            "auc_trans0.5": L.auc(trans, settings.auc_trans_limit_m),
            # Medians count missing objects as ∞; an infinite median is reported as null (valid JSON).
            "median_rot_err_deg": _finite(np.median(rot)), "median_rot_err_sym_deg": _finite(np.median(rot_sym)),
            "median_trans_err_m": _finite(np.median(trans))}


def symmetry_counts(scenes: list[dict]) -> dict:
    """{"category group -> used group": number of recovered GT objects}, over the run."""
    counts: dict[str, int] = {}
    for s in scenes:
        for o in s.get("objects", []):
            if "symmetry" in o:
                key = f"{o['symmetry_category']} -> {o['symmetry']}"
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _finite(value) -> float | None:
    return float(value) if np.isfinite(value) else None


def check_predictions_present(pred_root: Path, names: list[str]) -> None:
    """InputError when no benchmark scene has a prediction (``pred_root/<scene>/scene.json``):
    scoring nothing would report all zeros as if a method had failed on every scene."""
    if not names or any((pred_root / n / "scene.json").is_file() for n in names):
        return
    if (pred_root / "scene.json").is_file():
        raise InputError(f"{pred_root}: is one scene folder; give the folder holding one predicted "
                         f"scene folder per benchmark scene ({names[0]}/, ...)")
    raise InputError(f"{pred_root}: no predictions: none of the {len(names)} benchmark scenes has a "
                     f"scene folder here (expected {pred_root / names[0] / 'scene.json'}, ...)")


def evaluate_bench(pred_root: str | Path, bench: str | Path, settings: EvalSettings | None = None,
                   progress=None) -> dict:
    """Score ``pred_root/<scene>`` against ``bench/<scene>/gt`` for every scene of the manifest.

    ``progress``: optional callable(scene_name) called before each scene (the CLI's
    progress bar). Returns the full JSON-able report.
    """
    settings = settings or EvalSettings()
    pred_root, bench = Path(pred_root), Path(bench)
    if not pred_root.is_dir():
        raise InputError(f"{pred_root}: prediction folder not found")
    names = read_manifest(bench)
    check_predictions_present(pred_root, names)
    t0 = time.perf_counter()
    scenes, failures, gt_errors = [], [], []
    symmetry_cache: dict = {}
    for name in names:
        if progress is not None:
            progress(name)
        try:
            result = evaluate_scene(pred_root / name, bench / name / "gt", name, settings, symmetry_cache)
        except InputError as exc:      # the benchmark itself is broken here: say so, go on
            gt_errors.append({"scene": name, "reason": f"ground truth: {exc}"})
            scenes.append({"scene": name, "status": "gt_error", "reason": str(exc), "metrics": {},
                           "objects": []})
            continue
        except Exception as exc:  # a prediction that breaks a metric: a failure, never a stop
            result = failed_scene(name, f"evaluation error ({type(exc).__name__}: {exc})",
                                  _read_gt(bench / name / "gt"))
        if result["status"] == "failed":
            failures.append({"scene": name, "id": None, "reason": result["reason"]})
        else:
            failures.extend(result.get("object_failures", []))
        scenes.append(result)
    total = time.perf_counter() - t0
    scored = [s for s in scenes if s["status"] != "gt_error"]
    per_scene = [s["timings_s"].get("total") for s in scored if s["timings_s"].get("total")]
    per_scene_cpu = [s["timings_s"].get("cpu") for s in scored if s["timings_s"].get("cpu")]
    return {
        "evaluator": {"name": "scenewright.evaluate", "version": EVALUATOR_VERSION,
                      "scenewright": __version__},
        "protocols": {"p1": {"label": P1_LABEL, "points_per_object": settings.points_per_object,
                             "tau": settings.p1_tau, "icp_max_iterations": settings.icp_iterations,
                             "icp_rel_tol": settings.icp_rel_tol,
                             "icp_estimate_points": settings.icp_max_points or "all", "icp": "point-to-point, Kabsch, no scale",
                             "object_normalisation": f"per-axis min-max to ±{settings.object_norm_bound}",
                             "cd": "mean squared NN pred→gt + mean squared NN gt→pred"},
                      "p2": {"label": P2_LABEL, "taus_m": list(settings.p2_taus),
                             "cd": "(mean d(gt→pred) + mean d(pred→gt)) / 2, metres, no alignment"},
                      "auc": "mean over objects of max(0, 1 - error/limit) = normalised area under "
                             "accuracy(threshold) on [0, limit]; missing objects count as error ∞",
                      "rotation_symmetry": {"label": SYMMETRY_LABELS.get(settings.symmetry.source),
                                            **settings.symmetry.to_json(),
                                            "angles_deg": list(RADIAL_ANGLES_DEG),
                                            "groups": symmetry_counts(scenes)},
                      "sampling_seed": settings.seed,
                      "seeds": "crc32(scene/id) xor seed*2654435761; pred and gt of one object share the seed, so an identical mesh samples identical points"},
        "settings": settings.to_json(),
        "bench": str(bench), "pred_root": str(pred_root),
        "n_scenes": len(names), "n_scored": len(scored),
        "summary": summarise(scored), "pooled": pooled(scored, settings),
        "failures": failures, "gt_errors": gt_errors,
        "scenes": scenes,
        "timings_s": {"total": total,
                      "per_scene_mean": float(np.mean(per_scene)) if per_scene else None,
                      "per_scene_cpu_mean": float(np.mean(per_scene_cpu)) if per_scene_cpu else None},
    }
