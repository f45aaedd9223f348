"""``scenewright generate`` end to end in a subprocess: real files every other command reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import trimesh


def run(*args):
    return subprocess.run([sys.executable, "-m", "scenewright", *map(str, args)], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)


def test_generate_writes_a_scene_folder_other_commands_read(text_library, models_dir, tmp_path):
    from scenewright.scene import read_scene
    out = tmp_path / "room"
    r = run("generate", "a bedroom with a bed and a nightstand next to the bed", "-o", out,
            "--library", text_library, "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"scene.glb", "scene.json", "preview.png"}
    scene = read_scene(out)
    data = json.loads((out / "scene.json").read_text())
    assert data["request"]["room_type"] == "bedroom" and data["method"]["settings"]["seed"] == 3
    assert data["text"]["relations_satisfied"] == data["text"]["relations_requested"] > 0
    nodes = set(trimesh.load(out / "scene.glb").graph.nodes)
    assert {i.node for i in scene.instances} <= nodes and "floor" in nodes
    oct_mode = (out / "scene.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert oct_mode == 0o666 & ~umask
    png = tmp_path / "again.png"
    assert run("render", out, "-o", png).returncode == 0 and png.stat().st_size > 0
    glb = tmp_path / "x.glb"
    r = run("export", out, "-o", glb)
    assert r.returncode == 0, r.stderr


def test_variants_and_contact_sheet(text_library, models_dir, tmp_path):
    from PIL import Image
    out = tmp_path / "v"
    r = run("generate", "a sofa and a coffee table in front of the sofa", "-o", out, "--library", text_library,
            "--variants", "2", "--room", "4x3.5")
    assert r.returncode == 0, r.stderr
    assert (out / "variant_00" / "scene.glb").is_file() and (out / "variant_01" / "scene.json").is_file()
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size == (1024, 512)
    summary = json.loads((out / "variants.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["request"]["room_size"] == [4.0, 3.5]


def test_impossible_prompt_is_one_error_line_and_writes_nothing(text_library, models_dir, tmp_path):
    out = tmp_path / "none"
    r = run("generate", "a dragon and a spaceship", "-o", out, "--library", text_library)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: prompt: names nothing")
    assert "Traceback" not in r.stderr and not out.exists()


def test_existing_output_is_kept_without_overwrite(text_library, models_dir, tmp_path):
    out = tmp_path / "kept"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    r = run("generate", "a bed", "-o", out, "--library", text_library)
    assert r.returncode == 2 and (out / "mine.txt").read_text() == "keep"
