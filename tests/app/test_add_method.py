"""Adding a method is one module plus one registry line: the worked example of
``docs/internals.md`` (its code block, executed as a module) registered and run through
``scenewright reconstruct``, ``scenewright batch`` and the web page (a real gradio server
in this process, driven through ``gradio_client``)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scenewright.app.jobs import AppSettings
from scenewright.batch import BatchSettings, run_batch
from scenewright.capture import load_capture
from scenewright.cli import main as cli_main
from scenewright.methods.registry import method_names, register_method, unregister_method
from scenewright.scene import load_glb_nodes, read_scene

from .conftest import free_port
from .test_client import DEFAULTS, shown_glb

DOC = Path(__file__).resolve().parents[2] / "docs" / "internals.md"


def example_module(folder: Path) -> types.ModuleType:
    """The first python block after "### Adding a method" in docs/internals.md, saved as a
    module file (as a user would) and imported."""
    text = DOC.read_text().split("### Adding a method", 1)[1]
    code = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    path = folder / "scenewright_doc_markers.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module.__name__] = module          # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def markers(tmp_path_factory):
    module = example_module(tmp_path_factory.mktemp("doc_method"))
    register_method("markers", module.MarkerMethod)
    yield module
    unregister_method("markers")
    sys.modules.pop(module.__name__, None)


def check_markers(folder: Path, capture_dir: Path, size_m: float) -> None:
    """A cube of side ``size_m`` per instance, at its median depth point."""
    scene = read_scene(folder)
    capture = load_capture(capture_dir)
    assert scene.method["name"] == "markers" and scene.method["settings"]["size_m"] == size_m
    assert [i.id for i in scene.instances] == capture.instance_ids
    for inst in scene.instances:
        assert np.allclose(inst.mesh.extents, size_m)
        # Back in the camera frame the cube sits at the median depth of its mask.
        cam = np.linalg.inv(scene.camera.world_from_camera) @ inst.world_from_object
        depth = capture.depth[capture.mask(inst.id)]
        assert np.isclose(cam[2, 3], np.median(depth[np.isfinite(depth)]), rtol=1e-6)


def test_the_registered_example_runs_through_reconstruct(markers, capture_dirs, tmp_path, capsys):
    assert "markers" in method_names()
    out = tmp_path / "scene"
    assert cli_main(["reconstruct", str(capture_dirs[0]), "-o", str(out), "--method", "markers",
                     "--set", "size_m=0.1"]) == 0
    check_markers(out, capture_dirs[0], 0.1)
    assert (out / "preview.png").is_file()
    assert cli_main(["reconstruct", "--method", "markers", "--help-settings"]) == 0
    help_text = capsys.readouterr().out
    assert re.search(r"size_m\s+float\s+= 0.2\s+side of each marker cube \(metres\)", help_text)
    assert cli_main(["reconstruct", str(capture_dirs[0]), "-o", str(tmp_path / "bad"), "--method", "markers",
                     "--set", "size_m=big"]) == 2
    assert "size_m is a float" in capsys.readouterr().err


def test_the_registered_example_runs_through_batch(markers, bench, capture_dirs, tmp_path):
    config = tmp_path / "markers.toml"
    config.write_text("size_m = 0.3\n")
    report = run_batch(bench, tmp_path / "out", BatchSettings(method="markers", address="none",
                                                              config=str(config)), progress=False)
    assert report["totals"]["ok"] == len(capture_dirs) and report["method_settings"]["size_m"] == 0.3
    for capture_dir in capture_dirs:
        check_markers(tmp_path / "out" / capture_dir.parent.name, capture_dir, 0.3)


def test_the_registered_example_runs_through_the_web_page(markers, bench, capture_dirs, tmp_path):
    from gradio_client import Client

    from scenewright.app import launch_app
    demo = launch_app(AppSettings(library=None, examples=(str(bench),), work_dir=str(tmp_path / "jobs"),
                                  warmup="off", port=free_port()), block=False)
    try:
        assert "markers" in demo.scenewright_methods
        client = Client(demo.local_url, verbose=False)
        out = client.predict(**dict(DEFAULTS, example=capture_dirs[1].parent.name, method="markers",
                                    markers__size_m=0.25), api_name="/reconstruct")
        status = out[0]["value"] if isinstance(out[0], dict) else out[0]
        assert status.startswith("**Done:**"), status
        downloads = [Path(p) for p in out[2]]
        zip_path = next(p for p in downloads if p.suffix == ".zip")
        with zipfile.ZipFile(zip_path) as zf:
            name = next(n for n in zf.namelist() if n.endswith("scene.json"))
            scene_json = json.loads(zf.read(name))
        assert scene_json["method"] == {"name": "markers", "version": "1", "settings": {"size_m": 0.25, "seed": 0}}
        ids = load_capture(capture_dirs[1]).instance_ids
        assert {f"inst_{i}" for i in ids} <= set(load_glb_nodes(shown_glb(out[2])))
    finally:
        demo.close()
