"""Placement rules on the real meshes of the small library, room by room, without rendering."""

from __future__ import annotations

import numpy as np
import pytest

from scenewright.bench.generate import asset_pool
from scenewright.bench.furnish import RoomFurnisher
from scenewright.geometry.room import Room, room_walls
from scenewright.library import Library
from scenewright.scene import Instance, Scene

from .checks import back_gap_to_wall, front, interpenetrating_pairs, rest_gap_on


def as_scene(furnisher: RoomFurnisher) -> Scene:
    insts = [Instance(id=i + 1, mesh=p.mesh, world_from_object=p.world_from_object, category=p.category,
                      asset_id=p.asset_id) for i, p in enumerate(furnisher.placed)]
    walls = [{"point": w.midpoint.tolist(), "normal": w.normal.tolist()} for w in room_walls(furnisher.room)]
    return Scene(instances=insts, walls=walls)


@pytest.mark.parametrize("support", ["dining_table", "desk", "nightstand", "cabinet"])
def test_small_things_rest_on_each_kind_of_support(small_library, support):
    lib = Library.open(small_library)
    pool = asset_pool(lib, None, small_library)
    placed_on = 0
    for seed in range(3):
        f = RoomFurnisher(np.random.default_rng(seed), Room(5.0, 4.0), pool)
        assert f.add(support), support
        for small in ("lamp", "vase", "plant"):
            f.add(small)
        scene = as_scene(f)
        for i, p in enumerate(f.placed):
            inst = scene.instances[i]
            if p.support is not None:
                gap = rest_gap_on(inst, scene.instances[p.support])
                assert 0 <= gap <= 0.005, (support, p.asset_id, gap)
                placed_on += 1
            else:
                assert abs(inst.world_mesh().vertices[:, 1].min()) <= 0.005
            if p.wall is not None:
                wall = (np.asarray(scene.walls[p.wall]["point"]), np.asarray(scene.walls[p.wall]["normal"]))
                assert 0 <= back_gap_to_wall(inst, wall) <= 0.02
                assert front(inst) @ wall[1] > 0.999
        assert interpenetrating_pairs(scene) == []
    assert placed_on >= 3, f"nothing stood on a {support}"


def test_full_rooms_of_every_theme(small_library):
    lib = Library.open(small_library)
    pool = asset_pool(lib, None, small_library)
    for k, theme in enumerate(["living", "bedroom", "dining", "office"]):
        f = RoomFurnisher(np.random.default_rng(k), Room(4.5, 4.0), pool)
        placed = f.furnish(theme, 10)
        assert len(placed) >= 4, theme
        assert interpenetrating_pairs(as_scene(f)) == []
        groups = {}
        for p in placed:
            if p.group is not None:
                groups.setdefault(p.group, set()).add(p.asset_id)
        assert all(len(ids) == 1 for ids in groups.values())   # one chair asset per set
