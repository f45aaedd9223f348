"""The web page under hostile input, through the real ``scenewright app`` server (a subprocess)
and its HTTP API: every bad upload is an *Input problem* line naming the file, never an
internal error; the server listens on 127.0.0.1 only, serves nothing outside its folders,
refuses traversal zips, zip bombs and oversized uploads, caps instances per request, and
queues 8 simultaneous requests, telling each its position, until all are done.

The server runs the box baseline (no library: quick to start) with ``--max-instances 3``
and ``--max-file-size 2mb``; its example is the living room reduced to three objects.
Server helpers and the request wrapper come from ``tests/app`` (the page's own tests).
"""

from __future__ import annotations

import json
import struct
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import ConnectionRecorder, start_server
from tests.app.test_client import DEFAULTS, OUTPUTS, reconstruct
from tests.robustness.cli_checks import LIVING_ROOM, copy_capture, tree_digest

MAX_INSTANCES = 3


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    """An examples folder with ``small_room``: the living room keeping objects 1-3."""
    root = tmp_path_factory.mktemp("examples")
    cap = copy_capture(root / "small_room" / "capture")
    seg = np.asarray(Image.open(cap / "seg.png")).copy()
    seg[seg > MAX_INSTANCES] = 0
    Image.fromarray(seg).save(cap / "seg.png")
    data = json.loads((cap / "instances.json").read_text())
    data["instances"] = [e for e in data["instances"] if e["id"] <= MAX_INSTANCES]
    (cap / "instances.json").write_text(json.dumps(data))
    return root


@pytest.fixture(scope="module")
def server(examples, tmp_path_factory):
    recorder = ConnectionRecorder()
    tmp = tmp_path_factory.mktemp("app_robust")
    srv = start_server(tmp, ["--library", str(tmp / "no-library"), "--examples", str(examples),
                             "--no-default-examples", "--max-instances", str(MAX_INSTANCES),
                             "--max-file-size", "2mb"], recorder)
    yield srv
    srv.stop()
    recorder.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server.url, verbose=False)


def assert_input_problem(out: dict, *texts: str) -> str:
    status = out["status"]
    assert status.startswith("**Input problem:**"), status
    assert "Internal error" not in status and "Traceback" not in status
    for text in texts:
        assert text in status, status
    assert out["model"] is None and not out["downloads"]          # nothing produced
    return status


def _zip_of(folder: Path, path: Path, arc_root: str = "room") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{arc_root}/{f.name}")
    return path


