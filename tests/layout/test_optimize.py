"""Layout optimisation on hand-built scenes: overlaps, supports, walls, stability, determinism."""

import numpy as np
import pytest
import trimesh

from scenewright.geometry.collision import PosedMesh, intersection_volume
from scenewright.geometry.planes import Plane
from scenewright.methods.layout.optimize import OptimizeSettings, optimize_layout
from scenewright.methods.layout.scene_graph import build_scene_graph, front_direction
from scenewright.scene import Relation
from tests.layout.test_scene_graph import WALLS, asset_box, dining_scene, place, table_mesh

FLOOR = Plane([0, 0, 0], [0, 1, 0])


def world_mesh(item):
    return item.mesh.copy().apply_transform(item.world_from_object)


def overlap(a, b):
    """(fcl says they intersect, manifold3d overlap volume m³) — independent of the optimiser's bookkeeping."""
    pa = PosedMesh.from_transform(a.mesh, a.world_from_object)
    pb = PosedMesh.from_transform(b.mesh, b.world_from_object)
    return pa.collides(pb), intersection_volume(world_mesh(a), world_mesh(b))[0]


def bottom(item):
    return float(world_mesh(item).vertices[:, 1].min())


def test_separates_two_overlapping_boxes_with_a_small_move():
    items = [place(1, "cabinet", asset_box(1.0, 0.8, 0.6), 0.0, 0, 0.0),
             place(2, "armchair", asset_box(0.8, 0.9, 0.8), 0.7, 0, 0.1)]    # 20 cm overlap in x, 60 cm in z
    assert overlap(*items)[1] > 0.05
    out, rep = optimize_layout(items, FLOOR, [], [], OptimizeSettings(max_separate_move_m=1.0))
    hit, vol = overlap(*out)
    assert vol < 1e-6 and rep["colliding_pairs"] == []
    moved = sum(np.linalg.norm((o.world_from_object - i.world_from_object)[[0, 2], 3]) for o, i in zip(out, items))
    assert 0.19 < moved < 0.21          # the minimum translation (20 cm along x), not a big jump
    assert all(abs(bottom(o)) < 1e-9 for o in out)
    assert items[1].world_from_object[0, 3] == 0.7          # inputs are not modified


def test_separates_non_box_meshes_but_keeps_a_chair_tucked_under_a_table():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.4).apply_translation([0, 0.4, 0])
    chair = asset_box(0.45, 0.45, 0.45)                    # a low seat fits under the table top
    items = [place(1, "dining_table", table_mesh(), 0, 0, 0),
             place(2, "chair", chair, 0.0, 0, 0.35),       # seat under the table top, between legs
             place(3, "floor_object", sphere, 0.75, 0, 0.0)]  # a ball through the table top edge
    assert overlap(items[0], items[1])[0] is False
    assert overlap(items[0], items[2])[0] is True
    rel = build_scene_graph(items, FLOOR, [])
    out, rep = optimize_layout(items, FLOOR, [], rel)
    assert not overlap(out[0], out[2])[0] and rep["colliding_pairs"] == []
    assert np.allclose(out[1].world_from_object, items[1].world_from_object, atol=1e-9)


def test_drops_a_floating_lamp_onto_the_table_top_and_lifts_a_sunk_one():
    lamp = asset_box(0.2, 0.45, 0.2)
    items = [place(1, "dining_table", table_mesh(h=0.75), 0, 0, 0),
             place(2, "lamp", lamp, 0.3, 1.3, 0.1),            # floating 55 cm above
             place(3, "vase", lamp, -0.3, 0.6, 0.0)]           # sunk 15 cm into the top
    rel = [Relation("on", subject=2, object=1), Relation("on", subject=3, object=1)]
    out, rep = optimize_layout(items, FLOOR, [], rel)
    clear = OptimizeSettings().clearance_m          # kept so touching meshes do not read as overlap
    assert abs(bottom(out[1]) - 0.75 - clear) < 1e-3 and abs(bottom(out[2]) - 0.75 - clear) < 1e-3
    assert np.allclose(out[1].world_from_object[[0, 2], 3], [0.3, 0.1])       # only y changed
    assert rep["not_resting"] == [] and rep["unsupported"] == []


