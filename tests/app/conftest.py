"""Fixtures of the web page tests: a real small library, a small generated benchmark whose
captures are the page's examples, and the real ``scenewright app`` server in a subprocess.

The server runs with every HTTP(S) proxy variable pointing at a local listener that
records connections, so a request the server makes to the outside world (analytics,
version checks, model hubs) is caught; ``NO_PROXY`` keeps its own localhost checks direct.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def library_dir(small_library) -> Path:
    return small_library


@pytest.fixture(scope="session")
def bench(small_bench) -> Path:
    return small_bench


@pytest.fixture(scope="session")
def capture_dirs(bench) -> list[Path]:
    names = json.loads((bench / "manifest.json").read_text())["scenes"]
    return [bench / n / "capture" for n in names]


class ConnectionRecorder:
    """A TCP listener that records (and drops) every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    self.seen.append(conn.recv(256))
                except OSError:
                    self.seen.append(b"")

    def close(self) -> None:
        self.sock.close()


class Server:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path, work_dir: Path, recorder: ConnectionRecorder,
                 started_s: float) -> None:
        self.url, self.proc, self.log, self.work_dir = url, proc, log, work_dir
        self.recorder, self.started_s = recorder, started_s

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server process; kill it if it has not exited within ``timeout`` s."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(tmp: Path, args: list[str], recorder: ConnectionRecorder, timeout: float = 60.0) -> Server:
    port = free_port()
    proxy = f"http://127.0.0.1:{recorder.port}"
    env = dict(os.environ, HTTP_PROXY=proxy, HTTPS_PROXY=proxy, ALL_PROXY=proxy, http_proxy=proxy,
               https_proxy=proxy, all_proxy=proxy, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               PYTHONUNBUFFERED="1", GRADIO_HEARTBEAT_INTERVAL="1")   # a closed page is noticed within ~1 s
    env.pop("GRADIO_ANALYTICS_ENABLED", None)      # the app itself must turn analytics off
    log = tmp / "server.log"
    work = tmp / "jobs"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "scenewright", "app", "--port", str(port),
                             "--work-dir", str(work), *args],
                            cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with opener.open(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            raise RuntimeError(f"server did not answer within {timeout} s:\n{log.read_text()}")
        time.sleep(0.2)
    return Server(url, proc, log, work, recorder, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def recorder():
    r = ConnectionRecorder()
    yield r
    r.close()


@pytest.fixture(scope="session")
def perception_models_dir(tmp_path_factory) -> Path:
    """Tiny random-weight depth, detector and segmenter models, saved as the real ones are."""
    from scenewright.models.tiny import build_tiny_models
    return build_tiny_models(tmp_path_factory.mktemp("app_models"))


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> Path:
    """A 320x240 JPEG of the shipped example room (a real picture, not noise)."""
    from PIL import Image
    path = tmp_path_factory.mktemp("photo") / "room.jpg"
    Image.open(REPO / "examples" / "living_room" / "capture" / "rgb.png").convert("RGB").resize((320, 240)).save(
        path, quality=90)
    return path


@pytest.fixture(scope="session")
def server(library_dir, bench, recorder, midi_tiny_location, perception_models_dir, tmp_path_factory):
    """``scenewright app`` with the small library, the bench captures as examples, tiny perception
    models for photos and (when the tiny checkpoint is there) MIDI enabled."""
    tmp = tmp_path_factory.mktemp("app_server")
    args = ["--library", str(library_dir), "--examples", str(bench), "--no-default-examples",
            "--models", str(perception_models_dir)]
    if (midi_tiny_location / "model_index.json").is_file():
        args += ["--weights", str(midi_tiny_location)]
    srv = start_server(tmp, args, recorder)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client
    return Client(server.url, verbose=False)