def _lie_about_size(path: Path, member: str, stated: int) -> Path:
    """Rewrite a member's uncompressed size in its local header and the central directory."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo(member).header_offset
    struct.pack_into("<I", data, offset + 22, stated)
    i = data.find(b"PK\x01\x02")
    while i >= 0:
        (n,) = struct.unpack_from("<H", data, i + 28)
        if bytes(data[i + 46:i + 46 + n]) == member.encode():
            struct.pack_into("<I", data, i + 24, stated)
        i = data.find(b"PK\x01\x02", i + 4)
    path.write_bytes(bytes(data))
    return path


def test_a_zip_whose_header_lies_about_a_size(client, examples, tmp_path):
    src = examples / "small_room" / "capture"
    zpath = _lie_about_size(_zip_of(src, tmp_path / "liar.zip"), "room/rgb.png", 100)
    out = reconstruct(client, source="zip", zip_file=zpath, method="boxes")
    assert_input_problem(out, "liar.zip", "room/rgb.png", "damaged")


def test_a_path_traversal_zip(client, examples, tmp_path, server):
    src = examples / "small_room" / "capture"
    zpath = tmp_path / "escape.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, f"room/{f.name}")
        zf.writestr("../../escaped.txt", b"outside")
    out = reconstruct(client, source="zip", zip_file=zpath, method="boxes")
    assert_input_problem(out, "escape.zip", "unsafe path")
    assert not list(server.work_dir.parent.rglob("escaped.txt"))


def test_a_zip_bomb(client, tmp_path):
    """600 MB of zeros deflated to well under the 2 MB upload limit: refused from the sizes the
    archive states, before anything is unpacked."""
    zpath = tmp_path / "bomb.zip"
    chunk = bytes(16 * 1024 ** 2)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("room/rgb.png", "w", force_zip64=True) as f:
            for _ in range(600 // 16):
                f.write(chunk)
    assert zpath.stat().st_size < 1024 ** 2
    out = reconstruct(client, source="zip", zip_file=zpath, method="boxes")
    assert_input_problem(out, "bomb.zip", "unpacks to")


def test_an_oversized_upload_is_refused_by_the_server(server):
    """The upload endpoint itself answers 413 over --max-file-size (the client is bypassed)."""
    import httpx
    url = server.url + "gradio_api/upload"
    big = httpx.post(url, files={"files": ("rgb.png", bytes(3 * 1024 ** 2))}, trust_env=False, timeout=60)
    assert big.status_code == 413, big.text
    small = httpx.post(url, files={"files": ("rgb.png", bytes(2048))}, trust_env=False, timeout=60)
    assert small.status_code == 200


def test_too_many_instances_per_request(client, tmp_path):
    cap = copy_capture(tmp_path / "cap")          # the full living room: 6 objects
    out = reconstruct(client, source="files", rgb=cap / "rgb.png", seg=cap / "seg.png",
                      depth=cap / "depth.png", instances=cap / "instances.json", method="boxes")
    assert_input_problem(out, "seg.png", "6 instances", f"this server's {MAX_INSTANCES}", "--max-instances")


def test_a_seg_id_without_a_label_is_named(client, tmp_path):
    cap = copy_capture(tmp_path / "cap", LIVING_ROOM)
    seg = np.asarray(Image.open(cap / "seg.png")).copy()
    seg[seg > MAX_INSTANCES] = 0
    Image.fromarray(seg).save(cap / "seg.png")
    data = json.loads((cap / "instances.json").read_text())
    data["instances"] = [e for e in data["instances"] if e["id"] in (1, 2)]
    (cap / "instances.json").write_text(json.dumps(data))
    out = reconstruct(client, source="files", rgb=cap / "rgb.png", seg=cap / "seg.png",
                      depth=cap / "depth.png", instances=cap / "instances.json", method="boxes")
    assert_input_problem(out, "instances.json", "no entry for seg.png instance id 3")


def test_implausible_depth_and_camera_uploads(client, tmp_path):
    cap = copy_capture(tmp_path / "cap", LIVING_ROOM)
    depth = np.asarray(Image.open(cap / "depth.png"), np.float32)       # millimetres, saved as if metres
    np.save(tmp_path / "depth.npy", depth)
    out = reconstruct(client, source="files", rgb=cap / "rgb.png", seg=cap / "seg.png", depth=tmp_path / "depth.npy",
                      method="boxes")
    assert_input_problem(out, "depth.npy", "looks like millimetres")
    camera = json.loads((cap / "camera.json").read_text())
    camera["K"][2] = [0, 0, 0]
    (tmp_path / "camera.json").write_text(json.dumps(camera))
    out = reconstruct(client, source="files", rgb=cap / "rgb.png", seg=cap / "seg.png", depth=cap / "depth.png",
                      camera=tmp_path / "camera.json", method="boxes")
    assert_input_problem(out, "camera.json", "last row")


def test_listens_on_127_0_0_1_only(server):
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:      # 0A = LISTEN
                listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"], listening                              # 127.0.0.1, nothing else


def test_serves_no_file_outside_its_folders(server, tmp_path):
    secret = server.work_dir.parent / "secret.txt"          # beside the job folders, not inside
    secret.write_text("not for the web")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    paths = ["/etc/passwd", str(secret), f"{server.work_dir}/../secret.txt", str(Path(__file__).resolve()),
             str(server.log)]
    for p in paths:
        for url in (f"{server.url}gradio_api/file={p}", f"{server.url}file={p}",
                    f"{server.url}gradio_api/file={urllib.request.quote(p, safe='')}"):
            try:
                with opener.open(url, timeout=10) as r:
                    body = r.read()
                    pytest.fail(f"{url} served {r.status}: {body[:80]!r}")
            except urllib.error.HTTPError as exc:
                assert exc.code in (403, 404), (url, exc.code)


def test_eight_simultaneous_requests_queue_report_position_and_finish(client, server):
    before = {p.name for p in server.work_dir.glob("job-*")}
    args = dict(DEFAULTS, example="small_room", method="boxes")
    jobs = [client.submit(**args, api_name="/reconstruct") for _ in range(8)]
    positions = set()
    deadline = time.monotonic() + 240
    while not all(j.done() for j in jobs) and time.monotonic() < deadline:
        for j in jobs:
            st = j.status()
            if st.code.name == "IN_QUEUE" and st.rank is not None:
                positions.add(st.rank)
        time.sleep(0.1)
    results = [dict(zip(OUTPUTS, j.result(timeout=60))) for j in jobs]
    for r in results:
        assert r["status"]["value"].startswith("**Done:** 3 of 3 objects"), r["status"]
    assert max(positions) >= 1, f"no waiting request was told its place in the queue: {positions}"
    new = {p.name for p in server.work_dir.glob("job-*")} - before
    assert len(new) == 8 and all((server.work_dir / n / "small_room_boxes.zip").is_file() for n in new)


def test_the_examples_are_untouched(examples, client):
    before = tree_digest(examples)
    out = reconstruct(client, source="example", example="small_room", method="boxes")
    assert out["status"].startswith("**Done:**")
    assert tree_digest(examples) == before


def test_cli_refuses_bad_limits(tmp_path):
    from tests.robustness.cli_checks import assert_refused, scenewright
    for flag, value in (("--max-instances", "0"), ("--max-file-size", "lots"), ("--max-pixels", "1")):
        run = scenewright("app", "--port", "7999", "--work-dir", tmp_path / "jobs", flag, value, timeout=120)
        assert_refused(run, flag)
    assert not (tmp_path / "jobs").exists()


def test_no_file_was_left_outside_the_job_folders(server):
    """Every request above wrote only inside its job folder (and gradio's own upload cache)."""
    root = server.work_dir.parent
    allowed = {server.work_dir.name, server.log.name, "secret.txt"}
    assert {p.name for p in root.iterdir()} <= allowed, sorted(p.name for p in root.iterdir())