def test_pushes_a_sofa_flush_to_its_wall_facing_away():
    wall = Plane([0, 0, -3], [0, 0, 1])
    sofa = place(1, "sofa", asset_box(2.0, 0.8, 0.9), 0.3, 0.02, -2.2, 0.15)     # 35 cm off, turned 8.6°
    cushion = place(2, "decor", asset_box(0.3, 0.2, 0.3), 0.3, 0.82, -2.2, 0.15)
    rel = [Relation("against_wall", subject=1, wall=0), Relation("on", subject=2, object=1)]
    out, rep = optimize_layout([sofa, cushion], FLOOR, [wall], rel)
    v = world_mesh(out[0]).vertices
    assert abs(wall.distance(v).min()) < 1e-6
    assert np.allclose(front_direction(out[0]), [0, 0, 1], atol=1e-9)
    assert abs(bottom(out[0])) < 1e-9
    # The cushion rode along and still rests on the sofa (set on it touching, it keeps the clearance).
    assert abs(bottom(out[1]) - 0.8 - OptimizeSettings().clearance_m) < 1e-3
    c = world_mesh(out[1]).vertices.mean(0)
    assert -3 < c[2] < -3 + 0.9


def test_wall_objects_slide_along_their_wall():
    wall = Plane([0, 0, -3], [0, 0, 1])
    items = [place(1, "cabinet", asset_box(1.0, 0.9, 0.5), 0.0, 0, -2.75),
             place(2, "wardrobe", asset_box(1.2, 2.0, 0.6), 0.9, 0, -2.7)]      # 20 cm overlap along x
    rel = [Relation("against_wall", subject=1, wall=0), Relation("against_wall", subject=2, wall=0)]
    out, rep = optimize_layout(items, FLOOR, [wall], rel)
    assert rep["colliding_pairs"] == [] and not overlap(*out)[0]
    for o in out:
        assert abs(wall.distance(world_mesh(o).vertices).min()) < 1e-6


def test_valid_layout_is_left_unchanged():
    items = dining_scene()[:-1]                         # without the floating lamp
    rel = build_scene_graph(items, FLOOR, WALLS)
    out, rep = optimize_layout(items, FLOOR, WALLS, rel)
    clear = OptimizeSettings().clearance_m
    for o, i in zip(out, items):
        moved = o.world_from_object - i.world_from_object
        moved[1, 3] = 0.0 if 0.0 <= moved[1, 3] <= clear + 1e-9 else moved[1, 3]   # a touching child: the clearance
        assert np.abs(moved).max() < 1e-3, o.id
    assert rep["colliding_pairs"] == [] and rep["not_resting"] == []


def test_messy_layout_is_fixed_deterministically():
    rng = np.random.default_rng(5)
    items = dining_scene()
    for it in items:                                    # perturb like a noisy prediction
        it.world_from_object[[0, 2], 3] += rng.normal(0, 0.15, 2)
        it.world_from_object[1, 3] += rng.normal(0, 0.05)
    rel = build_scene_graph(dining_scene(), FLOOR, WALLS)   # graph from the clean scene
    out1, rep1 = optimize_layout(items, FLOOR, WALLS, rel)
    out2, rep2 = optimize_layout(items, FLOOR, WALLS, rel)
    for a, b in zip(out1, out2):
        assert np.array_equal(a.world_from_object, b.world_from_object)
    assert rep1["colliding_pairs"] == []
    for a in range(len(out1)):
        for b in range(a + 1, len(out1)):
            if {out1[a].id, out1[b].id} == {2, 3}:
                continue
            assert overlap(out1[a], out1[b])[1] < 1e-4
    assert rep1["not_resting"] == []
    assert set(rep1["timings_s"]) >= {"walls", "supports", "separate", "report", "total"}


def test_report_lists_what_was_not_resolved():
    items = [place(1, "cabinet", asset_box(1.0, 0.8, 0.6), 0.0, 0, 0.0),
             place(2, "cabinet", asset_box(1.0, 0.8, 0.6), 0.5, 0, 0.0)]
    out, rep = optimize_layout(items, None, [], [], OptimizeSettings(separate=False))
    assert [(p["a"], p["b"]) for p in rep["colliding_pairs"]] == [(1, 2)]
    assert abs(rep["colliding_pairs"][0]["volume_m3"] - 0.5 * 0.8 * 0.6) < 1e-6
    assert rep["no_floor"] and rep["unsupported"] == [1, 2]
    # A bad graph (a support cycle) does not hang the optimiser.
    rel = [Relation("on", subject=1, object=2), Relation("on", subject=2, object=1)]
    optimize_layout(items, FLOOR, [], rel)


