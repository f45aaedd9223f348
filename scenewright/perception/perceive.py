"""``perceive(capture) -> Observation``: depth, camera, floor, walls and per-object boxes."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field

import numpy as np

from scenewright.capture import Capture
from scenewright.errors import InputError
from scenewright.geometry.planes import Plane
from scenewright.geometry.transforms import apply, backproject
from scenewright.perception.depth import DepthSource, GivenDepth
from scenewright.perception.objects import ObjectObservation, observe_object
from scenewright.perception.room_planes import fit_room, focal_scale_from_planes, world_from_floor
from scenewright.scene import WORLD_FROM_CAMERA_NO_FLOOR


@dataclass
class PerceptionSettings:
    """How a capture is perceived (all lengths in metres). Recorded with every result."""

    seed: int = 0                         # RANSAC sampling (numpy Generator): same input → same output
    # Room planes
    max_room_points: int = 25000          # room pixels subsampled to this many for RANSAC
    ransac_hypotheses: int = 512          # scored at once per plane
    plane_threshold_m: float = 0.02       # RANSAC inlier band = this + plane_threshold_rel × the
    plane_threshold_rel: float = 0.01     #   plane's distance from the camera (relative depth error)
    refine_band_rel: float = 0.06         # widest floor refinement band and "behind" margin (× distance)
    up_prior_pitch_deg: float = 22.0      # camera assumed ~10–35° pitched down, no roll
    max_floor_tilt_deg: float = 45.0      # floor normal within this of the prior "up"
    max_floor_candidates: int = 4         # horizontal planes tried; the lowest supported one wins
    min_plane_points: int = 200
    min_plane_fraction: float = 0.02      # of the room points
    wall_vertical_tol_deg: float = 10.0
    max_walls: int = 4
    joint_rounds: int = 5                 # rounds of "each point to its nearest plane, refit all"
    behind_fraction: float = 0.03         # at most this share of points behind a wall / below the floor
    wall_behind_margin_m: float = 0.08    # + refine_band_rel × distance: what counts as "behind"
    frame: str = "camera"                 # world x/z: "camera" (forward = -Z) or "wall" (dominant wall)
    estimate_focal: bool = False          # default camera only: focal length from floor ⟂ walls
    focal_hfov_range_deg: tuple[float, float] = (35.0, 110.0)   # accepted estimated horizontal FoV
    # Labels that are the room, not objects: the whole label is the room word (maybe numbered:
    # "wall 2"), so a "floor lamp" or a "wall cabinet" stays an object.
    room_label_pattern: str = r"^(the\s+)?(floor|ground|wall|ceiling|room)s?([\s_-]*\d+)?$"
    # Objects
    erode_px: int = 1
    depth_median_px: int = 3              # masked median of object depth (0 = off)
    min_pixels_after_erosion: int = 40
    min_depth_pixels: int = 10
    tiny_object_pixels: int = 100
    depth_mad_k: float = 4.0
    depth_min_band_m: float = 0.15
    depth_max_gap_m: float = 0.05         # the depth band grows through steps up to this (0 = MAD band only)
    sor_neighbours: int = 8
    sor_std_ratio: float = 3.0
    max_object_points: int = 20000
    box_trim: float = 0.002
    floor_guess_quantile: float = 0.005   # no floor: floor height = this quantile of object points' y

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Observation:
    """What perception hands to the layout method (world frame: Y up, floor at y = 0).

    ``floor``/``walls`` are world planes; ``floor`` is None when no floor was seen (then the
    world is the no-floor frame and ``floor_guess`` may hold a floor estimated from the
    lowest object points). ``flags`` say what was unusual, ``timings_s`` how long it took.
    """

    world_from_camera: np.ndarray
    floor: Plane | None
    walls: list[Plane]
    objects: list[ObjectObservation]
    K: np.ndarray                      # the intrinsics used (capture.K unless focal_estimated)
    camera_is_default: bool
    depth: np.ndarray
    focal_estimated: bool = False
    depth_source: str = "given"
    floor_guess: Plane | None = None
    camera_height: float | None = None
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)

    def object(self, instance_id: int) -> ObjectObservation:
        for o in self.objects:
            if o.id == instance_id:
                return o
        raise KeyError(instance_id)

    def summary(self) -> dict:
        """JSON-able digest (planes, boxes, flags) for logs and scene.json extras."""
        return {
            "world_from_camera": self.world_from_camera.tolist(),
            "floor": None if self.floor is None else self.floor.to_json(),
            "floor_guess": None if self.floor_guess is None else self.floor_guess.to_json(),
            "walls": [w.to_json() for w in self.walls],
            "camera_height": self.camera_height,
            "camera_is_default": self.camera_is_default,
            "focal_estimated": self.focal_estimated, "K": self.K.tolist(),
            "depth_source": self.depth_source,
            "flags": self.flags, "notes": self.notes,
            "objects": [{"id": o.id, "label": o.label, "n_pixels": o.n_pixels, "n_points": len(o.points),
                         "truncated": o.truncated, "flags": o.flags,
                         "box": None if o.box is None else o.box.to_json()} for o in self.objects],
        }


def perceive(capture: Capture, settings: PerceptionSettings | None = None,
             depth_source: DepthSource | None = None) -> Observation:
    """Perceive a capture: depth → points → floor/walls → world frame → per-object boxes.

    Raises InputError when there is no depth (and no ``depth_source``) or no instance masks.
    """
    s = settings or PerceptionSettings()
    if s.frame not in ("camera", "wall"):
        raise InputError(f"perception frame must be 'camera' or 'wall', got {s.frame!r}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    source = depth_source or GivenDepth()
    depth = np.asarray(source.depth(capture), np.float32)
    if depth.shape != (capture.height, capture.width):
        raise InputError(f"{capture.path}: depth source {source.name!r} returned {depth.shape}, "
                         f"expected {(capture.height, capture.width)}")
    if capture.seg is None:
        raise InputError(f"{capture.path}: no seg.png — perception needs instance masks")
    timings["depth"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rng = np.random.default_rng(s.seed)
    pts_cam = backproject(depth, capture.K)                     # (H, W, 3), NaN where unknown
    valid = np.isfinite(depth)
    seg = capture.seg
    room_re = re.compile(s.room_label_pattern, re.IGNORECASE)
    room_ids = {i for i, lab in capture.labels.items() if lab and room_re.search(lab.strip())}
    floor_ids = {i for i in room_ids if re.match(r"^(floor|ground)", capture.labels[i].strip(), re.I)}
    object_ids = [i for i in capture.instance_ids if i not in room_ids]
    room_mask = valid & ((seg == 0) | np.isin(seg, list(room_ids)))

    def subsample(mask: np.ndarray, n: int) -> np.ndarray:
        p = pts_cam[mask]
        if len(p) > n:
            p = p[np.sort(rng.choice(len(p), n, replace=False))]
        return p

    room_pts = subsample(room_mask, s.max_room_points)
    floor_pts = subsample(valid & np.isin(seg, list(floor_ids)), s.max_room_points) if floor_ids else None
    check_pts = subsample(valid, s.max_room_points)
    flags: list[str] = []
    if capture.camera_is_default:
        flags.append("camera_is_default")
    fit = fit_room(room_pts, rng, s, floor_points=floor_pts, check_points=check_pts) \
        if len(room_pts) >= s.min_plane_points else None
    K = np.asarray(capture.K, float).copy()
    focal = None
    if s.estimate_focal and capture.camera_is_default and fit is not None and fit.floor is not None and fit.walls:
        # Walls are fitted containing the floor normal, so only their free fits (and wall–wall
        # angles) say anything about the focal length.
        scale = focal_scale_from_planes(fit.floor, fit.walls_free)
        if scale is not None and abs(scale - 1.0) > 0.005:
            f_new = K[0, 0] / scale
            hfov = np.degrees(2 * np.arctan(capture.width / 2 / f_new))
            lo, hi = s.focal_hfov_range_deg
            if lo <= hfov <= hi:
                # x, y of every point scale by f_old / f_new; refit the room in the new geometry.
                K[0, 0], K[1, 1], K[0, 1] = K[0, 0] / scale, K[1, 1] / scale, K[0, 1] / scale
                pts_cam[..., :2] *= scale
                for p in (room_pts, check_pts) + (() if floor_pts is None else (floor_pts,)):
                    p[:, :2] *= scale
                notes_before = list(fit.notes)
                fit = fit_room(room_pts, np.random.default_rng(s.seed), s, floor_points=floor_pts,
                               check_points=check_pts)
                fit.notes = notes_before + fit.notes
                focal = float(K[0, 0])
                flags.append("focal_estimated")
            else:
                fit.notes.append(f"focal estimate rejected: horizontal FoV {hfov:.1f}° outside {lo}–{hi}°")
    timings["room"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    notes = [] if fit is None else list(fit.notes)
    if fit is not None and fit.floor is not None:
        wfc = world_from_floor(fit.floor, fit.walls, fit.wall_inliers, s.frame)
        floor = Plane(np.zeros(3), np.array([0.0, 1.0, 0.0]))
        walls = [w.transformed(wfc) for w in fit.walls]
        for w in walls:        # exactly vertical in the world (they were fitted containing "up")
            w.normal = np.array([w.normal[0], 0.0, w.normal[2]]) / np.linalg.norm(w.normal[[0, 2]])
            w.point = np.array([w.point[0], 0.0, w.point[2]])
        camera_height = float(wfc[1, 3])
        if fit.floor_from_labels:
            flags.append("floor_from_labels")
    else:
        wfc = WORLD_FROM_CAMERA_NO_FLOOR.copy()
        floor, walls, camera_height = None, [], None
        flags.append("no_floor")
    pts_world = apply(wfc, pts_cam)                             # one broadcast over the whole image
    timings["frame"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    objects = [observe_object(i, capture.labels.get(i, ""), seg == i, pts_world, depth, s, wfc[:3, 3])
               for i in object_ids]
    timings["objects"] = time.perf_counter() - t0

    floor_guess = None
    if floor is None:
        ys = [o.points[:, 1] for o in objects if len(o.points)]
        if ys:
            y0 = float(np.quantile(np.concatenate(ys), s.floor_guess_quantile))
            floor_guess = Plane(np.array([0.0, y0, 0.0]), np.array([0.0, 1.0, 0.0]))
            flags.append("floor_guessed_from_objects")
    return Observation(world_from_camera=wfc, floor=floor, walls=walls, objects=objects,
                       K=K, focal_estimated=focal is not None, camera_is_default=capture.camera_is_default,
                       depth=depth, depth_source=getattr(source, "name", type(source).__name__),
                       floor_guess=floor_guess, camera_height=camera_height, flags=flags,
                       notes=notes, settings=s.to_json(), timings_s=timings)
