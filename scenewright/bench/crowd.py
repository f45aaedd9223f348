"""A crowded capture: many small library objects on one floor, for stress tests and benchmarks.

``make_crowded_capture(out, library, CrowdSettings(objects=150))`` writes a benchmark-style
scene folder (``out/capture`` + ``out/gt``, shared ``scene-format.md``) whose capture holds
``objects`` small real assets (the library's smallest, at their real size) standing on the
floor of a room in a jittered grid, photographed from above one wall by the real renderer.
Each object is a real mask with real depth, so ``scenewright reconstruct out/capture``
meets what a user's photo of a cluttered floor gives: many tiny instances, most of them
near neighbours (the hostile case for per-pair work in the layout optimiser).

Everything is drawn from ``numpy.random.default_rng(seed)``: a seed gives the same files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenewright.errors import InputError


@dataclass
class CrowdSettings:
    """What a crowded capture holds. Metres, degrees, pixels."""

    objects: int = 150
    seed: int = 0
    size: int = 512                       # square image, pixels
    room: tuple[float, float] = (6.0, 5.0)   # width (x), depth (z)
    max_footprint_m: float = 0.3          # assets whose larger footprint side is at most this
    max_height_m: float = 0.7
    field: tuple[float, float] = (3.6, 3.0)  # x, z extent of the grid the objects stand in
    jitter: float = 0.25                  # of a grid cell, uniform
    camera_height_m: float = 2.2
    pitch_deg: float = 48.0
    hfov_deg: float = 80.0
    min_pixels: int = 4                   # objects seeing fewer pixels are dropped from the gt

    def to_json(self) -> dict:
        import dataclasses
        return dataclasses.asdict(self)


def small_records(records, max_footprint_m: float, max_height_m: float) -> list:
    """Library records of small things (larger footprint side ≤ ``max_footprint_m``, height ≤
    ``max_height_m``, nothing thinner than 1 cm), sorted by asset id."""
    keep = [r for r in records if max(r.width, r.depth) <= max_footprint_m and r.height <= max_height_m
            and min(r.width, r.height, r.depth) >= 0.01]
    return sorted(keep, key=lambda r: r.asset_id)


def grid_cells(n: int, field: tuple[float, float]) -> tuple[int, int]:
    """(columns, rows) of the smallest grid over ``field`` (x, z metres) with ≥ n cells and
    cells as square as the field allows."""
    cols = max(1, round(math.sqrt(n * field[0] / field[1])))
    rows = math.ceil(n / cols)
    return cols, rows


def make_crowded_capture(out, library, settings: CrowdSettings | None = None, renderer=None) -> dict:
    """Write ``out/capture`` and ``out/gt`` (each atomically); return the scene's info dict
    (objects placed and visible, assets used, camera). ``library``: a library folder."""
    from scenewright.bench.camera import CameraPose
    from scenewright.bench.generate import BenchSettings, GeneratedScene, _ground_truth, _render_items, \
        write_generated
    from scenewright.bench.furnish import Placed
    from scenewright.capture import intrinsics_from_hfov
    from scenewright.geometry.room import Footprint, Room, room_meshes, yaw_transform
    from scenewright.geometry.transforms import look_along
    from scenewright.library import Library

    s = settings or CrowdSettings()
    if s.objects < 1:
        raise InputError(f"objects must be at least 1 (got {s.objects})")
    lib = Library.open(library)
    pool = small_records(lib.records, s.max_footprint_m, s.max_height_m)
    if not pool:
        raise InputError(f"{library}: no asset with a footprint within {s.max_footprint_m} m "
                         f"and a height within {s.max_height_m} m")
    rng = np.random.default_rng(s.seed)
    room = Room(s.room[0], s.room[1], 2.6)
    surfaces = room_meshes(room, floor_colour=(176, 138, 96, 255),
                           wall_colours=[(228, 222, 210, 255)] * 4, ceiling_colour=(240, 240, 238, 255))
    eye = np.array([0.0, s.camera_height_m, room.depth / 2 - 0.2])
    pitch = math.radians(s.pitch_deg)
    world_from_camera = look_along(eye, np.array([0.0, -math.sin(pitch), -math.cos(pitch)]))
    K = intrinsics_from_hfov(s.size, s.size, s.hfov_deg)
    cam = CameraPose(K, world_from_camera, s.camera_height_m, s.pitch_deg, s.hfov_deg, 0.0)
    # The grid is centred where the optical axis meets the floor.
    aim_z = eye[2] - s.camera_height_m / math.tan(pitch)
    meshes: dict[str, object] = {}

    def place(n: int) -> list:
        cols, rows = grid_cells(n, s.field)
        cell = np.array([s.field[0] / cols, s.field[1] / rows])
        cells = [(c, r) for r in range(rows) for c in range(cols)]
        placed = []
        for k in sorted(rng.permutation(len(cells))[:n]):
            c, r = cells[k]
            rec = pool[int(rng.integers(len(pool)))]
            if rec.asset_id not in meshes:
                meshes[rec.asset_id] = lib.mesh(rec.asset_id)
            mesh = meshes[rec.asset_id]
            yaw = float(rng.uniform(-np.pi, np.pi))
            centre = np.array([-s.field[0] / 2 + (c + 0.5) * cell[0], aim_z - s.field[1] / 2 + (r + 0.5) * cell[1]])
            centre = centre + rng.uniform(-s.jitter, s.jitter, 2) * cell
            ground = -float(mesh.bounds[0, 1])          # its lowest point on the floor (y = 0)
            tf = yaw_transform(yaw, np.array([centre[0], ground, centre[1]]))
            ext = mesh.extents
            placed.append(Placed(rec.asset_id, getattr(rec, "name", rec.asset_id), rec.category, mesh, tf,
                                 Footprint(centre, np.array([ext[0], ext[2]]) / 2, yaw)))
        return placed

    def render(placed: list):
        items = _render_items(placed, surfaces, list(range(1, len(placed) + 1)))
        res = rend.render(items, K, world_from_camera)
        counts = np.bincount(res.instance_ids.ravel(), minlength=len(placed) + 1)[1:len(placed) + 1]
        return res, counts

    import contextlib
    if renderer is None:
        from scenewright.render import Renderer
        ctx = Renderer(s.size, s.size)
    else:
        ctx = contextlib.nullcontext(renderer)
    with ctx as rend:
        # Objects hidden behind others are dropped; place a few more until ``objects`` show,
        # then render only those (removing hidden ones can only uncover the rest).
        n_place = s.objects
        for _ in range(4):
            placed = place(n_place)
            res, counts = render(placed)
            shown = np.flatnonzero(counts >= s.min_pixels)
            if len(shown) >= s.objects:
                placed = [placed[i] for i in shown[:s.objects]]
                res, counts = render(placed)
                break
            n_place += 2 * (s.objects - len(shown))
    visible = counts >= s.min_pixels
    bench_settings = BenchSettings(size=s.size, label_name_probability=0.4)
    capture, gt, info = _ground_truth(rng, lib, "crowd", room, placed, surfaces, cam, res, counts, visible,
                                      bench_settings)
    info.update(generator="scenewright.bench.crowd", settings=s.to_json(),
                assets=sorted({p.asset_id for p in placed}))
    gt.extra["bench"] = info
    write_generated(GeneratedScene(capture, gt, info, {}), Path(out))
    return info


def split_instances(seg: np.ndarray, labels: dict[int, str], instances: int) -> tuple[np.ndarray, dict[int, str]]:
    """Over-segment a capture: cut every instance mask into square tiles until there are
    ``instances`` pieces, each keeping its object's label (what an over-eager segmenter hands
    over). ``seg`` (H, W) int ids, 0 = none. Returns the new seg (ids 1..instances, tiles
    beyond the ``instances`` largest become 0) and labels.

    The tile side is the largest (whole pixels) that yields at least ``instances`` tiles.
    """
    fg = seg > 0
    if instances < 1 or not fg.any():
        raise InputError(f"cannot split {int(fg.sum())} labelled pixels into {instances} instances")
    yy, xx = np.nonzero(fg)
    ids = seg[yy, xx].astype(np.int64)

    def tiles(side: int) -> tuple[np.ndarray, np.ndarray]:
        key = (ids * (seg.shape[0] // side + 1) + yy // side) * (seg.shape[1] // side + 1) + xx // side
        return np.unique(key, return_inverse=True, return_counts=True)[1:]

    side = max(1, int(np.sqrt(fg.sum() / instances)) + 1)
    inverse, counts = tiles(side)
    while len(counts) < instances and side > 1:
        side -= 1
        inverse, counts = tiles(side)
    # The ``instances`` largest tiles (ties: first in raster order of their key) become the ids.
    rank = np.argsort(-counts, kind="stable")[:instances]
    new_id = np.zeros(len(counts), np.int64)
    new_id[rank] = np.arange(1, len(rank) + 1)
    out = np.zeros_like(seg, dtype=np.int32)
    out[yy, xx] = new_id[inverse]
    parent = np.zeros(len(rank) + 1, np.int64)
    parent[new_id[inverse]] = ids
    new_labels = {int(k): labels.get(int(parent[k]), "") for k in range(1, len(rank) + 1)}
    return out, new_labels


def make_split_capture(capture_dir, out, instances: int = 150) -> Path:
    """Write ``out``: the capture at ``capture_dir`` with its masks cut into ``instances``
    tiles (:func:`split_instances`); rgb, depth and camera unchanged."""
    import dataclasses

    from scenewright.capture import load_capture, write_capture

    cap = load_capture(capture_dir)
    seg, labels = split_instances(cap.seg, cap.labels, instances)
    return write_capture(dataclasses.replace(cap, seg=seg, labels=labels), out)


def make_upscaled_capture(capture_dir, out, size: int = 6000) -> Path:
    """Write ``out``: the capture at ``capture_dir`` resampled to ``size`` × ``size`` pixels
    (rgb bilinear; seg and depth nearest, so ids and depths stay ones the capture holds; K
    scaled to match): the photo of a high-resolution camera, for memory and time limits."""
    import dataclasses

    from PIL import Image

    from scenewright.capture import load_capture, write_capture

    cap = load_capture(capture_dir)
    sx, sy = size / cap.width, size / cap.height
    rgb = np.asarray(Image.fromarray(cap.rgb).resize((size, size), Image.BILINEAR))
    rows = np.minimum((np.arange(size) + 0.5) / sy, cap.height - 1).astype(np.int64)
    cols = np.minimum((np.arange(size) + 0.5) / sx, cap.width - 1).astype(np.int64)
    seg = None if cap.seg is None else cap.seg[rows[:, None], cols[None, :]]
    depth = None if cap.depth is None else cap.depth[rows[:, None], cols[None, :]]
    K = np.asarray(cap.K, float).copy()
    K[0] *= sx
    K[1] *= sy
    return write_capture(dataclasses.replace(cap, rgb=rgb, seg=seg, depth=depth, K=K), out)