def test_shared_collision_models_match_baked_ones():
    # An L-shaped mesh: rotation and scale must be honoured when the BVH is shared.
    l_shape = trimesh.util.concatenate([asset_box(1.0, 0.2, 0.2), asset_box(0.2, 0.2, 1.0).apply_translation([0.4, 0, 0.4])])
    rng = np.random.default_rng(3)
    cache = {}
    for _ in range(60):
        ta = place(1, "x", l_shape, *rng.uniform(-0.6, 0.6, 3), yaw=rng.uniform(-3, 3), scale=1.0).world_from_object
        tb = place(2, "x", l_shape.copy(), 0, 0, 0, yaw=rng.uniform(-3, 3)).world_from_object
        tb[:3, :3] = tb[:3, :3] @ np.diag([1.3, 0.8, 1.1])
        shared = PosedMesh.from_transform(l_shape, ta, cache).collides(PosedMesh.from_transform(l_shape.copy(), tb, cache))
        baked = PosedMesh.from_transform(l_shape, ta).collides(PosedMesh.from_transform(l_shape, tb))
        assert shared == baked
    assert len(cache) <= 2


def test_objects_partly_in_a_wall_are_pushed_back_into_the_room():
    walls = [Plane([0, 0, -3], [0, 0, 1]), Plane([-2, 0, 0], [1, 0, 0])]
    items = [place(1, "armchair", asset_box(0.8, 0.9, 0.8), -1.9, 0, -2.8),     # in the corner, both walls
             place(2, "floor_lamp", asset_box(0.3, 1.6, 0.3), 0.5, 0, -4.0)]     # wholly behind: left alone
    out, rep = optimize_layout(items, FLOOR, walls, [])
    v = world_mesh(out[0]).vertices
    assert min(w.distance(v).min() for w in walls) > -1e-6
    assert np.allclose(out[1].world_from_object, items[1].world_from_object)
    assert [(e["id"], e["wall"]) for e in rep["in_walls"]] == [(2, 0)]


def test_rested_and_separated_objects_do_not_read_as_overlapping_to_the_evaluator():
    """Open (non-manifold) meshes are scored by voxels: exact contact shares cells and counts
    as overlap, so rest and separation keep ``clearance_m``. With no clearance this fails."""
    from scenewright.evaluate.plausibility import check_plausibility

    def open_mesh(m):                       # drop one face: no longer watertight
        return trimesh.Trimesh(m.vertices, m.faces[1:], process=False)

    table = open_mesh(table_mesh(h=0.7537))
    cup = trimesh.creation.cylinder(radius=0.087, height=0.13, sections=24)
    cup = open_mesh(cup.apply_translation([0, 0.065, 0]))
    items = [place(1, "dining_table", table, 0.0113, 0, 0.0071, 0.31),
             place(2, "tableware", cup, 0.123, 0.93, 0.077, 0.4),
             place(3, "tableware", cup, -0.2, 0.8, 0.1, 1.1)]
    rel = [Relation("on", subject=2, object=1), Relation("on", subject=3, object=1)]

    def pairs(settings):
        out, _ = optimize_layout(items, FLOOR, [], rel, settings)
        meshes = {}
        for it in out:
            m = it.mesh.copy()
            m.apply_transform(it.world_from_object)
            meshes[it.id] = m
        return check_plausibility(meshes, 0.0)["n_interpenetrating_pairs"]

    assert pairs(OptimizeSettings()) == 0


def test_a_child_set_exactly_on_its_support_is_lifted_to_the_clearance():
    """The no-depth paths set a small thing's bottom exactly on its support's top; touching open
    meshes share voxels, which the evaluator counts as an interpenetrating pair. Rest lifts a
    child closer than ``rest_min_gap_m`` to the clearance, and leaves one already within it."""
    from scenewright.evaluate.plausibility import check_plausibility

    def open_mesh(m):                       # drop one face: scored by voxels, as library meshes are
        return trimesh.Trimesh(m.vertices, m.faces[1:], process=False)

    h = 0.7537
    table = open_mesh(table_mesh(h=h))
    box = open_mesh(asset_box(0.3, 0.2, 0.25))
    clear = OptimizeSettings().clearance_m
    items = [place(1, "dining_table", table, 0.0113, 0, 0.0071, 0.31),
             place(2, "tableware", box, 0.123, h, 0.077, 0.4),                   # touching the top
             place(3, "tableware", box, -0.25, h + 0.5 * clear, 0.1, 1.1)]     # resting within the clearance
    rel = [Relation("on", subject=2, object=1), Relation("on", subject=3, object=1)]

    def run(settings):
        out, _ = optimize_layout(items, FLOOR, [], rel, settings)
        meshes = {it.id: world_mesh(it) for it in out}
        return out, check_plausibility(meshes, 0.0)["n_interpenetrating_pairs"]

    out, n_pairs = run(OptimizeSettings())
    assert abs(bottom(out[1]) - h - clear) < 1e-6
    assert abs(bottom(out[2]) - h - 0.5 * clear) < 1e-9          # already resting: not moved
    assert n_pairs == 0
    touching, _ = run(OptimizeSettings(rest_min_gap_m=0.0))      # touching counted as resting: left there
    assert abs(bottom(touching[1]) - h) < 1e-6


