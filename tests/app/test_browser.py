"""The page in a real browser (Debian's chromium through playwright), against the real server."""

from __future__ import annotations

import io
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from scenewright.capture import load_capture

CHROMIUM = Path("/usr/bin/chromium")
# Software WebGL, so the 3D viewer draws in a headless browser without a GPU.
CHROMIUM_ARGS = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip("chromium not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    t = time.perf_counter()
    page.goto(server.url)
    page.wait_for_selector("#reconstruct", state="visible")
    page.load_seconds = time.perf_counter() - t
    yield page
    context.close()


def _http_get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as r:
        return r.read()


def _table_rows(page, elem_id: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#{elem_id} [role=row].virtual-row",       # body rows (the header row is a <tr>)
        "rows => rows.map(r => Array.from(r.querySelectorAll('[role=gridcell]')).map(c => c.innerText.trim()))")


def test_pick_an_example_reconstruct_and_download(page, server, capture_dirs):
    print(f"\npage load: {page.load_seconds:.2f} s (server up in {server.started_s:.1f} s)")
    # Pick the second example in the dropdown.
    page.click("#example input")
    page.get_by_role("option", name="scene_0001").click()
    cap = load_capture(capture_dirs[1])
    t = time.perf_counter()
    page.click("#reconstruct")
    page.wait_for_selector("#status.ok", timeout=60_000)
    print(f"reconstruction through the page: {time.perf_counter() - t:.2f} s")
    assert "Done:" in page.inner_text("#status")

    # The 3D view has a canvas, and it draws something (not one flat colour).
    canvas = page.wait_for_selector("#model3d canvas", timeout=20_000)
    deadline, spread = time.perf_counter() + 15, 0.0
    while time.perf_counter() < deadline and spread <= 5:     # the viewer loads the GLB, then draws
        png = canvas.screenshot()
        spread = float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), float).std())
        time.sleep(0.5)
    assert spread > 5, "the 3D viewer shows a blank canvas"

    # The objects table: one row per instance of the picked capture, with its label.
    page.wait_for_function("document.querySelectorAll('#objects [role=row].virtual-row').length > 0")
    rows = _table_rows(page, "objects")
    assert [int(r[0]) for r in rows] == cap.instance_ids
    assert [r[1] for r in rows] == [cap.labels[i] for i in cap.instance_ids]

    # The download link serves the scene folder as a zip.
    links = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.href)")
    zip_url = next(u for u in links if u.endswith(".zip"))
    assert zip_url.endswith("scene_0001_layout.zip")
    with zipfile.ZipFile(io.BytesIO(_http_get(zip_url))) as zf:
        names = zf.namelist()
    assert "scene_0001_layout/scene.glb" in names and "scene_0001_layout/scene.json" in names

    # Turning the room off swaps the viewer's GLB without running again.
    page.click("#include-room input")
    page.wait_for_function("Array.from(document.querySelectorAll('#downloads a')).some("
                           "a => a.href.endsWith('scene_0001_layout.glb'))")
    # Everything the page loaded came from this server (nothing from a CDN or a font service).
    hosts = {urlparse(u).netloc for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {urlparse(server.url).netloc}


def test_upload_files_with_mismatched_sizes_shows_the_error(page, capture_dirs, tmp_path):
    src = capture_dirs[0]
    small = tmp_path / "seg.png"
    Image.open(src / "seg.png").resize((64, 64), Image.NEAREST).save(small)
    page.click("#tab-files-button") if page.query_selector("#tab-files-button") else \
        page.get_by_role("tab", name="Upload files").click()
    page.set_input_files("#rgb input[type=file]", str(src / "rgb.png"))
    page.set_input_files("#seg input[type=file]", str(small))
    page.set_input_files("#depth input[type=file]", str(src / "depth.npy"))
    page.fill("#labels textarea, #labels input", "1: sofa")
    # Wait for the uploads to land (each file shows up in its component).
    page.wait_for_function("document.querySelectorAll('#rgb .file-preview, #seg .file-preview, "
                           "#depth .file-preview').length === 3")
    page.click("#reconstruct")
    page.wait_for_selector("#status.error", timeout=30_000)
    text = page.inner_text("#status")
    assert "seg.png: size 64x64 differs from rgb.png 128x128" in text
    assert "Traceback" not in page.content()
