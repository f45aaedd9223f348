"""The public API's docstring examples run as written (``from scenewright import ...``).

Each module's examples run with a few names bound: ``EXAMPLE_CAPTURE`` (the shipped
capture), ``tmp`` (a fresh folder), ``LIBRARY`` and ``BENCH_CAPTURE`` (the small real
library and a capture of a benchmark made from it).
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

EXAMPLE_CAPTURE = Path(__file__).resolve().parents[1] / "examples" / "living_room" / "capture"
MODULES = ["scenewright", "scenewright.api", "scenewright.config", "scenewright.settings", "scenewright.run",
           "scenewright.methods.registry", "scenewright.methods.layout"]
NEEDS_LIBRARY = {"scenewright.methods.layout", "scenewright.api"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, request, monkeypatch):
    # the examples read the settings every command reads: a fresh, empty set for each module
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    for variable in ("SCENEWRIGHT_CONFIG", "SCENEWRIGHT_LIBRARY", "SCENEWRIGHT_DEVICE"):
        monkeypatch.delenv(variable, raising=False)
    globs = {"EXAMPLE_CAPTURE": EXAMPLE_CAPTURE, "tmp": tmp_path}
    if name in NEEDS_LIBRARY:
        globs["LIBRARY"] = request.getfixturevalue("small_library")
        globs["BENCH_CAPTURE"] = request.getfixturevalue("small_bench") / "scene_0000" / "capture"
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name, extraglobs=globs)
    examples = sum(len(t.examples) for t in tests)
    assert examples > 0, f"{name} has no docstring examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see above)"


def test_every_public_name_imports():
    import scenewright
    for name in scenewright.__all__:
        assert getattr(scenewright, name) is not None, name
    with pytest.raises(AttributeError):
        scenewright.no_such_thing


def test_reconstruct_in_memory_settles_and_reports_each_motion():
    import numpy as np
    import scenewright
    pytest.importorskip("mujoco")
    from scenewright.physics import SettleSettings
    from scenewright.physics.colliders import ColliderSettings
    plain = scenewright.reconstruct(EXAMPLE_CAPTURE, method="boxes")
    # one convex hull of its own vertices per object: every mesh vertex lies inside its collider
    settled = scenewright.reconstruct(EXAMPLE_CAPTURE, method="boxes",
                                      settle=SettleSettings(colliders=ColliderSettings(method="hull")))
    assert "physics" not in plain.extra and "settle" not in plain.timings_s
    physics = settled.extra["physics"]
    assert physics["settled"] is True and "settle" in settled.timings_s
    assert {o["id"] for o in physics["per_object"]} == {i.id for i in plain.instances if i.mesh is not None}
    by_id = {i.id: i for i in plain.instances}
    for inst in settled.instances:
        motion = next(o for o in physics["per_object"] if o["id"] == inst.id)
        before = trimesh_points(by_id[inst.id])
        after = trimesh_points(inst)
        # a rigid motion moves no point of a convex set farther than the set's farthest vertex
        moved = np.linalg.norm(after - before, axis=1).max()
        assert moved <= motion["max_point_moved_m"] + 1e-6 * (1 + np.abs(before).max())
        assert inst.extra["settle"]["moved_m"] == motion["moved_m"]


def trimesh_points(inst):
    """The instance's mesh vertices in the world frame, (N, 3) metres."""
    import numpy as np
    v = np.asarray(inst.mesh.vertices, float)
    m = np.asarray(inst.world_from_object, float)
    return v @ m[:3, :3].T + m[:3, 3]
