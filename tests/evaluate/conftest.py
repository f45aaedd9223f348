"""Fixtures: a tiny toy benchmark (ray-cast primitives) and helpers to write predictions."""

from __future__ import annotations

import shutil

import pytest

from scenewright.evaluate.evaluator import EvalSettings
from scenewright.testing.toy_bench import ToyBenchSettings, make_toy_bench


@pytest.fixture(scope="session")
def toy_bench(tmp_path_factory):
    """Two scenes of 4 floor objects (+ small objects on supports), 96x72 captures."""
    folder = tmp_path_factory.mktemp("evalbench") / "bench"
    return make_toy_bench(folder, ToyBenchSettings(n_scenes=2, objects_per_scene=4, width=96, height=72,
                                                   seed=3))


@pytest.fixture
def fast_settings():
    # Fewer points keep the suite fast on a shared 2-core machine; the code path is the same.
    return EvalSettings(points_per_object=1024, icp_max_points=0)


def copy_gt(bench, pred_root, names=None):
    """Copy ground-truth scene folders into a prediction root."""
    for name in names or [p.name for p in bench.iterdir() if p.is_dir()]:
        shutil.copytree(bench / name / "gt", pred_root / name)
    return pred_root
