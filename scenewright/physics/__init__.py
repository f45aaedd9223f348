"""Physics as a witness: drop a scene under gravity in a real engine (MuJoCo) and see what moves.

- :mod:`scenewright.physics.colliders`: convex decomposition of each object's mesh
  (V-HACD through ``vhacdx``, cached per mesh), placed in the world;
- :mod:`scenewright.physics.settle`: the simulation, per-object motion and tipping, and
  the settled scene (the same objects at the poses where they came to rest).

Both engines are optional dependencies (``pip install scenewright[physics]``), imported
only when a simulation runs.
"""

from scenewright.physics.settle import SettleReport, SettleSettings, settle_scene

__all__ = ["SettleReport", "SettleSettings", "settle_scene"]
