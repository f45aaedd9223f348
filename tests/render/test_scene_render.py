"""render_scene on scene folders written and read back, and the ``scenewright render`` CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.capture import Capture, intrinsics_from_hfov, load_capture, write_capture
from scenewright.cli import main
from scenewright.errors import InputError
from scenewright.render import (PreviewSettings, Renderer, RenderSettings, project_points,
                                render_scene, scene_render_items)
from scenewright.scene import Camera, Instance, Scene, read_scene, write_scene

from .helpers import look_at

W, H = 160, 120


def textured_box(colour) -> trimesh.Trimesh:
    """A box whose texture is one known colour (survives the GLB round trip as PBR)."""
    box = trimesh.creation.box((0.6, 0.6, 0.6))
    uv = np.random.default_rng(0).uniform(0.2, 0.8, (len(box.vertices), 2))
    img = Image.fromarray(np.full((8, 8, 3), colour, np.uint8))
    box.visual = trimesh.visual.TextureVisuals(
        uv=uv, material=trimesh.visual.material.SimpleMaterial(image=img, diffuse=[255, 255, 255, 255]))
    return box


def make_scene(with_pose: bool = True) -> Scene:
    K = intrinsics_from_hfov(W, H, 60)
    world_from_camera = look_at([0.3, 1.4, 3.2], [0.0, 0.4, 0.0]) if with_pose else None
    red = textured_box((220, 40, 40))
    green = trimesh.creation.icosphere(subdivisions=2, radius=0.35)
    green.visual.vertex_colors = [40, 200, 60, 255]
    instances = []
    for i, (mesh, x) in enumerate([(red, -0.55), (green, 0.55)], start=1):
        T = np.eye(4)
        T[:3, 3] = [x, 0.35, 0.0]
        instances.append(Instance(id=i, mesh=mesh, world_from_object=T, label=f"obj{i}"))
    floor = trimesh.creation.box((4.0, 0.01, 4.0))
    floor.apply_translation([0, -0.005, 0])
    return Scene(camera=Camera(K=K, width=W, height=H, world_from_camera=world_from_camera),
                 instances=instances, room={"floor": floor})


@pytest.fixture
def scene_dir(tmp_path):
    return write_scene(make_scene(), tmp_path / "scene")


@pytest.fixture
def capture_dir(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    cap = Capture(rgb=rgb, K=intrinsics_from_hfov(W, H, 60))
    return write_capture(cap, tmp_path / "capture")


def colour_at(img, scene, inst_id):
    """Pixel colour where the instance's centre projects."""
    inst = scene.instance(inst_id)
    cam = scene.camera
    u, v = project_points(cam.K, np.linalg.inv(cam.world_from_camera), inst.world_from_object[None, :3, 3])[0]
    return img[int(v), int(u)].astype(int)


