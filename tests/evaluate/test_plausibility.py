"""Interpenetration, floating and below-floor checks on boxes placed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scenewright.evaluate.plausibility import PlausibilitySettings, check_plausibility


def box(extents, bottom_centre):
    """World-space box with its bottom face centred at ``bottom_centre``."""
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(np.asarray(bottom_centre, float) + [0.0, extents[1] / 2, 0.0])
    return m


def test_overlapping_boxes_interpenetrate_touching_ones_do_not():
    a = box((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    overlapping = box((1.0, 1.0, 1.0), (0.95, 0.0, 0.0))        # 5 cm × 1 m × 1 m = 50,000 cm³
    touching = box((1.0, 1.0, 1.0), (-1.0, 0.0, 0.0))           # shares a face with a
    r = check_plausibility({1: a, 2: overlapping, 3: touching}, floor_y=0.0)
    assert r["interpenetrating_pairs"] == [[1, 2]]
    pair = next(p for p in r["pairs_checked"] if (p["a"], p["b"]) == (1, 2))
    assert pair["method"] == "manifold" and pair["volume_cm3"] == pytest.approx(50000, rel=1e-4)
    assert r["n_floating"] == 0 and r["n_below_floor"] == 0


def test_tiny_overlap_under_one_cubic_centimetre_is_not_counted():
    a = box((0.1, 0.1, 0.1), (0.0, 0.0, 0.0))
    b = box((0.1, 0.1, 0.1), (0.09995, 0.0, 0.0))   # 0.005 cm × 10 cm × 10 cm = 0.5 cm³
    assert check_plausibility({1: a, 2: b}, 0.0)["n_interpenetrating_pairs"] == 0
    c = box((0.1, 0.1, 0.1), (0.0998, 0.0, 0.0))    # 0.02 cm × 10 cm × 10 cm = 2 cm³
    assert check_plausibility({1: a, 3: c}, 0.0)["n_interpenetrating_pairs"] == 1


def test_open_meshes_fall_back_to_voxels_and_say_so():
    a = box((0.5, 0.5, 0.5), (0.0, 0.0, 0.0))
    b = box((0.5, 0.5, 0.5), (0.3, 0.0, 0.0))       # 20 cm overlap: 0.2·0.5·0.5 m³ = 50,000 cm³
    b.update_faces(b.face_normals[:, 1] < 0.5)       # remove the top: an open crate, not a closed volume
    r = check_plausibility({1: a, 2: b}, 0.0)
    (pair,) = r["pairs_checked"]
    assert pair["method"].startswith("voxel") and pair["interpenetrating"]
    assert pair["volume_cm3"] == pytest.approx(50000, rel=0.15)


def test_floating_supported_and_below_floor():
    table = box((1.0, 0.7, 0.6), (0.0, 0.0, 0.0))
    vase_on_table = box((0.1, 0.3, 0.1), (0.1, 0.71, 0.0))      # 1 cm gap: resting
    vase_floating = box((0.1, 0.3, 0.1), (-0.3, 0.80, 0.0))     # 10 cm above the table
    lamp_floating = box((0.2, 1.5, 0.2), (2.0, 0.10, 0.0))      # 10 cm above the floor
    chair_sunk = box((0.5, 0.9, 0.5), (-2.0, -0.05, 0.0))       # 5 cm under the floor
    on_floor = box((0.5, 0.5, 0.5), (0.0, 0.015, 2.0))          # 1.5 cm: within tolerance
    r = check_plausibility({1: table, 2: vase_on_table, 3: vase_floating, 4: lamp_floating,
                            5: chair_sunk, 6: on_floor}, floor_y=0.0)
    assert sorted(r["floating"]) == [3, 4]
    assert r["below_floor"] == [5]
    assert r["per_object"][2]["supported_by"] == 1
    assert r["per_object"][6]["supported_by"] == "floor"
    assert r["per_object"][3]["supported_by"] is None


def test_exemptions_are_reported_and_no_floor_is_said():
    a = box((1.0, 1.0, 1.0), (0.0, 0.5, 0.0))
    b = box((1.0, 1.0, 1.0), (0.5, 0.5, 0.0))
    settings = PlausibilitySettings(exempt_categories=("rug",))
    r = check_plausibility({1: a, 2: b}, None, settings, categories={1: "rug", 2: "chair"})
    assert r["exempt"] == [{"id": 1, "category": "rug", "reason": "exempt category"}]
    assert r["n_interpenetrating_pairs"] == 0
    assert r["n_floating"] is None and r["not_computed"]


def open_table():
    """A table (top slab on four legs) with its slab open underneath: not a closed volume."""
    top = box((1.0, 0.05, 0.6), (0.0, 0.65, 0.0))
    top.update_faces(top.face_normals[:, 1] > -0.5)
    legs = [box((0.05, 0.65, 0.05), (x, 0.0, z)) for x in (-0.45, 0.45) for z in (-0.25, 0.25)]
    return trimesh.util.concatenate([top] + legs)


def test_open_meshes_close_to_each_other_are_contact_not_penetration():
    table = open_table()
    crate = box((0.3, 0.2, 0.3), (0.0, 0.701, 0.0))          # resting on the top, 1 mm gap
    crate.update_faces(crate.face_normals[:, 1] < 0.5)      # open top
    under = box((0.3, 0.3, 0.3), (0.0, 0.345, 0.0))         # under the top, 5 mm gap, on a stand
    under.update_faces(under.face_normals[:, 1] < 0.5)
    r = check_plausibility({1: table, 2: crate, 3: under}, None)
    checked = {(p["a"], p["b"]): p for p in r["pairs_checked"]}
    assert checked[(1, 3)]["method"].startswith("voxel")    # the boxes overlap: the pair was checked
    assert r["n_interpenetrating_pairs"] == 0
    sunk = box((0.3, 0.2, 0.3), (0.0, 0.62, 0.0))             # through the 5 cm slab: 4,500 cm³
    sunk.update_faces(sunk.face_normals[:, 1] < 0.5)
    r = check_plausibility({1: table, 2: sunk}, 0.0)
    assert r["n_interpenetrating_pairs"] == 1
    assert r["pairs_checked"][0]["volume_cm3"] == pytest.approx(0.3 * 0.3 * 0.05 * 1e6, rel=0.3)


def open_below(mesh):
    """``mesh`` without its downward faces: open, so the evaluator cannot use manifold3d."""
    mesh.update_faces(mesh.face_normals[:, 1] > -0.5)
    return mesh


def cubby_unit():
    """A shelf unit of closed panels (bottom, top, sides, back) around a cubby open at the
    front (+z): 0.5 wide, 0.4 high, 0.4 deep inside. The bottom panel is open underneath."""
    t = 0.03
    panels = [open_below(box((0.56, t, 0.43), (0.0, 0.0, -0.015))),    # bottom, y 0 .. 0.03
              box((0.56, t, 0.43), (0.0, 0.43, -0.015)),                 # top, y 0.43 .. 0.46
              box((t, 0.4, 0.43), (-0.265, t, -0.015)),                  # sides, x ±0.25 .. ±0.28
              box((t, 0.4, 0.43), (0.265, t, -0.015)),
              box((0.5, 0.4, t), (0.0, t, -0.215))]                      # back, z −0.23 .. −0.2
    return trimesh.util.concatenate(panels)


def test_a_thing_in_a_cavity_open_to_the_room_is_not_interpenetrating():
    unit = cubby_unit()
    # A 30 cm crate in the cubby, 10 cm clear of every panel: air by any physical reading, but
    # enclosed along two axes (top and bottom, both sides), which alone filled it.
    crate = open_below(box((0.3, 0.3, 0.3), (0.0, 0.05, 0.0)))
    r = check_plausibility({1: unit, 2: crate}, None)
    (pair,) = r["pairs_checked"]
    assert pair["method"] == "voxel+winding"
    assert r["n_interpenetrating_pairs"] == 0 and pair["volume_cm3"] < 1.0
    # The same crate pushed 10 cm into the back panel (3 cm thick) does interpenetrate it:
    # 30 × 30 cm of the panel's thickness, 2,700 cm³.
    sunk = open_below(box((0.3, 0.3, 0.3), (0.0, 0.05, -0.2)))
    r = check_plausibility({1: unit, 2: sunk}, None)
    assert r["n_interpenetrating_pairs"] == 1
    assert r["pairs_checked"][0]["volume_cm3"] == pytest.approx(0.3 * 0.3 * 0.03 * 1e6, rel=0.5)


def test_a_thing_inside_a_cabinet_without_its_back_still_interpenetrates():
    # A closed cabinet whose back face is missing (a modelling gap, not an opening): inside it the
    # winding number is ≈ 5/6, material, as the two-axis fill said.
    cabinet = box((0.6, 0.6, 0.6), (0.0, 0.0, 0.0))
    cabinet.update_faces(cabinet.face_normals[:, 2] > -0.5)
    crate = box((0.2, 0.2, 0.2), (0.0, 0.2, 0.0))
    r = check_plausibility({1: cabinet, 2: crate}, None)
    (pair,) = r["pairs_checked"]
    assert pair["method"] == "voxel+winding" and pair["interpenetrating"]
    # 8,000 cm³ on 1 cm cells: the crate's cells, one layer more on each side at most (22³)
    assert 0.2 ** 3 * 1e6 * 0.7 < pair["volume_cm3"] < 0.22 ** 3 * 1e6


def test_double_sided_faces_do_not_tell_material_and_keep_the_two_axis_fill():
    unit = cubby_unit()
    both = trimesh.Trimesh(unit.vertices, np.concatenate([unit.faces, unit.faces[:, ::-1]]), process=False)
    crate = open_below(box((0.3, 0.3, 0.3), (0.0, 0.05, 0.0)))
    r = check_plausibility({1: both, 2: crate}, None)
    (pair,) = r["pairs_checked"]
    # Only the crate's orientation tells, and it says its cells are its material: the unit's
    # two-axis fill decides, as before (the crate's 27,000 cm³, give or take a cell layer).
    assert pair["interpenetrating"] and pair["volume_cm3"] > 0.28 ** 3 * 1e6
