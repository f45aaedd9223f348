"""Drop a scene under gravity in MuJoCo and measure what moves: physics as a witness.

A layout that is physically plausible by construction should not move when a real
engine lets it fall: every object is a free rigid body made of convex colliders
(:mod:`scenewright.physics.colliders`), the floor and the walls are fixed half-spaces,
gravity is −9.81 m/s² along −Y (the scene world is Y up), and the simulation runs for
``duration_s``. Per object the report gives how far its centre moved (m), how much it
turned and tilted (degrees) and whether it fell over (its up axis tilted more than
``tip_deg``). The settled scene keeps every object where it came to rest.

Targets (issue 13): median motion under 1 cm, no object over 5 cm, nothing falls over.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from scenewright.errors import InputError, ScenewrightError
from scenewright.physics.colliders import ColliderSettings, object_hulls, place
from scenewright.scene import Scene

GRAVITY = 9.81  # m/s²


@dataclass
class SettleSettings:
    duration_s: float = 2.0
    timestep_s: float = 0.002
    density: float = 500.0        # kg/m³ of every collider (furniture wood with its hollows)
    friction: float = 0.8         # sliding friction coefficient, wood on wood / floor
    walls: bool = True            # the scene's walls are fixed half-spaces too
    tip_deg: float = 20.0         # an object whose up axis tilted more than this fell over
    median_target_m: float = 0.01
    max_target_m: float = 0.05
    colliders: ColliderSettings = field(default_factory=ColliderSettings)

    def check(self, source: str = "settings") -> None:
        if not self.duration_s > 0:
            raise InputError(f"{source}: settle duration {self.duration_s} s must be positive")
        if not 0 < self.timestep_s <= 0.01:
            raise InputError(f"{source}: settle time step {self.timestep_s} s must be in (0, 0.01]")
        if self.duration_s / self.timestep_s > 1e6:
            raise InputError(f"{source}: settle duration / time step is over a million steps")
        if not self.colliders.max_hulls >= 1:
            raise InputError(f"{source}: max hulls {self.colliders.max_hulls} must be at least 1")


@dataclass
class ObjectMotion:
    id: int
    label: str | None
    hulls: int                    # convex colliders of the object
    moved_m: float                # displacement of the centre of its colliders' bounding box
    max_point_moved_m: float      # largest displacement of any collider vertex (turning counts)
    rotated_deg: float            # angle of its rotation, about any axis
    tilt_deg: float               # angle its up axis turned away from where it pointed
    tipped: bool                  # tilt_deg > tip_deg: it fell over


@dataclass
class SettleReport:
    objects: list[ObjectMotion]
    skipped: list[int]            # instances without a mesh
    settings: dict
    seconds: dict                 # {"colliders": s, "simulate": s}

    @property
    def motions(self) -> np.ndarray:
        return np.array([o.moved_m for o in self.objects], float)

    @property
    def median_moved_m(self) -> float:
        return float(np.median(self.motions)) if self.objects else 0.0

    @property
    def max_moved_m(self) -> float:
        return float(self.motions.max()) if self.objects else 0.0

    @property
    def n_tipped(self) -> int:
        return sum(o.tipped for o in self.objects)

    @property
    def passed(self) -> bool:
        s = self.settings
        return (self.median_moved_m < s["median_target_m"] and self.max_moved_m <= s["max_target_m"]
                and self.n_tipped == 0)

    def summary(self) -> dict:
        return {"objects": len(self.objects), "median_moved_m": self.median_moved_m,
                "max_moved_m": self.max_moved_m,
                "n_over_max": int((self.motions > self.settings["max_target_m"]).sum()),
                "n_tipped": self.n_tipped, "passed": self.passed}

    def to_json(self) -> dict:
        return {**self.summary(), "skipped": self.skipped, "settings": self.settings,
                "seconds": self.seconds, "per_object": [asdict(o) for o in self.objects]}


def _require_mujoco():
    try:
        import mujoco
    except ModuleNotFoundError as exc:      # optional dependency: a clear message, not a traceback
        raise ScenewrightError("physics needs MuJoCo: pip install 'scenewright[physics]'") from exc
    return mujoco


def _quat_z_to(normal: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) turning +Z onto ``normal`` (MuJoCo planes face their +Z)."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    axis = np.cross([0.0, 0.0, 1.0], n)
    s, c = np.linalg.norm(axis), n[2]
    if s < 1e-12:
        return np.array([1.0, 0, 0, 0]) if c > 0 else np.array([0.0, 1, 0, 0])
    angle = np.arctan2(s, c)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis / s])


def _numbers(values) -> str:
    return " ".join(f"{v:.9g}" for v in np.asarray(values, float).ravel())


def room_planes(scene: Scene, settings: SettleSettings, source: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, point, inward normal) of the floor and, if wanted, the walls."""
    if not scene.floor or scene.floor.get("height") is None:
        raise InputError(f"{source}: the scene has no floor (floor is null); physics needs to know where it is")
    normal = np.asarray(scene.floor.get("normal", [0, 1, 0]), float)
    normal /= np.linalg.norm(normal)
    planes = [("floor", normal * float(scene.floor["height"]), normal)]
    if settings.walls:
        for k, wall in enumerate(scene.walls):
            planes.append((f"wall_{k}", np.asarray(wall["point"], float), np.asarray(wall["normal"], float)))
    return planes


