"""The Renderer against analytic geometry: coverage, depth, ids, materials, caching."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.errors import InputError
from scenewright.render import Renderer, RenderItem, RenderSettings, project_points
from scenewright.render.gl import get_state

from .helpers import cast_quad, look_at, quad

W, H = 144, 108
UNLIT = RenderSettings(ambient=1.0, headlight=0.0, key=0.0)   # rgb = material colour exactly


def pose(R=np.eye(3), t=(0, 0, 0)) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def rotation(axis, degrees) -> np.ndarray:
    return trimesh.transformations.rotation_matrix(np.radians(degrees), axis)[:3, :3]


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(W, H)
    yield r
    r.release()


def test_tilted_quad_coverage_and_depth_match_analytic(renderer, intrinsics):
    # A camera off the axes and a quad tilted in two directions: every term of K and of
    # both poses matters.
    world_from_camera = look_at([0.4, 1.3, -0.2], [0.1, 0.9, 2.6], up=(0.1, 1.0, 0.05))
    world_from_object = pose(rotation([1, 0, 0], 35) @ rotation([0, 1, 0], -25), (0.15, 0.85, 2.5))
    mesh = quad(1.1, 0.7)
    res = renderer.render([RenderItem(mesh, world_from_object, 5)], intrinsics, world_from_camera)
    hit, z, margin = cast_quad(intrinsics, world_from_camera, world_from_object, 1.1, 0.7, W, H)
    assert 1500 < hit.sum() < W * H - 1500          # the quad is large and fully inside
    certain = np.abs(margin) > 1e-3                   # exclude pixel centres on an edge
    drawn = res.instance_ids == 5
    assert np.array_equal(drawn[certain], hit[certain])
    assert np.all(np.isnan(res.depth[~drawn])) and np.all(res.instance_ids[~drawn] == 0)
    err = np.abs(res.depth[hit & certain] - z[hit & certain])
    assert err.max() < 1e-4 * z[hit].max()           # linear metric depth, not the z-buffer


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_quads_match_analytic_with_skew(renderer, seed):
    rng = np.random.default_rng(seed)
    K = np.array([[rng.uniform(120, 200), rng.uniform(-8, 8), rng.uniform(50, 95)],
                  [0.0, rng.uniform(120, 200), rng.uniform(40, 70)], [0, 0, 1]])
    eye = rng.uniform(-0.5, 0.5, 3)
    target = eye + np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 3.0])
    world_from_camera = look_at(eye, target, up=(rng.uniform(-0.2, 0.2), 1.0, 0.0))
    R = rotation([1, 0, 0], rng.uniform(-50, 50)) @ rotation([0, 1, 0], rng.uniform(-50, 50))
    world_from_object = pose(R, target + rng.uniform(-0.2, 0.2, 3))
    size = rng.uniform(0.6, 1.2, 2)
    res = renderer.render([RenderItem(quad(*size), world_from_object, 2)], K, world_from_camera)
    hit, z, margin = cast_quad(K, world_from_camera, world_from_object, *size, W, H)
    certain = np.abs(margin) > 1e-3
    assert hit.sum() > 300
    assert np.array_equal((res.instance_ids == 2)[certain], hit[certain])
    assert np.abs(res.depth[hit & certain] - z[hit & certain]).max() < 1e-4 * z[hit].max()


def test_projected_vertex_lands_on_its_pixel(renderer, intrinsics):
    # A tiny square around a world point: the pixel its projection falls in is drawn.
    world_from_camera = look_at([0, 0, 0], [0, 0, 1], up=(0, -1, 0))    # = identity pose
    assert np.allclose(world_from_camera, np.eye(4))
    rng = np.random.default_rng(0)
    for _ in range(5):
        point = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4), rng.uniform(2, 4)])
        u, v = project_points(intrinsics, np.eye(4), point[None])[0]
        # keep the pixel centre well inside a square of ±0.25 px around the projection
        u, v = np.floor(u) + 0.5, np.floor(v) + 0.5
        centre = np.linalg.inv(intrinsics) @ [u, v, 1.0] * point[2]
        size = 0.5 * point[2] / intrinsics[0, 0]          # half a pixel wide
        res = renderer.render([RenderItem(quad(size, size), pose(t=centre), 3)], intrinsics, np.eye(4))
        rows, cols = np.nonzero(res.instance_ids == 3)
        assert list(zip(rows, cols)) == [(int(v), int(u))]
        assert res.depth[int(v), int(u)] == pytest.approx(point[2], rel=1e-6)


def test_nearer_object_wins_ids_and_depth(renderer, intrinsics):
    far_box = trimesh.creation.box((1.0, 1.0, 0.2))
    near_box = trimesh.creation.box((0.4, 0.4, 0.2))
    items = [RenderItem(far_box, pose(t=(0, 0, 3.0)), 1),      # front face at z = 2.9
             RenderItem(near_box, pose(t=(0.1, 0, 2.0)), 2)]   # front face at z = 1.9
    for order in (items, items[::-1]):                          # draw order must not matter
        res = renderer.render(order, intrinsics, np.eye(4))
        assert (res.instance_ids == 2).sum() > 100 and (res.instance_ids == 1).sum() > 100
        assert np.allclose(res.depth[res.instance_ids == 2], 1.9, atol=1e-5)
        assert np.allclose(res.depth[res.instance_ids == 1], 2.9, atol=1e-5)
        # the near box is drawn exactly where its front face projects
        uv = project_points(intrinsics, np.eye(4), np.array([[-0.1, -0.2, 1.9], [0.3, 0.2, 1.9]]))
        rows, cols = np.nonzero(res.instance_ids == 2)
        assert cols.min() == int(np.ceil(uv[0, 0] - 0.5)) and cols.max() == int(np.floor(uv[1, 0] - 0.5))
        assert rows.min() == int(np.ceil(uv[0, 1] - 0.5)) and rows.max() == int(np.floor(uv[1, 1] - 0.5))


def test_large_instance_ids_survive(renderer, intrinsics):
    ids = [1, 255, 256, 65537, 2**31 - 1]
    items = [RenderItem(quad(0.3, 0.3), pose(t=(x, 0, 3)), i) for x, i in zip(np.linspace(-1, 1, 5), ids)]
    res = renderer.render(items, intrinsics, np.eye(4))
    assert set(np.unique(res.instance_ids)) == {0, *ids}


def test_texture_colours_and_orientation(renderer, intrinsics, tmp_path):
    # 8x8 texture, four 4x4 quadrants of known colours; image row 0 is the top.
    colours = {"tl": (230, 20, 20), "tr": (20, 200, 40), "bl": (30, 40, 220), "br": (240, 220, 30)}
    tex = np.zeros((8, 8, 3), np.uint8)
    tex[:4, :4], tex[:4, 4:], tex[4:, :4], tex[4:, 4:] = (colours[k] for k in ("tl", "tr", "bl", "br"))
    path = tmp_path / "tex.png"
    Image.fromarray(tex).save(path)
    mesh = quad(1.0, 1.0)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)      # v = 1 at the top (+y)
    mesh.visual = trimesh.visual.TextureVisuals(
        uv=uv, material=trimesh.visual.material.PBRMaterial(baseColorTexture=Image.open(path)))
    # Camera looking at the quad's front, world +y up on screen.
    world_from_camera = look_at([0, 0, 2.5], [0, 0, 0])
    r = Renderer(W, H, UNLIT)
    try:
        res = r.render([RenderItem(mesh, np.eye(4), 1)], intrinsics, world_from_camera)
    finally:
        r.release()
    cam_from_world = np.linalg.inv(world_from_camera)
    for key, (x, y) in {"tl": (-0.25, 0.25), "tr": (0.25, 0.25), "bl": (-0.25, -0.25),
                        "br": (0.25, -0.25)}.items():
        u, v = project_points(intrinsics, cam_from_world, np.array([[x, y, 0.0]]))[0]
        assert np.abs(res.rgb[int(v), int(u)].astype(int) - colours[key]).max() <= 2, key


def test_pbr_base_colour_factor_multiplies(renderer, intrinsics):
    mesh = quad(1.0, 1.0)
    mesh.visual = trimesh.visual.TextureVisuals(
        material=trimesh.visual.material.PBRMaterial(baseColorFactor=[200, 100, 50, 255]))
    r = Renderer(W, H, UNLIT)
    try:
        res = r.render([RenderItem(mesh, pose(t=(0, 0, 2)), 1)], intrinsics, np.eye(4))
    finally:
        r.release()
    assert np.abs(res.rgb[res.instance_ids == 1].astype(int) - [200, 100, 50]).max() <= 1


def test_vertex_and_face_colours(intrinsics):
    mesh = quad(1.0, 1.0)
    mesh.visual.vertex_colors = np.array([[255, 0, 0, 255], [0, 255, 0, 255],
                                          [0, 0, 255, 255], [255, 255, 255, 255]], np.uint8)
    box = trimesh.creation.box((0.6, 0.6, 0.6))
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200],
                        [200, 200, 30], [30, 200, 200], [200, 30, 200]])
    # one colour per side of the box (+x, +y, +z, -x, -y, -z), both triangles alike
    normals = box.face_normals
    axis = np.argmax(np.abs(normals), axis=1)
    side = axis + 3 * (normals[np.arange(12), axis] < 0)
    face_rgb = palette[side]
    box.visual.face_colors = np.hstack([face_rgb, np.full((12, 1), 255)]).astype(np.uint8)
    r = Renderer(W, H, UNLIT)
    try:
        res = r.render([RenderItem(mesh, pose(t=(-0.5, 0, 2.5)), 1)], intrinsics, np.eye(4))
        # near the quad's corners the interpolated colour tends to that corner's colour
        corners = project_points(intrinsics, np.eye(4), np.array(
            [[-0.95, -0.45, 2.5], [-0.05, -0.45, 2.5], [-0.05, 0.45, 2.5], [-0.95, 0.45, 2.5]]))
        for (u, v), expected in zip(corners, mesh.visual.vertex_colors[:, :3]):
            got = res.rgb[int(v), int(u)].astype(int)
            assert np.abs(got - expected).max() < 40, (got, expected)
        # a box seen from a corner shows three faces, each in exactly its face colour
        world_from_camera = look_at([1.5, 1.2, 1.8], [0, 0, 0])
        res = r.render([RenderItem(box, np.eye(4), 9)], intrinsics, world_from_camera)
        seen = {tuple(c) for c in res.rgb[res.instance_ids == 9]}
        assert seen == {tuple(c) for c in palette[:3]}      # the +x, +y and +z sides
    finally:
        r.release()


def test_material_less_mesh_is_neutral_grey_and_shaded(renderer, intrinsics):
    box = trimesh.creation.box((0.6, 0.6, 0.6))
    res = renderer.render([RenderItem(box, np.eye(4), 1)], intrinsics, look_at([1.5, 1.2, 1.8], [0, 0, 0]))
    pix = res.rgb[res.instance_ids == 1].astype(int)
    assert np.all(pix.max(axis=1) - pix.min(axis=1) <= 1)            # grey
    # flat shading: three faces, three clearly different grey levels
    levels = np.unique(pix[:, 0])
    assert len(levels) == 3 and levels.max() - levels.min() > 20
    # another renderer's default colour applies to the same (cached) mesh
    with Renderer(W, H, RenderSettings(default_color=(1.0, 0.0, 0.0, 1.0))) as r:
        red = r.render([RenderItem(box, np.eye(4), 1)], intrinsics, look_at([1.5, 1.2, 1.8], [0, 0, 0]))
    assert np.all(red.rgb[red.instance_ids == 1][:, 1:] == 0)


def test_smooth_normals_when_the_mesh_has_them(renderer, intrinsics):
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    flat = trimesh.Trimesh(sphere.vertices, sphere.faces, process=False)
    smooth = trimesh.Trimesh(sphere.vertices, sphere.faces, vertex_normals=sphere.vertices / 0.5,
                             process=False)
    T = pose(t=(0, 0, 2.5))
    a = renderer.render([RenderItem(flat, T, 1)], intrinsics, np.eye(4)).rgb[..., 0].astype(int)
    b = renderer.render([RenderItem(smooth, T, 1)], intrinsics, np.eye(4)).rgb[..., 0].astype(int)
    # smooth shading varies gradually: neighbouring pixels differ much less than across facets
    inner = np.zeros_like(a, bool)
    inner[20:-20, 40:-40] = True
    jump_a = np.abs(np.diff(a, axis=1))[inner[:, 1:]].max()
    jump_b = np.abs(np.diff(b, axis=1))[inner[:, 1:]].max()
    assert jump_b < jump_a


def test_background_is_composited_where_nothing_is_drawn(renderer, intrinsics):
    rng = np.random.default_rng(1)
    background = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    res = renderer.render([RenderItem(trimesh.creation.box((0.5, 0.5, 0.5)), pose(t=(0, 0, 3)), 4)],
                          intrinsics, np.eye(4), background=background)
    empty = res.instance_ids == 0
    assert 0 < empty.sum() < W * H
    assert np.array_equal(res.rgb[empty], background[empty])
    assert not np.array_equal(res.rgb[~empty], background[~empty])
    # nothing to draw: the background itself
    res = renderer.render([], intrinsics, np.eye(4), background=background)
    assert np.array_equal(res.rgb, background) and np.all(np.isnan(res.depth))


def test_near_and_far_clip(renderer, intrinsics):
    items = [RenderItem(quad(0.1, 0.1), pose(t=(-0.1, 0, 0.5)), 1),
             RenderItem(quad(0.4, 0.4), pose(t=(0.5, 0, 5.0)), 2)]
    res = renderer.render(items, intrinsics, np.eye(4), near=1.0, far=10.0)
    assert set(np.unique(res.instance_ids)) == {0, 2}
    res = renderer.render(items, intrinsics, np.eye(4), near=0.1, far=4.0)
    assert set(np.unique(res.instance_ids)) == {0, 1}


def test_mesh_buffers_are_cached_and_refreshed(renderer, intrinsics):
    state = get_state()
    box = trimesh.creation.box((0.5, 0.5, 0.5))
    T = pose(t=(0, 0, 3))
    before = state.uploads
    first = renderer.render([RenderItem(box, T, 1)], intrinsics, np.eye(4))
    for _ in range(3):
        again = renderer.render([RenderItem(box, T, 1)], intrinsics, np.eye(4))
    assert state.uploads == before + 1
    assert np.array_equal(first.instance_ids, again.instance_ids)
    assert id(box) in state.meshes
    # editing the mesh in place invalidates the cached buffers
    box.vertices *= 2.0
    bigger = renderer.render([RenderItem(box, T, 1)], intrinsics, np.eye(4))
    assert state.uploads == before + 2
    assert (bigger.instance_ids == 1).sum() > 2 * (first.instance_ids == 1).sum()
    # so does giving it colours, or editing them in place
    box.visual.face_colors = [0, 255, 0, 255]
    green = renderer.render([RenderItem(box, T, 1)], intrinsics, np.eye(4))
    assert state.uploads == before + 3
    assert np.all(green.rgb[green.instance_ids == 1][:, 0] == 0)
    box.visual.face_colors[:, :3] = [255, 0, 0]
    red = renderer.render([RenderItem(box, T, 1)], intrinsics, np.eye(4))
    assert state.uploads == before + 4
    assert np.all(red.rgb[red.instance_ids == 1][:, 1] == 0)
    # a collected mesh frees its buffers
    key = id(box)
    del box
    gc.collect()
    assert key not in state.meshes


def test_uncached_rendering_gives_the_same_images(intrinsics):
    box = trimesh.creation.box((0.5, 0.5, 0.5))
    items = [RenderItem(box, pose(rotation([1, 1, 0], 30), (0, 0, 3)), 1)]
    a = Renderer(W, H)
    b = Renderer(W, H, RenderSettings(cache_meshes=False))
    try:
        ra, rb = a.render(items, intrinsics, np.eye(4)), b.render(items, intrinsics, np.eye(4))
    finally:
        a.release()
        b.release()
    assert np.array_equal(ra.rgb, rb.rgb) and np.array_equal(ra.instance_ids, rb.instance_ids)


def test_several_textured_meshes_keep_their_own_textures(intrinsics):
    items = []
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
    for i, c in enumerate(colours):
        mesh = quad(0.5, 0.5)
        img = Image.fromarray(np.full((4, 4, 3), c, np.uint8))
        mesh.visual = trimesh.visual.TextureVisuals(
            uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float),
            material=trimesh.visual.material.SimpleMaterial(image=img))
        items.append(RenderItem(mesh, pose(t=(-0.6 + 0.6 * i, 0, 3)), i + 1))
    r = Renderer(W, H, UNLIT)
    try:
        res = r.render(items, intrinsics, np.eye(4))
    finally:
        r.release()
    for i, c in enumerate(colours):
        pix = res.rgb[res.instance_ids == i + 1].astype(int)
        assert len(pix) > 50 and np.abs(pix - c).max() <= 1


def test_bad_inputs(renderer, intrinsics):
    box = trimesh.creation.box()
    with pytest.raises(InputError, match="K"):
        renderer.render([RenderItem(box)], np.eye(4), np.eye(4))
    with pytest.raises(InputError, match="fx, fy > 0"):
        renderer.render([RenderItem(box)], np.diag([-100.0, 100.0, 1.0]), np.eye(4))
    with pytest.raises(InputError, match="world_from_camera"):
        renderer.render([RenderItem(box)], intrinsics, np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="background"):
        renderer.render([RenderItem(box)], intrinsics, np.eye(4), background=np.zeros((H, W), np.uint8))
    with pytest.raises(InputError, match="near"):
        renderer.render([RenderItem(box)], intrinsics, np.eye(4), near=2.0, far=1.0)
    with pytest.raises(InputError, match="size"):
        Renderer(0, 10)
    with pytest.raises(InputError, match="PointCloud"):
        renderer.render([RenderItem(trimesh.PointCloud(np.zeros((3, 3))))], intrinsics, np.eye(4))
    with pytest.raises(InputError, match="int32"):
        renderer.render([RenderItem(box, np.eye(4), 2**31)], intrinsics, np.eye(4))


def _render_in_child(queue):
    try:
        Renderer(8, 8).render([], np.eye(3) * [8, 8, 1], np.eye(4))
        queue.put("rendered")
    except Exception as exc:          # the message travels back to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def test_forked_child_gets_a_clear_error_not_a_hang(renderer, intrinsics):
    import multiprocessing as mp
    renderer.render([], intrinsics, np.eye(4))          # the context exists in this process
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_render_in_child, args=(queue,))
    child.start()
    message = queue.get(timeout=30)
    child.join(timeout=30)
    assert message.startswith("RenderError") and "spawn" in message


def test_renders_from_several_threads(intrinsics):
    from concurrent.futures import ThreadPoolExecutor
    box = trimesh.creation.box((0.5, 0.5, 0.5))
    expected = None

    def job(i):
        with Renderer(W, H) as r:
            return r.render([RenderItem(box, pose(t=(0, 0, 3)), 7)], intrinsics, np.eye(4)).instance_ids

    expected = job(0)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(job, range(8)))
    assert (expected == 7).sum() > 100
    assert all(np.array_equal(r, expected) for r in results)


def test_alpha_mask_material_cuts_out(intrinsics):
    # left half of the texture transparent: with alphaMode MASK only the right half is drawn
    tex = np.zeros((4, 4, 4), np.uint8)
    tex[:, 2:] = (200, 100, 50, 255)
    mesh = quad(1.0, 1.0)
    mesh.visual = trimesh.visual.TextureVisuals(
        uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float),
        material=trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(tex, "RGBA"),
                                                     alphaMode="MASK", alphaCutoff=0.5))
    opaque = mesh.copy()
    opaque.visual.material.alphaMode = "OPAQUE"
    with Renderer(W, H) as r:
        cut = r.render([RenderItem(mesh, pose(t=(0, 0, 2)), 1)], intrinsics, np.eye(4)).instance_ids == 1
        full = r.render([RenderItem(opaque, pose(t=(0, 0, 2)), 1)], intrinsics, np.eye(4)).instance_ids == 1
    u_mid = project_points(intrinsics, np.eye(4), np.array([[0.0, 0, 2]]))[0, 0]
    cols = np.nonzero(cut.any(axis=0))[0]
    assert full.sum() > 1.8 * cut.sum() > 0
    assert abs(cols.min() - u_mid) <= 2          # the cut runs down the middle (texel edge)


def test_smooth_normals_transform_with_non_uniform_scale(intrinsics):
    # A tilted plane carrying its true normal as vertex normals: under a non-uniform scale the
    # smooth shading (normal matrix) must equal the flat shading (screen-space derivatives).
    n = np.array([0.0, 1.0, 1.0]) / np.sqrt(2)
    a = np.array([1.0, 0.0, 0.0])
    b = np.cross(n, a)
    corners = np.array([-a - b, a - b, a + b, -a + b]) * 0.3
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    flat = trimesh.Trimesh(corners, faces, process=False)
    smooth = trimesh.Trimesh(corners, faces, vertex_normals=np.tile(n, (4, 1)), process=False)
    T = pose(rotation([0, 1, 0], 30), (0, 0, 2.5)) @ np.diag([1.0, 3.0, 0.5, 1.0])
    with Renderer(W, H) as r:
        fa = r.render([RenderItem(flat, T, 1)], intrinsics, np.eye(4))
        sm = r.render([RenderItem(smooth, T, 1)], intrinsics, np.eye(4))
    m = fa.instance_ids == 1
    assert m.sum() > 200 and np.array_equal(m, sm.instance_ids == 1)
    assert np.abs(fa.rgb[m].astype(int) - sm.rgb[m].astype(int)).max() <= 2
    # with the plain (non inverse-transpose) matrix the shade would differ clearly
    wrong = T[:3, :3] @ n
    right = np.linalg.inv(T[:3, :3]).T @ n
    assert abs(wrong[2] / np.linalg.norm(wrong) - right[2] / np.linalg.norm(right)) > 0.1


def test_dropped_renderer_frees_its_framebuffer(intrinsics):
    state = get_state()
    r = Renderer(W, H)
    r.render([], intrinsics, np.eye(4))
    del r
    gc.collect()
    assert len(state._garbage) >= 4                      # fbo + 4 render targets queued
    with Renderer(8, 8) as other:
        other.render([], np.diag([8.0, 8.0, 1.0]), np.eye(4))
    assert state._garbage == []                          # released by the next frame


def test_cameras_in_turn_give_the_images_of_fresh_renderers(intrinsics):
    # The renderer keeps the last camera's inverse: another camera and back must each give
    # exactly what a renderer seeing that camera first gives.
    box = trimesh.creation.box(extents=(0.6, 0.4, 0.5))
    item = RenderItem(box, pose(rotation([0, 1, 0], 25), (0.1, 0.0, 2.5)))
    cams = [pose(), pose(rotation([1, 0, 0], 8), (0.05, -0.1, 0.0))]
    kept = Renderer(W, H)
    try:
        seen = [kept.render([item], intrinsics, cams[k]) for k in (0, 1, 0)]
        for k, res in zip((0, 1, 0), seen):
            fresh = Renderer(W, H)
            try:
                ref = fresh.render([item], intrinsics, cams[k])
            finally:
                fresh.release()
            assert np.array_equal(res.rgb, ref.rgb) and np.array_equal(res.instance_ids, ref.instance_ids)
            assert np.array_equal(res.depth, ref.depth, equal_nan=True)
        assert not np.array_equal(seen[0].instance_ids, seen[1].instance_ids)     # the cameras see it differently
    finally:
        kept.release()
