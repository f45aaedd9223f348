"""Builder behaviour on real catalogs cut down to a few items: broken assets, bad inputs,
folder imports and the command line."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from scenewright.cli import main
from scenewright.errors import InputError
from scenewright.library import Library, build_library
from scenewright.library.build import BuildSettings
from scenewright.library.sources import DEFAULT_CATALOG_DIR

SOURCE = DEFAULT_CATALOG_DIR / "BlendSwap-CC-0.sh3f"
ITEMS = ("littlePlant", "oakTable", "desklamp")


def copy_catalog(target: Path, items=ITEMS, replace: dict | None = None, drop=()) -> Path:
    """A real catalog reduced to ``items``; ``replace`` {member: bytes}, ``drop`` members."""
    replace = replace or {}
    with zipfile.ZipFile(SOURCE) as src:
        props = src.read("PluginFurnitureCatalog.properties").decode("latin-1")
        keep_n = {m.group(1) for m in re.finditer(r"^id#(\d+)=.*#(\S+)$", props, re.M) if m.group(2) in items}
        lines = [ln for ln in props.splitlines()
                 if not (m := re.match(r"^\w+#(\d+)=", ln)) or m.group(1) in keep_n]
        folders = tuple(f"blendswap-cc-0/{i}/" for i in items)
        with zipfile.ZipFile(target, "w") as dst:
            dst.writestr("PluginFurnitureCatalog.properties", "\n".join(lines).encode("latin-1"))
            dst.writestr("LICENSE.TXT", src.read("LICENSE.TXT"))
            for name in src.namelist():
                if name.startswith(folders) and not name.endswith("/") and name not in drop:
                    dst.writestr(name, replace.get(name, src.read(name)))
    return target


def test_corrupt_asset_is_skipped_and_reported(tmp_path):
    catalog = copy_catalog(tmp_path / "Broken-Copy.sh3f",
                           replace={"blendswap-cc-0/littlePlant/littlePlant.obj": b"\x00\xffnot an obj\n"})
    report = build_library(tmp_path / "lib", [catalog], workers=1, progress=False,
                           settings=BuildSettings(views=False))
    assert [s["asset_id"] for s in report.skipped] == ["Broken-Copy/littlePlant"]
    assert "littlePlant.obj" in report.skipped[0]["reason"]
    lib = Library.open(tmp_path / "lib")
    assert sorted(lib.ids) == ["Broken-Copy/desklamp", "Broken-Copy/oakTable"]
    assert report.per_catalog["Broken-Copy"]["skipped"] == 1


def test_missing_texture_policy(tmp_path):
    catalog = copy_catalog(tmp_path / "NoTex.sh3f", items=("oakTable",), drop=("blendswap-cc-0/oakTable/oak.jpg",))
    report = build_library(tmp_path / "skip", [catalog], workers=1, progress=False,
                           settings=BuildSettings(views=False, missing_textures="skip"))
    assert report.n_assets == 0 and "oak.jpg" in report.skipped[0]["reason"]
    report = build_library(tmp_path / "keep", [catalog], workers=1, progress=False,
                           settings=BuildSettings(views=False))
    assert report.n_assets == 1 and "oak.jpg" in report.warnings[0]["warning"]


def test_truncated_catalog_is_an_input_error(tmp_path, capsys):
    good = copy_catalog(tmp_path / "Good.sh3f")
    data = good.read_bytes()
    bad = tmp_path / "Truncated.sh3f"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="Truncated.sh3f"):
        build_library(tmp_path / "lib", [bad], progress=False)
    assert main(["library", "build", "-o", str(tmp_path / "lib2"), "--sh3f", str(bad)]) == 2
    assert "Truncated.sh3f" in capsys.readouterr().err
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    with pytest.raises(InputError, match="notes.txt"):
        build_library(tmp_path / "lib", [unknown], progress=False)
    assert not (tmp_path / "lib").exists()


def test_unwritable_or_foreign_output_is_an_input_error(tmp_path):
    catalog = copy_catalog(tmp_path / "Good.sh3f", items=("desklamp",))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="a_file"):
        build_library(blocker / "lib", [catalog], progress=False)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(InputError, match="not a library"):
        build_library(foreign, [catalog], progress=False)
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]


def test_folder_import_with_assets_csv(tmp_path, capsys):
    src = tmp_path / "myassets"
    src.mkdir()
    box = trimesh.creation.box(extents=[2.0, 1.0, 3.0])
    box.visual.face_colors = [200, 30, 30, 255]
    box.export(src / "crate1.glb")
    cyl = trimesh.creation.cylinder(radius=0.5, height=2.0)
    cyl.apply_translation([5.0, 7.0, -1.0])          # off-centre on purpose
    # a textured OBJ (trimesh writes the MTL and PNG beside it): half green, half yellow
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, :32] = [20, 200, 40]
    stripes[:, 32:] = [240, 240, 30]
    angle = np.arctan2(cyl.vertices[:, 1] - 7.0, cyl.vertices[:, 0] - 5.0)
    uv = np.stack([angle / (2 * np.pi) + 0.5, np.full(len(cyl.vertices), 0.5)], axis=1)
    cyl.visual = trimesh.visual.TextureVisuals(
        uv=uv, material=trimesh.visual.material.SimpleMaterial(image=Image.fromarray(stripes)))
    cyl.export(src / "stool1.obj")
    (src / "LICENSE.TXT").write_text("CC-BY 4.0, made by the tests")
    (src / "assets.csv").write_text("id,name,category,width,depth,height,creator,license\n"
                                    "crate1,Wooden crate,,0.5,0.4,0.3,Test Maker,CC-BY 4.0\n"
                                    "stool1,Round stool,stool,0.4,0.4,,,\n")
    out = tmp_path / "lib"
    assert main(["library", "build", "-o", str(out), "--folder", str(src), "--workers", "1",
                 "--quiet", "--no-views"]) == 0
    lib = Library.open(out)
    assert lib.ids == ["myassets/crate1", "myassets/stool1"]
    crate, stool = lib.record("myassets/crate1"), lib.record("myassets/stool1")
    assert crate.category == "floor_object" and stool.category == "stool"
    np.testing.assert_allclose(lib.mesh("myassets/crate1").extents, [0.5, 0.3, 0.4], atol=1e-6)
    # an empty height keeps the model's own extent (the cylinder's axis is z in trimesh)
    np.testing.assert_allclose(lib.mesh("myassets/stool1").extents, [0.4, 1.0, 0.4], atol=1e-6)
    for aid in lib.ids:
        lo, hi = lib.mesh(aid).bounds
        assert abs(lo[1]) < 1e-6 and abs(lo[0] + hi[0]) < 1e-6 and abs(lo[2] + hi[2]) < 1e-6
    assert lib.attribution("myassets/crate1")["creator"] == "Test Maker"
    # the OBJ's texture came through: the library mesh samples both stripe colours
    stool = lib.mesh("myassets/stool1")
    colours = trimesh.visual.color.uv_to_color(stool.visual.uv, stool.visual.material.baseColorTexture)
    assert (np.abs(colours[:, :3].astype(int) - [20, 200, 40]).sum(1) < 30).any()
    assert (np.abs(colours[:, :3].astype(int) - [240, 240, 30]).sum(1) < 30).any()
    assert "made by the tests" in lib.license_text("myassets")
    capsys.readouterr()
    assert main(["library", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 assets" in text and "stool" in text and "floor_object" in text and "n_samples=8192" in text
    with pytest.raises(InputError, match="no rendered views"):
        lib.views("myassets/crate1")


def test_bad_folder_csv(tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "assets.csv").write_text("id,name,category,width,depth,height\nx,Thing,,0.1,abc,0.1\n")
    trimesh.creation.box().export(src / "x.glb")
    with pytest.raises(InputError, match=r"assets.csv: line 2: depth"):
        build_library(tmp_path / "lib", [src], progress=False)


def test_open_rejects_non_libraries(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Library.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a scenewright library"):
        Library.open(tmp_path / "empty")


def test_selection_options():
    from scenewright.library.build import select_items
    from scenewright.library.sources import read_sources

    cols = read_sources(None)
    chairs = select_items(cols, categories=["chair"])
    assert len(chairs) > 10 and {it.category for it in chairs} == {"chair"}
    assert [it.asset_id for it in select_items(cols, categories=["chair"], limit=3)] == \
        [it.asset_id for it in chairs[:3]]
    kept = select_items(cols)
    # excluded items never get in: characters, vehicles, doors and windows, staircases
    assert not any(it.source_category in ("Characters", "Vehicles", "Exterior", "Doors and windows",
                                          "Staircases") for it in kept)
    assert len(kept) > 400
    with pytest.raises(InputError, match="unknown asset id"):
        select_items(cols, only=["Nope/nothing"])
    with pytest.raises(InputError, match="unknown categories"):
        select_items(cols, categories=["spaceship"])


def test_packed_materials_look_like_the_original_parts(tmp_path):
    """The one-atlas library mesh renders like the model's own parts and materials
    (drawersCabinet mixes textures, tiled UVs and colour-only drawer fronts)."""
    import tempfile

    from scenewright.library import derive, normalize
    from scenewright.library.sources import fetch_model, read_sources
    from scenewright.render import Renderer, RenderItem

    catalog = copy_catalog(tmp_path / "Look.sh3f", items=("drawersCabinet",))
    build_library(tmp_path / "lib", [catalog], workers=1, progress=False, settings=BuildSettings(views=False))
    lib = Library.open(tmp_path / "lib")
    item = read_sources([catalog])[0].items[0]
    with tempfile.TemporaryDirectory() as d:
        model, _ = fetch_model(item, Path(d))
        parts = normalize.load_parts(model)
    assert len(parts) > 3
    verts = np.vstack([p.vertices for p in parts])
    placed = normalize.frame_transform(np.array([verts.min(0), verts.max(0)]),
                                       np.array([item.width, item.height, item.depth]))
    mesh = lib.mesh(item.asset_id)
    spec = derive.ViewSpec(size=96)
    renderer = Renderer(96, 96)
    for camera_from_object in derive.view_cameras(mesh.extents, spec)[[0, 14]]:
        world_from_camera = np.linalg.inv(camera_from_object)
        a = renderer.render([RenderItem(p, placed, i + 1) for i, p in enumerate(parts)],
                            spec.intrinsics(), world_from_camera)
        b = renderer.render([RenderItem(mesh, np.eye(4), 1)], spec.intrinsics(), world_from_camera)
        both = (a.instance_ids > 0) & (b.instance_ids > 0)
        assert both.sum() > 0.9 * (a.instance_ids > 0).sum()
        assert np.abs(a.rgb[both].astype(float) - b.rgb[both]).mean() < 6.0


def test_a_run_where_everything_fails_keeps_the_previous_index(tmp_path):
    (tmp_path / "good").mkdir()
    good = copy_catalog(tmp_path / "good" / "Cat.sh3f", items=("desklamp",))
    report = build_library(tmp_path / "lib", [good], workers=1, progress=False, settings=BuildSettings(views=False))
    assert report.n_assets == 1
    (tmp_path / "bad").mkdir()
    bad = copy_catalog(tmp_path / "bad" / "Cat.sh3f", items=("desklamp",),
                       replace={"blendswap-cc-0/desklamp/desklamp.obj": b"garbage"})
    report = build_library(tmp_path / "lib", [bad], workers=1, progress=False, settings=BuildSettings(views=False))
    assert report.index_kept and len(report.skipped) == 1
    lib = Library.open(tmp_path / "lib")
    assert lib.ids == ["Cat/desklamp"] and len(lib.mesh("Cat/desklamp").faces) > 0


def test_cc_by_attribution_and_license_file(tmp_path, capsys):
    catalog = DEFAULT_CATALOG_DIR / "BlendSwap-CC-BY.sh3f"
    report = build_library(tmp_path / "lib", [catalog], workers=1, progress=False, categories=["lamp"],
                           limit=1, settings=BuildSettings(views=False))
    assert report.n_assets == 1
    lib = Library.open(tmp_path / "lib")
    att = lib.attribution(lib.ids[0])
    assert att["catalog"] == "BlendSwap-CC-BY" and att["creator"]
    assert "Attribution" in att["license"]
    text = lib.license_text("BlendSwap-CC-BY")
    assert "Creative Commons Attribution" in text and "BlendSwap-CC-BY.sh3f" in text
    capsys.readouterr()
    assert main(["library", "info", str(tmp_path / "lib"), "--json"]) == 0
    import json
    info = json.loads(capsys.readouterr().out)
    assert info["assets"] == 1 and info["per_category"]["lamp"]["assets"] == 1
    assert info["build"]["settings"]["views"] is False


@pytest.mark.parametrize("asset_id", ["Scopia/casque", "Scopia/gant-textured", "BlendSwap-CC-0/headphones"])
def test_model_rotation_convention(asset_id, tmp_path):
    """modelRotation rows act on column vectors: the rotated model's proportions are
    the catalog's (the transpose gives other proportions for these items)."""
    from scenewright.library import normalize
    from scenewright.library.sources import fetch_model, read_sources

    item = next(it for col in read_sources(None) for it in col.items if it.asset_id == asset_id)
    model, _ = fetch_model(item, tmp_path)
    verts = np.vstack([p.vertices for p in normalize.load_parts(model)])
    size = np.array([item.width, item.height, item.depth])
    rot = np.asarray(item.rotation).reshape(3, 3)
    ratio = lambda r: np.ptp(verts @ r.T, axis=0) / np.ptp(verts @ r.T, axis=0).max()   # noqa: E731
    assert np.abs(ratio(rot) - size / size.max()).max() < 0.01
    assert np.abs(ratio(rot.T) - size / size.max()).max() > 0.03
