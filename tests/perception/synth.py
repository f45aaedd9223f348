"""Analytic synthetic captures: a floor, walls and upright boxes ray-cast exactly.

Used until (and beside) the real renderer: every pixel's depth comes from intersecting its
ray with the planes and boxes, so the ground truth is known to float precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenewright.capture import Capture, intrinsics_from_hfov
from scenewright.geometry.transforms import pixel_rays, rot_x, rot_y


@dataclass
class SynthBox:
    centre_xz: tuple[float, float]
    size: tuple[float, float, float]      # x, y, z extents
    yaw: float = 0.0                      # rad about Y
    bottom: float = 0.0                   # y of its bottom face
    label: str = "box"


@dataclass
class SynthRoom:
    width: int = 320
    height: int = 240
    hfov_deg: float = 62.0
    cam_height: float = 1.5
    pitch_deg: float = 22.0
    roll_deg: float = 0.0
    walls: list[tuple[np.ndarray, float]] = field(default_factory=lambda: [
        (np.array([0.0, 0.0, 1.0]), -4.0),       # back wall z = -4 (normal, offset: n·x = d)
        (np.array([1.0, 0.0, 0.0]), -2.0),       # left wall x = -2
        (np.array([-1.0, 0.0, 0.0]), -2.5),      # right wall x = 2.5
    ])
    boxes: list[SynthBox] = field(default_factory=list)
    with_floor: bool = True

    def world_from_camera(self) -> np.ndarray:
        p = np.radians(self.pitch_deg)
        # OpenCV camera looking along world -Z, then pitched down (about x) and rolled (about z).
        base = np.diag([1.0, -1.0, -1.0])
        r = base @ rot_x(-p)
        roll = np.radians(self.roll_deg)
        c, s = np.cos(roll), np.sin(roll)
        r = r @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        t = np.eye(4)
        t[:3, :3] = r
        t[:3, 3] = [0.0, self.cam_height, 0.0]
        return t

    def render(self, noise_rel: float = 0.0, seed: int = 0, nan_fraction: float = 0.0):
        """(Capture, world_from_camera). Box i has instance id i + 1."""
        K = intrinsics_from_hfov(self.width, self.height, self.hfov_deg)
        wfc = self.world_from_camera()
        rays_cam = pixel_rays(K, self.height, self.width).reshape(-1, 3)    # z_cam = 1
        d = rays_cam @ wfc[:3, :3].T
        o = wfc[:3, 3]
        t_best = np.full(len(d), np.inf)
        ids = np.zeros(len(d), np.int32)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.with_floor:
                t = -o[1] / d[:, 1]
                t = np.where(t > 0, t, np.inf)
                t_best = np.minimum(t_best, t)
            for n, off in self.walls:
                t = (off - n @ o) / (d @ n)
                t = np.where(t > 0, t, np.inf)
                t_best = np.minimum(t_best, t)
            for i, b in enumerate(self.boxes):
                r = rot_y(b.yaw)
                c = np.array([b.centre_xz[0], b.bottom + b.size[1] / 2, b.centre_xz[1]])
                ol = r.T @ (o - c)
                dl = d @ r                                  # (N, 3) ray dirs in box frame
                half = np.asarray(b.size) / 2
                t1 = (-half - ol) / dl
                t2 = (half - ol) / dl
                tmin = np.nanmax(np.minimum(t1, t2), axis=1)
                tmax = np.nanmin(np.maximum(t1, t2), axis=1)
                hit = (tmax >= tmin) & (tmin > 0)
                closer = hit & (tmin < t_best)
                t_best = np.where(closer, tmin, t_best)
                ids = np.where(closer, i + 1, ids)
        depth = t_best.reshape(self.height, self.width).astype(np.float32)   # t along z_cam=1 rays = depth
        depth[~np.isfinite(depth)] = np.nan
        rng = np.random.default_rng(seed)
        if noise_rel > 0:
            depth = depth * (1.0 + noise_rel * rng.standard_normal(depth.shape)).astype(np.float32)
        if nan_fraction > 0:
            depth[rng.random(depth.shape) < nan_fraction] = np.nan
        seg = ids.reshape(self.height, self.width)
        labels = {i + 1: b.label for i, b in enumerate(self.boxes)}
        rgb = np.zeros((self.height, self.width, 3), np.uint8)
        cap = Capture(rgb=rgb, K=K, seg=seg, depth=depth, labels=labels, camera_is_default=False)
        return cap, wfc
