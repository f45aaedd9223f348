"""The simple box baseline: one axis-aligned box per instance, from depth and mask.

``scenewright reconstruct CAPTURE -o OUT --method boxes``; ``BoxesMethod`` in the registry.

1. Floor: RANSAC plane on the background pixels' depth points (seg = 0) whose normal is
   within ``max_floor_tilt_deg`` of the camera's up (−y_cam). The world is then
   gravity aligned: Y = floor normal, floor at y = 0, Z = the camera's backward direction
   projected on the floor, camera above the origin. Without a floor (no background
   depth, no plane found) the no-floor frame of the scene format is used
   (y_world = −y_cam, z_world = −z_cam) and ``floor`` stays null.
2. Per instance: back-project the masked depth with K (pixel centres at u + 0.5, as
   cx = W/2 implies), take the ``percentile``–(100 − ``percentile``) range of the points
   along each world axis (depth edges carry outliers), and write that box (a bottom
   within ``snap_to_floor_m`` of the floor, or under it, is put on the floor). Only visible surfaces are seen, so boxes are too thin along
   the viewing direction: this is a floor for other methods to beat, not a method.

Category is unknown (null), ``asset_id`` null, ``world_from_camera`` set.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from scenewright.capture import Capture
from scenewright.errors import InputError
from scenewright.geometry.planes import Plane
from scenewright.geometry.transforms import backproject
from scenewright.methods.base import Method
from scenewright.perception.room_planes import world_from_floor
from scenewright.scene import WORLD_FROM_CAMERA_NO_FLOOR, Camera, Instance, Scene

VERSION = "1"


@dataclass
class BoxesSettings:
    """Everything that decides a boxes result; recorded in ``scene.json`` (method.settings)."""

    floor: str = "ransac"              # ransac | none (no-floor frame)
    ransac_iterations: int = 300       # candidate planes tried for the floor
    ransac_threshold_m: float = 0.02   # a point this close to a candidate plane is its inlier
    max_floor_tilt_deg: float = 45.0   # between the floor normal and the camera's up (−y_cam)
    min_floor_inliers: int = 200       # fewer: no floor (the no-floor frame)
    max_floor_points: int = 20000      # background points subsampled to this many for RANSAC
    percentile: float = 2.0            # robust box bounds: [p, 100 − p] per axis
    min_points: int = 10               # fewer valid depth pixels: no box for that instance
    min_extent_m: float = 0.01         # thinnest box side (metres)
    snap_to_floor_m: float = 0.10      # a box bottom this close to the floor is put on it
    seed: int = 0                      # RANSAC's random seed


def masked_points(points_cam: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame points of the masked pixels with finite depth > 0 (row-major order)."""
    return points_cam[mask & np.isfinite(points_cam[..., 2]) & (points_cam[..., 2] > 0)]


def fit_floor(points: np.ndarray, settings: BoxesSettings) -> tuple[np.ndarray, float, int] | None:
    """RANSAC floor in the camera frame: (unit normal pointing up (3,), offset d, inliers) or None.

    The plane is {p : n·p + d = 0}; with n pointing up and the camera above the floor, d > 0
    is the camera's height. Candidates tilted more than ``max_floor_tilt_deg`` from −y_cam
    (walls, for instance) are rejected.
    """
    if len(points) < max(3, settings.min_floor_inliers):
        return None
    rng = np.random.default_rng(settings.seed)
    if len(points) > settings.max_floor_points:
        points = points[rng.choice(len(points), settings.max_floor_points, replace=False)]
    up = np.array([0.0, -1.0, 0.0])
    cos_max = np.cos(np.radians(settings.max_floor_tilt_deg))
    tri = points[rng.integers(0, len(points), (settings.ransac_iterations, 3))]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-9
    normals[ok] /= norms[ok, None]
    normals *= np.where(normals @ up < 0, -1.0, 1.0)[:, None]       # point up
    ok &= normals @ up >= cos_max
    d = -np.einsum("ij,ij->i", normals, tri[:, 0])
    ok &= d > 0                                                       # camera above the plane
    if not np.any(ok):
        return None
    normals, d = normals[ok], d[ok]
    # Inlier counts of all candidates at once: (candidates, points) residuals.
    counts = (np.abs(points @ normals.T + d) < settings.ransac_threshold_m).sum(0)
    best = int(np.argmax(counts))
    if counts[best] < settings.min_floor_inliers:
        return None
    inliers = points[np.abs(points @ normals[best] + d[best]) < settings.ransac_threshold_m]
    # Least-squares refit on the inliers (smallest singular vector of the centred points).
    centre = inliers.mean(0)
    n = np.linalg.svd(inliers - centre, full_matrices=False)[2][-1]
    n = n if n @ up >= 0 else -n
    return n, float(-n @ centre), int(len(inliers))