def test_separating_moves_leave_the_clearance():
    a = place(1, "cabinet", asset_box(0.6, 0.8, 0.5), 0.0, 0, 0.0)
    b = place(2, "cabinet", asset_box(0.4, 0.8, 0.4), 0.45, 0, 0.0)     # 5 cm into a
    for clear in (0.005, 0.02):
        out, rep = optimize_layout([a, b], FLOOR, [], [], OptimizeSettings(clearance_m=clear))
        xa = out[0].world_from_object[0, 3] + 0.3
        xb = out[1].world_from_object[0, 3] - 0.2
        assert clear - 0.002 <= xb - xa <= clear + 0.002, (clear, xb - xa)
        assert not rep["colliding_pairs"]


def test_overlap_moves_the_object_whose_move_is_small_for_its_uncertainty():
    from scenewright.methods.layout.optimize import move_weight

    # A bed (2 m x 1.5 m: its centre is uncertain by decimetres) overlapping a 0.4 m nightstand
    # by 10 cm: the bed slides, the nightstand (whose position is precise) stays.
    items = [place(1, "bed", asset_box(1.5, 0.6, 2.0), 0.0, 0, 0.0),
             place(2, "nightstand", asset_box(0.4, 0.5, 0.4), 0.85, 0, 0.5)]
    assert overlap(*items)[1] > 1e-3
    out, rep = optimize_layout(items, FLOOR, [], [])
    assert rep["colliding_pairs"] == [] and overlap(*out)[1] < 1e-6
    assert np.allclose(out[1].world_from_object, items[1].world_from_object, atol=1e-9)
    assert 0.09 < np.linalg.norm(out[0].world_from_object[[0, 2], 3]) < 0.12
    # The former rule (the smaller object moves) is kept as a setting.
    out, _ = optimize_layout(items, FLOOR, [], [], OptimizeSettings(move_cost="size"))
    assert np.allclose(out[0].world_from_object, items[0].world_from_object, atol=1e-9)
    assert move_weight(3.0, 0.16) < 1.0 < move_weight(0.16, 3.0)
    assert move_weight(1.0, 1.0) == 1.0


def test_a_table_ringed_by_chairs_is_cleared_by_the_chair_stepping_back():
    # A 1.6 x 0.9 m table, chairs (high backs: they hit the top) on all four sides, one of them
    # 8 cm into the table. Moving the table (cheap for its size) would push it into another
    # chair; the chair steps back instead, and every pair ends clear.
    chair = asset_box(0.45, 0.9, 0.45)
    table = place(1, "dining_table", table_mesh(1.6, 0.75, 0.9), 0.0, 0, 0.0)
    chairs = [place(2, "chair", chair, 0.0, 0, 0.45 + 0.225 - 0.08, np.pi),   # 8 cm in
              place(3, "chair", chair, 0.0, 0, -0.45 - 0.225 - 0.01, 0.0),
              place(4, "chair", chair, 0.8 + 0.225 + 0.01, 0, 0.0, -np.pi / 2),
              place(5, "chair", chair, -0.8 - 0.225 - 0.01, 0, 0.0, np.pi / 2)]
    items = [table] + chairs
    assert overlap(table, chairs[0])[0] and not any(overlap(table, c)[0] for c in chairs[1:])
    out, rep = optimize_layout(items, FLOOR, [], [])
    assert rep["colliding_pairs"] == []
    assert all(not overlap(out[0], o)[0] for o in out[1:])
    assert np.allclose(out[0].world_from_object, table.world_from_object, atol=1e-9)   # the table stays
    assert 0.07 < out[1].world_from_object[2, 3] - chairs[0].world_from_object[2, 3] < 0.1


