"""Scene graph from geometry: hand-built scenes with known relations, meshes and sizes."""

import numpy as np
import trimesh

from scenewright.geometry.planes import Plane
from scenewright.geometry.transforms import make_transform, rot_y
from scenewright.methods.layout.scene_graph import SceneGraphSettings, build_scene_graph, object_box
from scenewright.scene import Camera, Instance, Scene, read_scene, write_scene


def asset_box(w, h, d):
    """A library-frame box: centred in x/z, lowest point at y = 0."""
    m = trimesh.creation.box((w, h, d))
    m.apply_translation([0, h / 2, 0])
    return m


def table_mesh(w=1.2, h=0.75, d=0.8):
    top = trimesh.creation.box((w, 0.04, d))
    top.apply_translation([0, h - 0.02, 0])
    legs = []
    for x in (-w / 2 + 0.03, w / 2 - 0.03):
        for z in (-d / 2 + 0.03, d / 2 - 0.03):
            leg = trimesh.creation.box((0.04, h - 0.04, 0.04))
            leg.apply_translation([x, (h - 0.04) / 2, z])
            legs.append(leg)
    return trimesh.util.concatenate([top] + legs)


def place(i, cat, mesh, x, y, z, yaw=0.0, asset=None, scale=1.0):
    return Instance(id=i, mesh=mesh, category=cat, asset_id=asset,
                    world_from_object=make_transform(rot_y(yaw) * scale, [x, y, z]))


WALLS = [Plane([0, 0, -3], [0, 0, 1]), Plane([-2.5, 0, 0], [1, 0, 0])]


def dining_scene():
    return [
        place(1, "sofa", asset_box(2.0, 0.8, 0.9), 0.0, 0, -3 + 0.45, 0.0, "sofa-a"),
        place(2, "dining_table", table_mesh(), 0.2, 0, -1.0, 0.0, "table-a"),
        place(3, "vase", asset_box(0.15, 0.3, 0.15), 0.4, 0.75, -1.1, 0.0, "vase-a"),
        place(4, "chair", asset_box(0.45, 0.9, 0.45), 0.2, 0, -0.25, np.pi, "chair-a"),   # faces -Z: the table
        place(5, "chair", asset_box(0.45, 0.9, 0.45), 0.2, 0, -1.75, 0.0, "chair-a"),     # faces +Z: the table
        place(6, "chair", asset_box(0.45, 0.9, 0.45), 1.6, 0, -1.0, -np.pi / 2, "chair-a"),  # faces -X: table
        place(7, "chair", asset_box(0.45, 0.9, 0.45), 1.8, 0, 0.5, 0.0, "chair-b"),       # faces away
        place(8, "bookcase", asset_box(0.8, 1.8, 0.35), -2.5 + 0.175, 0, -1.0, np.pi / 2, "bc"),  # left wall
        place(9, "lamp", asset_box(0.2, 0.4, 0.2), 1.5, 1.0, 0.4, 0.0, "lamp-a"),         # floats: no support
    ]


def as_set(relations):
    return {tuple(sorted(r.to_json().items(), key=lambda kv: kv[0])) for r in relations}


def rel_of(relations, kind):
    return {(r.subject, r.object if r.wall is None else r.wall) for r in relations if r.type == kind}


def test_relations_of_a_hand_built_scene():
    rel = build_scene_graph(dining_scene(), Plane([0, 0, 0], [0, 1, 0]), WALLS)
    assert rel_of(rel, "on") == {(3, 2)}
    assert rel_of(rel, "against_wall") == {(1, 0), (8, 1)}
    facing = rel_of(rel, "facing")
    assert {(4, 2), (5, 2), (6, 2)} <= facing and not any(s == 7 for s, _ in facing)
    groups = [r.members for r in rel if r.type == "same_asset_group"]
    assert groups == [[4, 5, 6]]


def test_on_uses_the_surface_under_the_object_and_tolerances():
    # Two shelves (y 0.30–0.35 and 0.90–0.95) on side panels.
    shelf = trimesh.util.concatenate([asset_box(1.0, 0.05, 0.4).apply_translation([0, 0.3, 0]),
                                      asset_box(1.0, 0.05, 0.4).apply_translation([0, 0.9, 0]),
                                      asset_box(0.03, 0.95, 0.4).apply_translation([-0.5, 0, 0]),
                                      asset_box(0.03, 0.95, 0.4).apply_translation([0.5, 0, 0])])
    items = [place(1, "bookcase", shelf, 0, 0, 0),
             place(2, "book", asset_box(0.2, 0.25, 0.15), 0.1, 0.35, 0.0),      # on the lower shelf
             place(3, "vase", asset_box(0.1, 0.2, 0.1), -0.2, 0.95, 0.0),       # on the top
             # 25 cm above: floating (a small thing would get small_on_gap_m, see below)
             place(4, "floor_object", asset_box(0.1, 0.2, 0.1), 0.3, 1.2, 0.0)]
    rel = build_scene_graph(items, None, [])
    assert rel_of(rel, "on") == {(2, 1), (3, 1)}
    loose = build_scene_graph(items, None, [], SceneGraphSettings(on_gap_m=0.3))
    assert (4, 1) in rel_of(loose, "on")