def test_render_scene_round_trip_shows_materials(scene_dir):
    scene = read_scene(scene_dir)
    # a one-colour texture is a flat colour: scene.glb stores it as the material's colour factor
    assert np.all(scene.instance(1).mesh.visual.vertex_colors[:, :3] == (220, 40, 40))
    img = render_scene(scene)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    red, green = colour_at(img, scene, 1), colour_at(img, scene, 2)
    assert red[0] > 2 * red[1] and red[0] > 2 * red[2], red
    assert green[1] > 2 * green[0] and green[1] > 2 * green[2], green
    # the floor is drawn without a capture (grey, not black)
    assert img[H - 3, W // 2].min() > 40


def test_render_scene_matches_the_renderer_and_blends_over_capture(scene_dir, capture_dir):
    scene = read_scene(scene_dir)
    capture = load_capture(capture_dir, require_seg=False)
    settings = PreviewSettings(alpha=0.75, outline=False, supersample=1)
    img = render_scene(scene, over=capture, settings=settings)
    r = Renderer(W, H)
    try:
        res = r.render(scene_render_items(scene), scene.camera.K, scene.camera.world_from_camera)
    finally:
        r.release()
    drawn = res.instance_ids > 0
    assert drawn.sum() > 500 and (~drawn).sum() > 500
    assert np.array_equal(img[~drawn], capture.rgb[~drawn])   # the room is left out over a photo
    expected = np.round(0.75 * res.rgb[drawn] + 0.25 * capture.rgb[drawn].astype(float))
    assert np.abs(img[drawn].astype(int) - expected).max() <= 1


def test_render_scene_resizes_and_outlines(scene_dir):
    scene = read_scene(scene_dir)
    big = render_scene(scene, size=(2 * W, 2 * H), settings=PreviewSettings(outline=True,
                                                                           outline_color=(255, 0, 255)))
    assert big.shape == (2 * H, 2 * W, 3)
    # the object stays where the scaled camera projects it
    inst = scene.instance(2)
    u, v = project_points(scene.camera.K, np.linalg.inv(scene.camera.world_from_camera),
                          inst.world_from_object[None, :3, 3])[0]
    c = big[int(2 * v), int(2 * u)].astype(int)
    assert c[1] > 2 * c[0]
    magenta = np.all(big == [255, 0, 255], axis=-1)
    assert 50 < magenta.sum() < 0.2 * magenta.size


def test_scene_without_camera_pose_gets_a_camera_and_a_note(tmp_path):
    scene = make_scene(with_pose=False)
    scene.room = {}
    write_scene(scene, tmp_path / "midi_like")
    scene = read_scene(tmp_path / "midi_like")
    notes: list[str] = []
    img = render_scene(scene, notes=notes, settings=PreviewSettings(background=(0, 0, 255)))
    assert any("world_from_camera is null" in n for n in notes)
    fg = np.any(img != [0, 0, 255], axis=-1)
    assert 0.05 < fg.mean() < 0.9
    # everything fits the frame: nothing touches the border
    assert not (fg[0].any() or fg[-1].any() or fg[:, 0].any() or fg[:, -1].any())


def test_cli_writes_png(scene_dir, capture_dir, tmp_path, capsys):
    out = tmp_path / "out" / "preview.png"
    assert main(["render", str(scene_dir), "-o", str(out)]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (H, W, 3) and img.std() > 10
    meta = json.loads(Image.open(out).text["scenewright"])      # settings recorded in the PNG
    assert meta["settings"]["alpha"] == 0.8 and meta["size"] == [W, H] and meta["time_s"] > 0
    out2 = tmp_path / "over.png"
    assert main(["render", str(scene_dir), "-o", str(out2), "--over", str(capture_dir),
                 "--size", "200", "150"]) == 0
    assert np.asarray(Image.open(out2)).shape == (150, 200, 3)
    assert "wrote" in capsys.readouterr().out


def test_cli_bad_inputs(scene_dir, tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["render", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert "missing" in capsys.readouterr().err and not out.exists()

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("scene.json",):
        (corrupt / name).write_bytes((scene_dir / name).read_bytes())
    (corrupt / "scene.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    assert main(["render", str(corrupt), "-o", str(out)]) == 2
    assert "scene.glb" in capsys.readouterr().err and not out.exists()

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["render", str(scene_dir), "-o", str(blocker / "p.png")]) == 2
    assert "a_file" in capsys.readouterr().err

    if os.geteuid() != 0:              # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        assert main(["render", str(scene_dir), "-o", str(ro / "p.png")]) == 2
        assert "not writable" in capsys.readouterr().err
        ro.chmod(0o700)

    existing = tmp_path / "keep.png"
    existing.write_bytes(b"precious")
    assert main(["render", str(scene_dir), "-o", str(existing)]) == 2
    assert existing.read_bytes() == b"precious"
    assert main(["render", str(scene_dir), "-o", str(existing), "--overwrite"]) == 0
    assert existing.read_bytes() != b"precious"

    assert main(["render", str(scene_dir), "-o", str(tmp_path / "p.txt")]) == 2
    assert main(["render", str(scene_dir), "-o", str(out), "--size", "0", "10"]) == 2
    assert main(["render", str(scene_dir), "-o", str(out), "--over", str(tmp_path / "nocap")]) == 2
    assert "nocap" in capsys.readouterr().err


def test_render_scene_bad_size(scene_dir):
    with pytest.raises(InputError):
        render_scene(read_scene(scene_dir), size=(0, 5))


def test_settings_are_json(tmp_path):
    import json
    data = PreviewSettings(render=RenderSettings()).to_json()
    assert json.loads(json.dumps(data))["render"]["ambient"] == RenderSettings().ambient


def test_supersampling_antialiases_edges_only(scene_dir, capture_dir):
    scene = read_scene(scene_dir)
    capture = load_capture(capture_dir, require_seg=False)
    sharp = render_scene(scene, over=capture, settings=PreviewSettings(outline=False, supersample=1))
    smooth = render_scene(scene, over=capture, settings=PreviewSettings(outline=False, supersample=3))
    r = Renderer(3 * W, 3 * H)
    try:
        cam = scene.camera
        K3 = np.diag([3.0, 3.0, 1.0]) @ cam.K
        cover = r.render(scene_render_items(scene), K3, cam.world_from_camera).instance_ids > 0
    finally:
        r.release()
    coverage = cover.reshape(H, 3, W, 3).mean(axis=(1, 3))
    inside, outside = coverage == 1, coverage == 0
    partial = ~inside & ~outside
    assert partial.sum() > 50
    # outside: the photo untouched; partly covered pixels lie between photo and object colours
    assert np.array_equal(smooth[outside], capture.rgb[outside])
    mid = smooth[partial].astype(int)
    assert np.mean(np.all(mid == capture.rgb[partial], axis=-1)) < 0.1
    # inside, the supersampled image is close to the sharp one (same shading, averaged)
    assert np.median(np.abs(smooth[inside].astype(int) - sharp[inside].astype(int))) <= 3


def test_vertex_normals_survive_the_scene_folder(tmp_path):
    from scenewright.render.meshprep import prepare_mesh
    s = trimesh.creation.icosphere(subdivisions=2, radius=0.4)
    smooth = trimesh.Trimesh(s.vertices, s.faces, vertex_normals=s.vertices / 0.4, process=False)
    T = np.eye(4)
    T[:3, 3] = [0, 0.4, 0]
    write_scene(Scene(instances=[Instance(1, smooth, T)]), tmp_path / "s")
    mesh = read_scene(tmp_path / "s").instance(1).mesh
    prepared = prepare_mesh(mesh)
    assert prepared.smooth
    assert np.allclose(np.linalg.norm(prepared.vertices["normal"], axis=1), 1, atol=1e-5)


def test_scene_without_any_camera_borrows_the_capture_intrinsics(capture_dir):
    scene = make_scene()
    scene.camera = None
    capture = load_capture(capture_dir, require_seg=False)
    notes: list[str] = []
    img = render_scene(scene, over=capture, notes=notes)
    assert img.shape == capture.rgb.shape
    assert any("capture's intrinsics" in n for n in notes)
    assert any("not aligned" in n for n in notes)
    assert not np.array_equal(img, capture.rgb)      # the objects are drawn over it
