"""Perception for the layout method: depth, camera, room planes, per-object boxes.

``perceive(capture, settings) -> Observation`` is the entry point (see ``docs/perception.md``).
"""

from scenewright.geometry.boxes import OrientedBox
from scenewright.geometry.planes import Plane
from scenewright.perception.depth import DepthSource, GivenDepth
from scenewright.perception.objects import ObjectObservation
from scenewright.perception.perceive import Observation, PerceptionSettings, perceive

__all__ = ["perceive", "Observation", "ObjectObservation", "PerceptionSettings", "DepthSource",
           "GivenDepth", "Plane", "OrientedBox"]
