"""The scene graph and the layout optimisation applied to the posed instances.

The chosen placements become :class:`scenewright.scene.Instance` objects (library mesh
in the object frame, world_from_object with scale); :func:`.scene_graph.build_scene_graph`
reads relations off their geometry, :func:`.optimize.optimize_layout` rests them on
their supports, sets wall objects flush and separates overlaps, and the graph is read
again from the final layout (that is what ``scene.json`` records).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scenewright.geometry.planes import Plane
from scenewright.methods.layout.optimize import OptimizeSettings, optimize_layout
from scenewright.methods.layout.scene_graph import SceneGraphSettings, build_scene_graph


@dataclasses.dataclass
class ArrangeSettings:
    graph: SceneGraphSettings = dataclasses.field(default_factory=SceneGraphSettings)
    optimize: OptimizeSettings = dataclasses.field(default_factory=OptimizeSettings)


def support_floor(observation):
    """The floor plane to rest things on: the fitted floor, else the one guessed from objects."""
    if observation.floor is not None:
        return Plane(np.zeros(3), np.array([0.0, 1.0, 0.0]))
    guess = getattr(observation, "floor_guess", None)
    return guess


def arrange(instances, observation, settings: ArrangeSettings, timer, enabled: bool = True, progress=None,
            walls=None):
    """Relations and optimised instances (copies). Returns ``(instances, relations, report)``.
    ``progress(stage, done, total)``: called as the optimiser advances (None: silent).
    ``walls``: the walls objects are set flush to and pushed out of (None: the observation's)."""
    floor = support_floor(observation)
    walls = list(observation.walls if walls is None else walls)
    with timer("graph"):
        relations = build_scene_graph(instances, floor=floor, walls=walls, settings=settings.graph)
    report: dict = {}
    if enabled and instances:
        with timer("optimize"):
            instances, report = optimize_layout(instances, floor=floor, walls=walls, relations=relations,
                                                settings=settings.optimize, progress=progress)
        with timer("graph"):
            relations = build_scene_graph(instances, floor=floor, walls=walls, settings=settings.graph)
    return instances, relations, report
