"""Capture folders a user may hand to ``scenewright reconstruct``: every bad one is refused up
front with one ``error: <file>: <problem>`` line (exit 2), nothing written, the capture untouched.

The command runs in a subprocess on copies of the shipped living-room capture (512x512,
six objects, depth.png in millimetres, camera.json); ``--method boxes`` reads the capture
exactly as the other methods do and needs no library.
"""

from __future__ import annotations

import ast
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from tests.robustness.cli_checks import (LIVING_ROOM, REPO, assert_refused, copy_capture, scenewright,
                                         tree_digest)


def depth_metres() -> np.ndarray:
    """(512, 512) float32 metres of the living room (0 where unknown)."""
    return np.asarray(Image.open(LIVING_ROOM / "depth.png"), np.float32) / 1000.0


def with_depth_npy(cap: pathlib.Path, array) -> pathlib.Path:
    """Replace the capture's depth.png by ``array`` saved as depth.npy."""
    (cap / "depth.png").unlink()
    np.save(cap / "depth.npy", array, allow_pickle=True)
    return cap


def refuse_reconstruct(tmp_path, cap, names, says=(), extra=()):
    out = tmp_path / "out"
    before = tree_digest(cap)
    run = scenewright("reconstruct", cap, "-o", out, "--method", "boxes", "--no-preview", *extra)
    return assert_refused(run, names, says=says, outputs=[out], inputs_before=before, inputs=[cap])


# -- malformed files ---------------------------------------------------------------------

@pytest.mark.parametrize("content, says", [
    ({"instances": {"id": "one", "label": 5}}, "got dict"),                # a dict where a list belongs
    ({"instances": [{"id": 1, "label": 5}]}, "label must be text"),
    ({"instances": [{"id": "one", "label": "sofa"}]}, "id must be a positive integer"),
    ({"instances": [{"id": True, "label": "sofa"}]}, "id must be a positive integer"),
    ({"instances": [{"label": "sofa"}]}, "id must be a positive integer"),
    ({"instances": ["sofa"]}, "must be an object"),
    (["not", "an", "object"], "got list"),
    ({"instances": [{"id": 1, "label": "a"}, {"id": 1, "label": "b"}]}, "listed twice"),
])
def test_malformed_instances_json(tmp_path, content, says):
    cap = copy_capture(tmp_path / "cap")
    (cap / "instances.json").write_text(json.dumps(content))
    refuse_reconstruct(tmp_path, cap, "instances.json", says)


@pytest.mark.parametrize("array, says", [
    (np.full((512, 512), "2.5"), "dtype <U3 is not a real number type"),    # text
    (np.ones((512, 512), bool), "dtype bool is not a real number type"),
    (np.full((512, 512), 2.5 + 1j), "dtype complex128 is not a real number type"),
    (np.ones((512, 512, 3), np.float32), "expected an HxW array"),
])
def test_depth_npy_that_is_not_real_numbers(tmp_path, array, says):
    cap = with_depth_npy(copy_capture(tmp_path / "cap"), array)
    refuse_reconstruct(tmp_path, cap, "depth.npy", says)


class Unpickled:
    """Unpickling this touches a marker file: proof that a loader ran pickle on user data."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickled_npy_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    array = np.empty((512, 512), object)
    array[:] = None
    array[0, 0] = Unpickled(marker)
    cap = with_depth_npy(copy_capture(tmp_path / "cap"), array)
    assert not marker.exists()
    refuse_reconstruct(tmp_path, cap, "depth.npy", "allow_pickle")
    assert not marker.exists(), "depth.npy was unpickled"


def _load_calls(tree: ast.AST):
    """Calls that read files which could hold pickles: numpy.load, pickle.load(s), torch.load, joblib.load."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("load", "loads"):
            base = node.func.value
            name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
            if name in ("np", "numpy", "pickle", "torch", "joblib", "cloudpickle", "dill"):
                yield name, node