def build_mjcf(bodies: dict[int, list[np.ndarray]], planes, settings: SettleSettings) -> tuple[str, dict]:
    """MJCF text of the scene, and each body's initial centre (world, m).

    ``bodies``: instance id → its colliders' vertices in world coordinates.
    """
    assets, world, centres = [], [], {}
    for name, point, normal in planes:
        world.append(f'<geom name="{name}" type="plane" size="0 0 1" pos="{_numbers(point)}" '
                     f'quat="{_numbers(_quat_z_to(normal))}"/>')
    for inst_id, hulls in bodies.items():
        allv = np.concatenate(hulls)
        centre = (allv.min(0) + allv.max(0)) / 2
        centres[inst_id] = centre
        geoms = []
        for k, points in enumerate(hulls):
            assets.append(f'<mesh name="m{inst_id}_{k}" vertex="{_numbers(points - centre)}"/>')
            geoms.append(f'<geom type="mesh" mesh="m{inst_id}_{k}"/>')
        world.append(f'<body name="b{inst_id}" pos="{_numbers(centre)}"><freejoint/>{"".join(geoms)}</body>')
    xml = (f'<mujoco model="scene"><compiler boundmass="1e-4" boundinertia="1e-9"/>'
           f'<option timestep="{settings.timestep_s:.9g}" gravity="0 {-GRAVITY} 0" integrator="implicitfast"/>'
           f'<default><geom density="{settings.density:.9g}" friction="{settings.friction:.9g} 0.005 0.0001"/></default>'
           f'<asset>{"".join(assets)}</asset><worldbody>{"".join(world)}</worldbody></mujoco>')
    return xml, centres


def _angle_deg(rotation: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0))))


def settle_settings(settle: "bool | SettleSettings | None") -> SettleSettings | None:
    """``settle`` as given to a reconstruction (False/None, True for the defaults, or settings),
    checked, with MuJoCo present: a missing engine or bad settings fail before any work."""
    if not settle:
        return None
    settings = SettleSettings() if settle is True else settle
    settings.check("settle settings")
    _require_mujoco()
    return settings