def hutch_desk_mesh(w=1.4, h=0.75, d=0.7, hutch_h=0.6, hutch_d=0.25):
    """A desk (table_mesh) with a closed hutch standing on the back of its top."""
    hutch = trimesh.creation.box((w, hutch_h, hutch_d))
    hutch.apply_translation([0, h + hutch_h / 2, -d / 2 + hutch_d / 2])
    return trimesh.util.concatenate([table_mesh(w, h, d), hutch])


def test_a_thing_on_a_desk_overlapping_its_hutch_slides_forward_on_the_top():
    # The box's back reaches 10 cm into the hutch (which spans z in [-0.35, -0.10]): the support
    # pair is never separated by the overlap pass, so resting it must clear the hutch.
    radio = asset_box(0.3, 0.2, 0.3)
    items = [place(1, "desk", hutch_desk_mesh(), 0, 0, 0),
             place(2, "electronics", radio, 0.0, 0.75, -0.05)]      # z in [-0.20, 0.10]
    assert overlap(*items)[0]
    rel = [Relation("on", subject=2, object=1)]
    out, rep = optimize_layout(items, FLOOR, [], rel)
    clear = OptimizeSettings().clearance_m
    hit, vol = overlap(*out)
    assert not hit and vol < 1e-6
    assert rep["colliding_pairs"] == [] and rep["not_resting"] == []
    assert abs(bottom(out[1]) - 0.75 - clear) < 1e-3                # still on the desk top, not on the hutch
    dz = out[1].world_from_object[2, 3] - items[1].world_from_object[2, 3]
    assert 0.10 <= dz <= 0.10 + clear + 2 * OptimizeSettings().search_tol_m    # the least slide forward
    assert np.allclose(out[0].world_from_object, items[0].world_from_object)    # the desk stays


def test_a_lamp_sunk_deep_into_a_solid_support_is_lifted_onto_it():
    # 40 cm into a solid 1.2 m cabinet: the rays looking for its top start inside the cabinet,
    # and no slide keeps the lamp over the cabinet's footprint, so the lamp goes up to its top.
    lamp = asset_box(0.2, 0.45, 0.2)
    items = [place(1, "cabinet", asset_box(0.8, 1.2, 0.5), 0, 0, 0),
             place(2, "lamp", lamp, 0.1, 0.8, 0.0)]
    rel = [Relation("on", subject=2, object=1)]
    out, rep = optimize_layout(items, FLOOR, [], rel)
    clear = OptimizeSettings().clearance_m
    assert overlap(*out)[1] < 1e-6 and rep["colliding_pairs"] == []
    assert abs(bottom(out[1]) - 1.2 - clear) < 1e-3
    assert np.allclose(out[1].world_from_object[[0, 2], 3], [0.1, 0.0])


def test_report_counts_a_child_still_inside_its_support():
    # Resting off: nothing moves the sunk lamp, and the report must say so even though the
    # overlap pass leaves support pairs alone.
    lamp = asset_box(0.2, 0.45, 0.2)
    items = [place(1, "cabinet", asset_box(0.8, 1.2, 0.5), 0, 0, 0),
             place(2, "lamp", lamp, 0.1, 0.8, 0.0)]
    rel = [Relation("on", subject=2, object=1)]
    out, rep = optimize_layout(items, FLOOR, [], rel, OptimizeSettings(rest_on_supports=False))
    assert [(p["a"], p["b"]) for p in rep["colliding_pairs"]] == [(1, 2)]
    assert rep["colliding_pairs"][0]["volume_m3"] > 0.2 * 0.2 * 0.4 * 0.99


def test_a_vase_seen_at_a_hutch_top_slides_onto_it_rather_than_falling_to_the_desk():
    # The vase was seen at the height of the hutch's top (1.35 m) but 15 cm in front of the
    # hutch: the surface under it is the desk top, 60 cm down; the hutch's top is 15 cm away.
    vase = asset_box(0.1, 0.3, 0.1)
    items = [place(1, "desk", hutch_desk_mesh(), 0, 0, 0),
             place(2, "vase", vase, 0.2, 1.35, 0.0)]                 # hutch: z in [-0.35, -0.10]
    rel = [Relation("on", subject=2, object=1)]
    out, rep = optimize_layout(items, FLOOR, [], rel)
    clear = OptimizeSettings().clearance_m
    assert -1e-6 <= bottom(out[1]) - 1.35 <= clear + 1e-6              # on the hutch, at its seen height
    moved = out[1].world_from_object[:3, 3] - items[1].world_from_object[:3, 3]
    assert moved[2] < 0 and 0.10 < np.linalg.norm(moved[[0, 2]]) < 0.3    # back onto it, well under the 60 cm drop
    assert overlap(*out)[1] < 1e-6 and rep["colliding_pairs"] == [] and rep["not_resting"] == []