def test_no_loader_in_the_code_may_unpickle():
    """Every np.load says allow_pickle=False; nothing calls pickle/torch/joblib loaders."""
    offenders = []
    for path in sorted((REPO / "scenewright").rglob("*.py")) + sorted((REPO / "benchmarks").rglob("*.py")):
        for name, call in _load_calls(ast.parse(path.read_text())):
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            if name in ("np", "numpy"):
                kw = {k.arg: k.value for k in call.keywords}
                if not (isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False):
                    offenders.append(f"{where}: np.{call.func.attr} without allow_pickle=False")
            else:
                offenders.append(f"{where}: {name}.{call.func.attr}")
    assert not offenders, offenders


# -- plausibility, before any work ----------------------------------------------------------

@pytest.mark.parametrize("factor, says", [
    (1000.0, ["median depth is", "it looks like millimetres", "must be metres"]),
    (1e6, ["median depth is", "outside what a room measures", "must be metres"]),
    (1e-6, ["median depth is", "outside what a room measures", "must be metres"]),
])
def test_depth_npy_in_another_unit(tmp_path, factor, says):
    cap = with_depth_npy(copy_capture(tmp_path / "cap"), depth_metres() * factor)
    refuse_reconstruct(tmp_path, cap, "depth.npy", says)


def test_depth_png_holding_metres_instead_of_millimetres(tmp_path):
    cap = copy_capture(tmp_path / "cap")
    Image.fromarray(np.round(depth_metres()).astype(np.uint16)).save(cap / "depth.png")
    refuse_reconstruct(tmp_path, cap, "depth.png", ["looks like metres", "must be millimetres"])


def test_depth_in_metres_is_accepted(tmp_path):
    """The same depth as float32 metres in depth.npy is fine (the check does not misfire)."""
    cap = with_depth_npy(copy_capture(tmp_path / "cap"), depth_metres())
    run = scenewright("reconstruct", cap, "-o", tmp_path / "out", "--method", "boxes", "--no-preview")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "scene.json").is_file()


def _set_K(cap, K):
    data = json.loads((cap / "camera.json").read_text())
    data["K"] = K
    (cap / "camera.json").write_text(json.dumps(data))


F, C = 371.7691238241688, 256.0


@pytest.mark.parametrize("K, says", [
    ([[1e-9, 0, C], [0, 1e-9, C], [0, 0, 1]], "field of view"),
    ([[1e12, 0, C], [0, 1e12, C], [0, 0, 1]], "field of view"),
    ([[F, 0, C], [0, F, C], [0, 0, 0]], "last row must be 0 0 1"),
    ([[-F, 0, C], [0, F, C], [0, 0, 1]], "positive focal lengths"),
    ([[F, 0, float("nan")], [0, F, C], [0, 0, 1]], "finite 3x3"),
    ([[F, 0, float("inf")], [0, F, C], [0, 0, 1]], "finite 3x3"),
    ([[F, 0, -C], [0, F, C], [0, 0, 1]], "principal point"),
    ([[F, 0], [0, F]], "finite 3x3"),
])
def test_camera_json_that_is_not_a_camera_of_this_image(tmp_path, K, says):
    cap = copy_capture(tmp_path / "cap")
    _set_K(cap, K)
    refuse_reconstruct(tmp_path, cap, "camera.json", says)


def test_bad_camera_is_named_before_the_library_is_opened(tmp_path):
    """The layout method validates the capture first: a broken K is reported as camera.json's
    problem even when the library is missing too (no renderer or library work happens)."""
    cap = copy_capture(tmp_path / "cap")
    _set_K(cap, [[F, 0, C], [0, F, C], [0, 0, 0]])
    out = tmp_path / "out"
    before = tree_digest(cap)
    run = scenewright("reconstruct", cap, "-o", out, "--method", "layout", "--library", tmp_path / "no-library")
    assert_refused(run, "camera.json", says="last row", outputs=[out], inputs_before=before, inputs=[cap])