def settle_scene(scene: Scene, settings: SettleSettings | None = None, source: str = "scene",
                 progress=None) -> tuple[Scene, SettleReport]:
    """Simulate ``scene`` under gravity; (the settled scene, the report).

    The settled scene is a copy whose objects have the poses where they came to rest
    (``world_from_object`` premultiplied by each body's rigid motion; scale is kept),
    with the report in ``extra["physics"]`` and each object's motion in its
    ``extra["settle"]``. ``source`` names the scene in error messages; ``progress(i, n)``
    is called after each object's colliders are ready.
    """
    settings = settings or SettleSettings()
    settings.check(source)
    mujoco = _require_mujoco()
    planes = room_planes(scene, settings, source)
    t0 = time.perf_counter()
    bodies, skipped = {}, []
    with_mesh = [inst for inst in scene.instances if inst.mesh is not None and len(inst.mesh.vertices)]
    skipped = [inst.id for inst in scene.instances if inst not in with_mesh]
    for i, inst in enumerate(with_mesh):
        bodies[inst.id] = place(object_hulls(inst.mesh, settings.colliders), inst.world_from_object)
        if progress:
            progress(i + 1, len(with_mesh))
    t1 = time.perf_counter()
    xml, centres = build_mjcf(bodies, planes, settings)
    try:
        model = mujoco.MjModel.from_xml_string(xml)
    except ValueError as exc:
        raise ScenewrightError(f"{source}: MuJoCo refused the scene's colliders: {exc}") from exc
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data, nstep=int(round(settings.duration_s / settings.timestep_s)))
    t2 = time.perf_counter()

    settled = copy.copy(scene)
    settled.instances = []
    motions = []
    by_id = {inst.id: inst for inst in with_mesh}
    for inst in scene.instances:
        inst = copy.copy(inst)
        inst.extra = dict(inst.extra)
        if inst.id in by_id:
            body = model.body(f"b{inst.id}").id
            rotation = data.xmat[body].reshape(3, 3).copy()
            centre0, centre1 = centres[inst.id], data.xpos[body].copy()
            delta = np.eye(4)
            delta[:3, :3], delta[:3, 3] = rotation, centre1 - rotation @ centre0
            points = np.concatenate(bodies[inst.id])
            moved_points = points @ rotation.T + delta[:3, 3]
            up = inst.world_from_object[:3, 1] / np.linalg.norm(inst.world_from_object[:3, 1])
            tilt = float(np.degrees(np.arccos(np.clip(up @ (rotation @ up), -1.0, 1.0))))
            motion = ObjectMotion(
                id=inst.id, label=inst.label, hulls=len(bodies[inst.id]),
                moved_m=float(np.linalg.norm(centre1 - centre0)),
                max_point_moved_m=float(np.linalg.norm(moved_points - points, axis=1).max()),
                rotated_deg=_angle_deg(rotation), tilt_deg=tilt, tipped=tilt > settings.tip_deg)
            motions.append(motion)
            inst.world_from_object = delta @ np.asarray(inst.world_from_object, float)
            inst.extra["settle"] = {k: v for k, v in asdict(motion).items() if k not in ("id", "label")}
        settled.instances.append(inst)
    report = SettleReport(objects=motions, skipped=skipped,
                          settings={**asdict(settings), "engine": f"mujoco {mujoco.__version__}"},
                          seconds={"colliders": t1 - t0, "simulate": t2 - t1})
    settled.extra = {**scene.extra, "physics": report.to_json()}
    return settled, report


def witness(folders, settings: SettleSettings | None = None) -> dict:
    """Settle every scene folder of ``folders`` and pool the motions of all their objects.

    Returns ``{"scenes", "objects", "median_moved_m", "max_moved_m", "n_over_max",
    "n_tipped", "passed", "seconds", "per_scene": {folder: summary}}`` — the physics
    column of a benchmark table. Colliders are cached per asset across the scenes.
    """
    from scenewright.scene import read_scene
    settings = settings or SettleSettings()
    moved, tipped, per_scene, seconds = [], 0, {}, 0.0
    for folder in folders:
        _, report = settle_scene(read_scene(folder), settings, source=str(folder))
        moved += [o.moved_m for o in report.objects]
        tipped += report.n_tipped
        per_scene[str(folder)] = report.summary()
        seconds += sum(report.seconds.values())
    moved_arr = np.array(moved, float)
    median = float(np.median(moved_arr)) if moved else 0.0
    worst = float(moved_arr.max()) if moved else 0.0
    over = int((moved_arr > settings.max_target_m).sum())
    return {"scenes": len(per_scene), "objects": len(moved), "median_moved_m": median, "max_moved_m": worst,
            "n_over_max": over, "n_tipped": tipped,
            "passed": median < settings.median_target_m and over == 0 and tipped == 0,
            "seconds": seconds, "per_scene": per_scene}