def test_against_wall_needs_parallel_back_and_proximity():
    items = [place(1, "cabinet", asset_box(1.0, 0.9, 0.5), 0, 0, -3 + 0.25 + 0.05, 0.0),     # 5 cm off: ok
             place(2, "cabinet", asset_box(1.0, 0.9, 0.5), 1.2, 0, -3 + 0.25 + 0.3, 0.0),    # 30 cm off
             place(3, "cabinet", asset_box(1.0, 0.9, 0.5), -1.2, 0, -3 + 0.5 + 0.01, np.pi / 2)]  # side to wall
    rel = build_scene_graph(items, None, WALLS)
    assert rel_of(rel, "against_wall") == {(1, 0)}


def test_size_only_items_and_scale_and_ground_truth_round_trip(tmp_path):
    items = dining_scene()
    # Scaled instance: a 1 m cube asset scaled to 0.5 m sits on the table (top 0.75 m).
    items.append(place(10, "decor", asset_box(1, 1, 1), -0.1, 0.75, -0.9, 0.3, scale=0.5))
    write_scene(Scene(camera=Camera(np.eye(3), 64, 64), instances=items,
                      floor={"normal": [0, 1, 0], "height": 0.0},
                      walls=[w.to_json() for w in WALLS]), tmp_path / "gt")
    gt = read_scene(tmp_path / "gt")
    rel = build_scene_graph(gt.instances, gt.floor, gt.walls)
    assert rel_of(rel, "on") == {(3, 2), (10, 2)}
    assert rel_of(rel, "against_wall") == {(1, 0), (8, 1)}
    # Without meshes, boxes from sizes (the scene.json "size" after scale) give the same boxes.
    sized = [Instance(id=o.id, category=o.category, world_from_object=o.world_from_object,
                      size=list(object_box(o).size)) for o in gt.instances]
    for a, b in zip(sized, gt.instances):
        assert np.allclose(object_box(a).centre, object_box(b).centre, atol=1e-6)
    rel2 = build_scene_graph(sized, gt.floor, gt.walls)
    assert rel_of(rel2, "on") == {(3, 2), (10, 2)}
    assert rel_of(rel2, "against_wall") == rel_of(rel, "against_wall")


def test_small_things_find_their_support_across_a_larger_gap():
    """A vase seen 0.17 m above the table top (its bottom hidden) still stands on the table;
    a non-small thing at that height does not."""
    table = place(1, "dining_table", table_mesh(), 0.0, 0, 0.0, 0.0, "t")
    vase = place(2, "vase", asset_box(0.15, 0.3, 0.15), 0.2, 0.92, 0.1, 0.0, "v")
    crate = place(3, "floor_object", asset_box(0.15, 0.3, 0.15), -0.3, 0.92, 0.1, 0.0, "c")
    rel = build_scene_graph([table, vase, crate])
    on = {(r.subject, r.object) for r in rel if r.type == "on"}
    assert (2, 1) in on
    assert not any(s == 3 for s, _ in on)
    # Far above (more than small_on_gap_m: on a shelf the retrieved table lacks) a small
    # thing still stands on the support under it — not on the floor 1.2 m below where it was
    # seen; a non-small one does not, and nothing under it means no support.
    high = place(2, "vase", asset_box(0.15, 0.3, 0.15), 0.2, 1.2, 0.1, 0.0, "v")
    assert [(r.subject, r.object) for r in build_scene_graph([table, high]) if r.type == "on"] == [(2, 1)]
    high_crate = place(3, "floor_object", asset_box(0.15, 0.3, 0.15), -0.3, 1.2, 0.1, 0.0, "c")
    assert not [r for r in build_scene_graph([table, high_crate]) if r.type == "on"]
    aside = place(2, "vase", asset_box(0.15, 0.3, 0.15), 2.0, 1.2, 0.1, 0.0, "v")
    assert not [r for r in build_scene_graph([table, aside]) if r.type == "on"]


def test_a_small_thing_overhanging_its_support_still_stands_on_it():
    # A newspaper at the desk's edge, a third of it over the top (the retrieved asset larger
    # than the real one): it rests on the table rather than dropping 0.75 m to the floor.
    table = place(1, "dining_table", table_mesh(), 0.0, 0, 0.0, 0.0, "t")       # x in [-0.6, 0.6]
    paper = place(2, "book", asset_box(0.4, 0.02, 0.3), 0.67, 0.76, 0.0, 0.0, "p")
    assert [(r.subject, r.object) for r in build_scene_graph([table, paper]) if r.type == "on"] == [(2, 1)]
    crate = place(2, "floor_object", asset_box(0.4, 0.02, 0.3), 0.67, 0.76, 0.0, 0.0, "c")
    assert not [r for r in build_scene_graph([table, crate]) if r.type == "on"]