# -- size limits ---------------------------------------------------------------------------

def test_pictures_over_the_pixel_limit(tmp_path):
    cap = copy_capture(tmp_path / "cap")
    refuse_reconstruct(tmp_path, cap, "rgb.png", ["megapixels", "--max-pixels"], extra=["--max-pixels", "100000"])
    # the default, 16 MP: a 4096x4097 picture (the header is read; nothing is decoded)
    big = tmp_path / "big"
    big.mkdir()
    Image.new("RGB", (4096, 4097), (120, 110, 100)).save(big / "rgb.png")
    Image.new("L", (4096, 4097), 1).save(big / "seg.png")
    refuse_reconstruct(tmp_path, big, "rgb.png", ["16.8 megapixels", "limit of 16"])


def test_captures_over_the_instance_limit(tmp_path):
    cap = copy_capture(tmp_path / "cap")
    refuse_reconstruct(tmp_path, cap, "seg.png", ["6 instances", "limit of 3", "--max-instances"],
                       extra=["--max-instances", "3"])
    # the default, 255: a 16-bit seg.png with 300 small squares
    seg = np.zeros((512, 512), np.uint16)
    for k in range(300):
        r, c = divmod(k, 20)
        seg[r * 25:r * 25 + 20, c * 25:c * 25 + 20] = k + 1
    Image.fromarray(seg).save(cap / "seg.png")
    (cap / "instances.json").unlink()
    refuse_reconstruct(tmp_path, cap, "seg.png", ["300 instances", "limit of 255"])


def test_bad_limits_are_refused(tmp_path):
    cap = copy_capture(tmp_path / "cap")
    refuse_reconstruct(tmp_path, cap, "--max-pixels", extra=["--max-pixels", "0"])
    refuse_reconstruct(tmp_path, cap, "--max-instances", extra=["--max-instances", "0"])


# -- files that disagree -------------------------------------------------------------------

def test_seg_id_without_an_instances_json_entry(tmp_path):
    cap = copy_capture(tmp_path / "cap")
    data = json.loads((cap / "instances.json").read_text())
    data["instances"] = [e for e in data["instances"] if e["id"] not in (3, 5)]
    (cap / "instances.json").write_text(json.dumps(data))
    line = refuse_reconstruct(tmp_path, cap, "instances.json", "no entry for seg.png instance ids 3, 5")
    assert "label" in line      # says how to fix it


def test_instances_json_ids_absent_from_seg_are_a_warning(tmp_path):
    cap = copy_capture(tmp_path / "cap")
    data = json.loads((cap / "instances.json").read_text())
    data["instances"] += [{"id": 41, "label": "ghost"}, {"id": 42, "label": "phantom"}]
    (cap / "instances.json").write_text(json.dumps(data))
    before = tree_digest(cap)
    run = scenewright("reconstruct", cap, "-o", tmp_path / "out", "--method", "boxes", "--no-preview")
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert any("instances.json" in w and "ids 41, 42 are not in seg.png" in w for w in warnings), run.stderr
    assert tree_digest(cap) == before
    ids = [i["id"] for i in json.loads((tmp_path / "out" / "scene.json").read_text())["instances"]]
    assert 41 not in ids and 42 not in ids


def test_without_instances_json_labels_are_optional(tmp_path):
    """No instances.json at all: every instance is reconstructed without a label (the layout
    method then searches every category, see docs/inputs.md)."""
    cap = copy_capture(tmp_path / "cap")
    (cap / "instances.json").unlink()
    run = scenewright("reconstruct", cap, "-o", tmp_path / "out", "--method", "boxes", "--no-preview")
    assert run.returncode == 0, run.stderr
    assert "warning:" not in run.stderr
    scene = json.loads((tmp_path / "out" / "scene.json").read_text())
    assert sorted(i["id"] for i in scene["instances"]) == [1, 2, 3, 4, 5, 6]
