"""Whether a thing stands (geometry.stability) and that the bench stands only those that do."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from scenewright.bench.furnish import AssetPool, FurnishSettings, RoomFurnisher
from scenewright.geometry.room import Room
from scenewright.geometry.stability import centre_of_mass, tipping_angle


def standing_box(w, h, d):
    box = trimesh.creation.box((w, h, d))
    box.apply_translation([0, h / 2, 0])
    return box


def test_a_box_tips_at_the_angle_of_its_nearest_edge():
    # centre 0.3 m up, nearest edge 0.05 m away (its depth 0.1): atan(0.05 / 0.3)
    assert tipping_angle(standing_box(0.4, 0.6, 0.1)) == pytest.approx(math.atan2(0.05, 0.3), abs=1e-9)
    # turned onto its side it stands far better
    assert tipping_angle(standing_box(0.6, 0.1, 0.4)) == pytest.approx(math.atan2(0.2, 0.05), abs=1e-9)


def test_a_thing_whose_centre_is_outside_its_footprint_does_not_stand():
    # an L: a small foot and a long arm reaching out sideways above it
    foot = standing_box(0.05, 0.02, 0.05)
    arm = trimesh.creation.box((0.5, 0.02, 0.05))
    arm.apply_translation([0.3, 0.05, 0.0])
    hook = trimesh.util.concatenate([foot, arm])
    assert centre_of_mass(hook)[0] > 0.025                     # beyond the foot's edge
    assert tipping_angle(hook) == 0.0


def test_a_line_of_contact_has_no_area():
    blade = trimesh.Trimesh(vertices=[[0, 0, 0], [0.3, 0, 0], [0.15, 0.2, 0]], faces=[[0, 1, 2]])
    assert tipping_angle(blade) == 0.0


def test_the_centre_of_mass_of_a_closed_mesh_is_its_volume_centre():
    cone = trimesh.creation.cone(radius=0.1, height=0.4)      # apex up, base at z = 0
    cone.apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2, [1, 0, 0]))
    assert cone.is_watertight
    assert centre_of_mass(cone)[1] == pytest.approx(0.1, abs=2e-3)   # a quarter of the height
    assert tipping_angle(cone) == pytest.approx(math.atan2(0.1, 0.1), abs=0.02)


def test_the_bench_does_not_stand_a_thing_that_would_fall_over():
    """A coat-hanger-like board (6 mm deep, 20 cm tall) is never put on a table; a vase is."""
    from types import SimpleNamespace
    table = standing_box(1.2, 0.75, 0.8)
    board = standing_box(0.4, 0.2, 0.012)
    vase = standing_box(0.12, 0.2, 0.12)
    meshes = {"t": table, "b": board, "v": vase}
    rec = lambda a, c: SimpleNamespace(asset_id=a, category=c, name=a, catalog="x", license="x", creator="x")
    pool = AssetPool({"dining_table": [rec("t", "dining_table")], "decor": [rec("b", "decor")],
                      "vase": [rec("v", "vase")]}, meshes.__getitem__)
    # atan(6 mm / 10 cm) = 3.4° against atan(6 cm / 10 cm) = 31°, either side of the rule's 6°
    assert pool.tipping("b", board) < FurnishSettings().min_tipping < pool.tipping("v", vase)
    for seed in range(3):
        f = RoomFurnisher(np.random.default_rng(seed), Room(5.0, 4.0), pool)
        assert f.add("dining_table")
        assert f.add("decor") == []
        assert len(f.add("vase")) == 1 and f.placed[-1].support == 0