def box_instance(instance_id: int, points_world: np.ndarray, label: str | None,
                 settings: BoxesSettings, floor_known: bool) -> Instance:
    """An axis-aligned box around robust bounds of ``points_world`` (object frame: bottom at y = 0)."""
    lo = np.percentile(points_world, settings.percentile, axis=0)
    hi = np.percentile(points_world, 100 - settings.percentile, axis=0)
    if floor_known:
        # The lowest visible points sit above the true bottom (percentile clipping, occlusion).
        lo[1] = 0.0 if lo[1] < settings.snap_to_floor_m else lo[1]
        hi[1] = max(hi[1], lo[1])
    extent = np.maximum(hi - lo, settings.min_extent_m)
    centre = (lo + hi) / 2
    mesh = trimesh.creation.box(extents=extent)
    mesh.apply_translation([0.0, extent[1] / 2, 0.0])
    T = np.eye(4)
    T[:3, 3] = [centre[0], centre[1] - extent[1] / 2, centre[2]]
    return Instance(id=instance_id, mesh=mesh, world_from_object=T, label=label, category=None,
                    asset_id=None, size=extent.tolist(), extra={"n_points": int(len(points_world))})


def reconstruct_boxes(capture: Capture, settings: BoxesSettings | None = None) -> Scene:
    """Capture (needs seg and depth) → Scene with one box per instance."""
    settings = settings or BoxesSettings()
    if capture.depth is None:
        raise InputError(f"{capture.path}: the boxes method needs depth (depth.npy or depth.png)")
    if capture.seg is None:
        raise InputError(f"{capture.path}: the boxes method needs seg.png")
    if settings.floor not in ("ransac", "none"):
        raise InputError(f"boxes: floor must be 'ransac' or 'none', not {settings.floor!r}")
    timings = {}
    t = time.perf_counter()
    points_cam = backproject(capture.depth, capture.K)      # (H, W, 3), once for all masks
    fit = None
    if settings.floor == "ransac":
        fit = fit_floor(masked_points(points_cam, capture.seg == 0), settings)
    if fit is None:
        wfc, floor = WORLD_FROM_CAMERA_NO_FLOOR.copy(), None
        floor_info = {"method": "none" if settings.floor == "none" else "ransac failed: no-floor frame"}
    else:
        n, d, count = fit
        wfc = world_from_floor(Plane(point=-d * n, normal=n))
        floor = {"normal": [0.0, 1.0, 0.0], "height": 0.0}
        floor_info = {"method": "ransac", "inliers": count, "camera_height_m": d,
                      "normal_camera": n.tolist()}
    timings["floor"] = time.perf_counter() - t

    t = time.perf_counter()
    instances, skipped = [], []
    R, tr = wfc[:3, :3], wfc[:3, 3]
    for iid in capture.instance_ids:
        pts = masked_points(points_cam, capture.mask(iid))
        label = capture.labels.get(iid)
        if len(pts) < settings.min_points:
            # Kept in scene.json without a mesh, so evaluation reports it as missing, not absent.
            instances.append(Instance(id=iid, mesh=None, label=label,
                                      extra={"status": f"only {len(pts)} valid depth pixels"}))
            skipped.append(iid)
            continue
        instances.append(box_instance(iid, pts @ R.T + tr, label, settings, floor is not None))
    timings["boxes"] = time.perf_counter() - t
    camera = Camera(K=capture.K, width=capture.width, height=capture.height, world_from_camera=wfc)
    return Scene(camera=camera, instances=instances, floor=floor,
                 method={"name": "boxes", "version": VERSION, "settings": asdict(settings)},
                 timings_s=timings, extra={"floor_estimate": floor_info, "skipped_instances": skipped})


class BoxesMethod(Method):
    """The box baseline (see the module docstring): nothing to load, nothing kept warm."""

    name = "boxes"
    Settings = BoxesSettings
    summary = "one box per object from depth and mask (a baseline)"
    capture_needs = ("seg", "depth")
    stage = "Fitting boxes"

    def reconstruct(self, capture) -> Scene:
        return reconstruct_boxes(capture, self.settings)