def test_a_vase_far_from_any_surface_at_its_height_still_falls_to_the_top_under_it():
    vase = asset_box(0.1, 0.3, 0.1)
    items = [place(1, "dining_table", table_mesh(h=0.75), 0, 0, 0),
             place(2, "vase", vase, 0.3, 1.3, 0.1)]
    out, rep = optimize_layout(items, FLOOR, [], [Relation("on", subject=2, object=1)])
    assert abs(bottom(out[1]) - 0.75 - OptimizeSettings().clearance_m) < 1e-3
    assert np.allclose(out[1].world_from_object[[0, 2], 3], [0.3, 0.1])


def test_containment_in_an_open_mesh_follows_its_winding_number_as_the_evaluator_does():
    """A crate wholly inside a cabinet missing its back crosses no surface, yet sits in the
    cabinet's material; a crate in a cubby open to the room sits in air. The optimiser's
    test says so, as the evaluator's solid does (tests/evaluate/test_plausibility.py)."""
    from tests.evaluate.test_plausibility import box, cubby_unit, open_below

    cabinet = box((0.6, 0.6, 0.6), (0.0, 0.0, 0.0))
    cabinet.update_faces(cabinet.face_normals[:, 2] > -0.5)          # no back face: not watertight
    inside = box((0.2, 0.2, 0.2), (0.0, 0.2, 0.0))
    in_cubby = open_below(box((0.3, 0.3, 0.3), (0.0, 0.05, 0.0)))

    def posed(mesh):
        return PosedMesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), np.zeros(3))
    assert not posed(cabinet).watertight
    assert posed(inside).collides(posed(cabinet)) and posed(cabinet).collides(posed(inside))
    assert not posed(in_cubby).collides(posed(cubby_unit()))
    assert not posed(cubby_unit()).collides(posed(in_cubby))


def test_an_overlap_that_only_a_long_move_clears_is_left_rather_than_crossing_the_room():
    # A 0.5 m nightstand standing wholly inside a 2 m x 2 m bed's footprint: either must move
    # 1.25 m or more to clear the other, to where neither was seen. With a 1 m cap the pair stays
    # (reported).
    items = [place(1, "bed", asset_box(2.0, 0.6, 2.0), 0.0, 0, 0.0),
             place(2, "nightstand", asset_box(0.5, 0.5, 0.5), 0.0, 0, 0.0)]
    out, rep = optimize_layout(items, FLOOR, [], [], OptimizeSettings(max_separate_move_m=1.0))
    assert all(np.allclose(o.world_from_object[[0, 2], 3], i.world_from_object[[0, 2], 3]) for o, i in zip(out, items))
    assert len(rep["colliding_pairs"]) == 1
    # the layout method's default is that cap
    out, rep = optimize_layout(items, FLOOR, [], [])
    assert len(rep["colliding_pairs"]) == 1
    # allowed the long move (no cap: text -> scene's repair), the optimiser makes it
    out, rep = optimize_layout(items, FLOOR, [], [], OptimizeSettings(max_separate_move_m=None))
    assert rep["colliding_pairs"] == [] and not overlap(*out)[0]
    assert max(np.linalg.norm((o.world_from_object - i.world_from_object)[[0, 2], 3]) for o, i in zip(out, items)) > 1.2


def test_the_separation_cap_is_lifted_by_null_on_the_command_line():
    """``--set arrange.optimize.max_separate_move_m=null`` turns the layout method's 1 m cap off (text ->
    scene's repair needs it); null for a field that may not be None is still refused."""
    from scenewright import get_method
    from scenewright.errors import InputError
    from scenewright.settings import build_settings
    settings = get_method("layout").Settings
    assert build_settings(settings, seed=0, values={}, overrides=[]).arrange.optimize.max_separate_move_m == 1.0
    lifted = build_settings(settings, seed=0, values={}, overrides=["arrange.optimize.max_separate_move_m=null"])
    assert lifted.arrange.optimize.max_separate_move_m is None
    with pytest.raises(InputError, match="is a float"):
        build_settings(settings, seed=0, values={}, overrides=["pose.w_iou=null"])
