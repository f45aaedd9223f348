import numpy as np
import pytest
import trimesh

from scenewright.geometry.room import (Footprint, Room, footprint_of, footprints_overlap,
                                       point_footprint_distance, room_meshes, room_walls, yaw_transform)
from scenewright.geometry.transforms import look_along


def test_walls_face_into_the_room():
    room = Room(5.0, 4.0)
    for w in room_walls(room):
        inside = w.midpoint + 0.1 * w.normal
        assert abs(inside[0]) < 2.5 and abs(inside[2]) < 2.0
        end = w.start + w.direction * w.length
        assert np.isclose(abs(end[0]), 2.5) and np.isclose(abs(end[2]), 2.0)


def test_footprint_overlap_rotated():
    a = Footprint(np.zeros(2), np.array([1.0, 0.1]), 0.0)
    b = Footprint(np.array([0.0, 0.5]), np.array([1.0, 0.1]), np.pi / 4)   # a diagonal bar crossing
    assert footprints_overlap(a, b)
    c = Footprint(np.array([0.0, 0.5]), np.array([1.0, 0.1]), 0.0)
    assert not footprints_overlap(a, c)
    assert point_footprint_distance(np.array([0.0, 0.5]), a) == pytest.approx(0.4)
    assert point_footprint_distance(np.zeros(2), a) == 0.0


def test_footprint_of_matches_transformed_mesh():
    box = trimesh.creation.box((2.0, 1.0, 0.5))
    tf = yaw_transform(0.7, np.array([1.0, 0.0, -0.5]))
    fp = footprint_of(box.bounds, tf)
    world = box.copy().apply_transform(tf).vertices[:, [0, 2]]
    corners = fp.corners()
    # every mesh vertex lies on a footprint corner
    d = np.linalg.norm(world[:, None] - corners[None], axis=2).min(axis=1)
    assert d.max() < 1e-9


def test_room_meshes_leave_the_room_empty():
    room = Room(4.0, 3.0, 2.6)
    meshes = room_meshes(room, ceiling_colour=(255, 255, 255, 255))
    assert set(meshes) == {"floor", "wall_0", "wall_1", "wall_2", "wall_3", "ceiling"}
    probe = np.array([[1.99, 0.01, 1.49], [-1.99, 2.59, -1.49], [0.0, 1.3, 0.0]])
    for name, m in meshes.items():
        assert not m.contains(probe).any(), name


def test_look_at_is_opencv():
    wfc = look_along(np.array([0.0, 1.5, 0.0]), np.array([0.0, 0.0, 1.0]))
    assert np.allclose(wfc[:3, 1], [0, -1, 0])            # image down = world down
    assert np.allclose(wfc[:3, 0], [-1, 0, 0])            # looking +z with y up, right is -x
    assert np.isclose(np.linalg.det(wfc[:3, :3]), 1.0)


def test_textured_floor_is_a_quad_at_floor_level():
    from scenewright.geometry.room import plank_texture
    img = plank_texture(np.random.default_rng(0), (150, 110, 80), size=64, planks=4)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and img.std() > 3
    assert np.array_equal(img, plank_texture(np.random.default_rng(0), (150, 110, 80), size=64, planks=4))
    floor = room_meshes(Room(4.0, 3.0), floor_texture=img)["floor"]
    assert np.allclose(floor.vertices[:, 1], 0.0) and np.all(floor.face_normals[:, 1] > 0.99)
    assert floor.visual.uv.shape == (4, 2)
