"""The generalised winding number: inside, outside, holes, orientation."""

from __future__ import annotations

import numpy as np
import trimesh

from scenewright.geometry import winding
from tests.tolerance import EPS64

# A sum of 12 atan2 terms of order π: rounding stays far below this.
TOL = 1e3 * EPS64


def test_closed_cube_is_one_inside_zero_outside_and_minus_one_inverted():
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    points = np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 0.4], [2.0, 0.0, 0.0], [0.0, 0.7, 0.0]])
    w = winding.winding_numbers(cube.vertices, cube.faces, points)
    assert np.allclose(w, [1, 1, 0, 0], atol=TOL)
    inverted = winding.winding_numbers(cube.vertices, cube.faces[:, ::-1], points)
    assert np.allclose(inverted, [-1, -1, 0, 0], atol=TOL)


def test_a_missing_face_lowers_the_centre_by_its_solid_angle():
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    cube.update_faces(cube.face_normals[:, 2] < 0.5)        # no +z face
    w = winding.winding_numbers(cube.vertices, cube.faces, [[0.0, 0.0, 0.0]])
    assert abs(w[0] - 5 / 6) < TOL                          # each face of a cube subtends 4π / 6 at its centre
    assert winding.contains(cube, [[0.0, 0.0, 0.0]], winding.material_sign(cube)).all()


def test_material_sign_reads_the_orientation_and_refuses_double_sided_faces():
    cube = trimesh.creation.box(extents=(0.5, 0.5, 0.5))
    assert winding.material_sign(cube) == 1.0
    flipped = trimesh.Trimesh(cube.vertices, cube.faces[:, ::-1], process=False)
    assert winding.material_sign(flipped) == -1.0
    both = trimesh.Trimesh(cube.vertices, np.concatenate([cube.faces, cube.faces[:, ::-1]]), process=False)
    assert winding.material_sign(both) == 0.0
    assert not winding.contains(both, [[0.0, 0.0, 0.0]], 0.0).any()
    sheet = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]], [[0, 1, 2], [0, 2, 3]], process=False)
    assert winding.material_sign(sheet) == 0.0              # a lone sheet has no inside


def test_chunks_give_the_same_numbers_as_one_pass(monkeypatch):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    points = np.random.default_rng(0).uniform(-1.5, 1.5, (300, 3))
    whole = winding.winding_numbers(sphere.vertices, sphere.faces, points)
    monkeypatch.setattr(winding, "_CHUNK", 500)             # a few points at a time
    assert np.allclose(whole, winding.winding_numbers(sphere.vertices, sphere.faces, points), atol=TOL)
    inside = np.linalg.norm(points, axis=1) < 0.95          # the icosphere's faces lie within 5 % of r = 1
    outside = np.linalg.norm(points, axis=1) > 1.0
    assert np.all(whole[inside] > 0.5) and np.all(whole[outside] < 0.5)


def test_contains_asks_the_sign_only_when_a_point_could_be_inside():
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    cube.update_faces(cube.face_normals[:, 2] < 0.5)        # open: the sign is what says which side is material
    asked = []

    def sign_of():
        asked.append(1)
        return winding.material_sign(cube)

    outside = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    got = winding.contains_signed_later(cube, outside, sign_of)
    assert not got.any() and not asked                     # |w| < 1/2 everywhere: no sign needed
    mixed = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.1, -0.2, 0.3]])
    for mesh in (cube, trimesh.Trimesh(cube.vertices, cube.faces[:, ::-1])):
        sign = winding.material_sign(mesh)
        expected = winding.contains(mesh, mixed, sign)
        assert np.array_equal(winding.contains_signed_later(mesh, mixed, lambda m=mesh: winding.material_sign(m)),
                              expected)
    assert np.array_equal(winding.contains_signed_later(cube, mixed, sign_of), [True, False, True])
    assert asked
    sheet = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 1]])   # double-sided: no sign
    assert not winding.contains_signed_later(sheet, [[0.2, 0.2, 0.0]], lambda: 0.0).any()
