"""Serving: what the page offers without a library, command-line errors, and no outside network.

This file runs after the others (pytest's alphabetical order), so the network check
covers every request the other tests made to the shared server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request


from scenewright.app import AppSettings, build_app
from scenewright.cli import main as cli_main


def _component(demo, elem_id: str) -> dict:
    return next(c["props"] for c in demo.config["components"] if c.get("props", {}).get("elem_id") == elem_id)


def test_without_a_library_the_page_offers_the_box_baseline(tmp_path):
    demo = build_app(AppSettings(library=str(tmp_path / "no_library"), examples=(), warmup="off",
                                 work_dir=str(tmp_path / "jobs")))
    method = _component(demo, "method")
    assert [c[0] for c in method["choices"]] == ["boxes"] and method["value"] == "boxes"
    note = _component(demo, "availability")["value"]
    assert "layout is off" in note and "not an asset library" in note and "midi is off" in note


def test_with_a_library_layout_comes_first(tmp_path, library_dir, bench):
    demo = build_app(AppSettings(library=str(library_dir), examples=(str(bench),), warmup="off",
                                 work_dir=str(tmp_path / "jobs")))
    assert [c[0] for c in _component(demo, "method")["choices"]] == ["layout", "boxes"]
    assert [c[0] for c in _component(demo, "example")["choices"]] == ["scene_0000", "scene_0001"]


def test_cli_refuses_bad_options(tmp_path, capsys):
    assert cli_main(["app", "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err
    assert cli_main(["app", "--weights", str(tmp_path / "nothing")]) == 2
    assert "--weights" in capsys.readouterr().err
    with socket.socket() as busy:                 # a port someone else holds
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = cli_main(["app", "--port", str(port), "--library", str(tmp_path / "no_library"),
                         "--no-default-examples", "--warmup", "off", "--work-dir", str(tmp_path / "jobs")])
    assert code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_recorder_would_catch_an_outgoing_request(recorder):
    """The detector works: a process with the server's proxy settings that does go out is seen."""
    proxy = f"http://127.0.0.1:{recorder.port}"
    before = len(recorder.seen)
    env = dict(os.environ, HTTPS_PROXY=proxy, HTTP_PROXY=proxy, NO_PROXY="127.0.0.1,localhost")
    subprocess.run([sys.executable, "-c", "import httpx\ntry: httpx.get('https://example.org', timeout=3)\n"
                    "except Exception: pass"], env=env, timeout=30)
    deadline = time.time() + 5
    while len(recorder.seen) == before and time.time() < deadline:
        time.sleep(0.1)
    assert len(recorder.seen) > before and b"example.org" in recorder.seen[-1]
    del recorder.seen[before:]        # only what this test caused


def test_the_server_never_went_out(server, recorder):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for path in ("", "config", "gradio_api/info"):
        with opener.open(server.url + path, timeout=10) as r:
            assert r.status == 200
    time.sleep(0.5)
    assert recorder.seen == [], f"the server opened outside connections: {recorder.seen}"
    assert server.proc.poll() is None, "the server died"
