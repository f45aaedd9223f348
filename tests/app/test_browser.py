"""The page in a real browser (Debian's chromium through playwright), against the real server.

Each step is photographed: into the test's temporary folder, and into
``$SCENEWRIGHT_APP_SCREENSHOTS`` when set (``docs/figures`` holds the ones docs/app.md shows:
``SCENEWRIGHT_APP_SCREENSHOTS=docs/figures pytest tests/app/test_browser.py``).
"""

from __future__ import annotations

import io
import json
import os
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


def shoot(page, tmp_path: Path, name: str) -> Path:
    """A screenshot of the whole page as ``app-NAME.png`` (and into $SCENEWRIGHT_APP_SCREENSHOTS)."""
    path = tmp_path / f"app-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    folder = os.environ.get("SCENEWRIGHT_APP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / path.name).write_bytes(path.read_bytes())
    return path


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def progress_state(page) -> dict:
    """The progress pane: overall state and percent, and each stage's state."""
    return page.eval_on_selector("#progress", """el => {
        const p = el.querySelector('.sw-progress');
        return {state: p && p.dataset.state, percent: p && p.dataset.percent ? Number(p.dataset.percent) : null,
                stages: Array.from(el.querySelectorAll('li[data-stage]')).map(li => [li.dataset.stage, li.className]),
                text: el.innerText,
                overlays: Array.from(document.querySelectorAll('.progress-text, .eta-bar, .progress-level'))
                               .filter(e => !e.closest('#progress')).length,
                overlay_where: Array.from(document.querySelectorAll('.progress-text, .eta-bar, .progress-level'))
                               .filter(e => !e.closest('#progress'))
                               .map(e => (e.closest('[id]') || {}).id + ':' + e.className + ':' + e.innerText)};
    }""")


def watch_progress(page, until: str, timeout_s: float = 120.0) -> list[dict]:
    """Sample the progress pane every 0.1 s until the status box has class ``until`` (ok / error)."""
    samples, deadline = [], time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        samples.append(progress_state(page))
        if page.query_selector(f"#status.{until}"):
            return samples
        page.wait_for_timeout(100)
    raise AssertionError(f"status never became {until}; last progress: {samples[-1] if samples else None}")


def file_names(page, elem_id: str) -> list[dict]:
    """The names a file box shows: the whole name, and whether its stem is cut short on screen."""
    return page.eval_on_selector(f"#{elem_id}", """el => Array.from(el.querySelectorAll('td.filename')).map(td => {
        const stem = td.querySelector('.stem'), ext = td.querySelector('.ext');
        return {name: stem.innerText.trim() + ext.innerText.trim(), cut: stem.scrollWidth > stem.clientWidth + 1,
                stem_px: stem.getBoundingClientRect().width};
    })""")


def _http_get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as r:
        return r.read()


def _table_rows(page, elem_id: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#{elem_id} [role=row].virtual-row",       # body rows (the header row is a <tr>)
        "rows => rows.map(r => Array.from(r.querySelectorAll('[role=gridcell]')).map(c => c.innerText.trim()))")


def test_pick_an_example_reconstruct_and_download(page, server, capture_dirs, tmp_path):
    print(f"\npage load: {page.load_seconds:.2f} s (server up in {server.started_s:.1f} s)")
    # Pick the second example in the dropdown.
    page.click("#example input")
    page.get_by_role("option", name="scene_0001").click()
    shoot(page, tmp_path, "example")
    cap = load_capture(capture_dirs[1])
    t = time.perf_counter()
    page.click("#reconstruct")
    samples = watch_progress(page, "ok", 60)
    print(f"reconstruction through the page: {time.perf_counter() - t:.2f} s")
    assert "Done:" in page.inner_text("#status")
    # One progress pane: every stage done at the end, no gradio bar repeated over the outputs.
    final = progress_state(page)
    assert final["state"] == "finished" and final["percent"] == 100
    assert [k for k, _ in final["stages"]] == ["check", "load", "reconstruct", "exports"]
    assert all(cls == "done" for _, cls in final["stages"])
    assert max(smp["overlays"] for smp in samples) == 0

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

    shoot(page, tmp_path, "example-done")
    # Downloads in every export format; the zip serves the scene folder.
    links = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.href)")
    ends = ["scene_0001_layout.zip", "scene_0001_layout_with_room.glb", "scene_0001_layout.glb",
            "scene_0001_layout.usdz", "scene_0001_layout_usd.zip", "scene_0001_layout.blend"]
    assert sorted(u.rsplit("/", 1)[-1] for u in links) == sorted(ends)
    zip_url = next(u for u in links if u.endswith("scene_0001_layout.zip"))
    assert not any(f["cut"] for f in file_names(page, "downloads")), file_names(page, "downloads")
    usdz = _http_get(next(u for u in links if u.endswith(".usdz")))
    assert usdz[:2] == b"PK"                                  # a usdz is an uncompressed zip
    blend = _http_get(next(u for u in links if u.endswith(".blend")))
    assert blend[:7] == b"BLENDER" or blend[:4] == b"\x28\xb5\x2f\xfd"   # plain or zstd-compressed
    with zipfile.ZipFile(io.BytesIO(_http_get(zip_url))) as zf:
        names = zf.namelist()
    assert "scene_0001_layout/scene.glb" in names and "scene_0001_layout/scene.json" in names

    # Turning the room off swaps the viewer's GLB without running again.
    page.click("#include-room input")
    page.wait_for_function("!Array.from(document.querySelectorAll('#downloads a')).some("
                           "a => a.href.endsWith('_with_room.glb'))")
    # Everything the page loaded came from this server (nothing from a CDN or a font service).
    hosts = {urlparse(u).netloc for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {urlparse(server.url).netloc}


def test_upload_files_with_mismatched_sizes_shows_the_error(page, capture_dirs, tmp_path):
    src = capture_dirs[0]
    small = tmp_path / "seg.png"
    Image.open(src / "seg.png").resize((64, 64), Image.NEAREST).save(small)
    page.click("#tab-files-button") if page.query_selector("#tab-files-button") else \
        page.get_by_role("tab", name="Capture").click()
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


def test_photo_perceive_then_reconstruct_with_moving_progress(page, server, photo, tmp_path):
    open_tab(page, "Photo")
    page.set_input_files("#photo input[type=file]", str(photo))
    page.fill("#photo-labels textarea, #photo-labels input", "sofa, armchair, lamp")
    page.wait_for_selector("#photo td.filename")
    shoot(page, tmp_path, "photo-upload")

    # Perceive: the overlay (masks, labels, depth) shows before any 3D work.
    page.click("#perceive")
    page.wait_for_selector("#status.ok", timeout=120_000)
    assert "Perceived:" in page.inner_text("#status")
    overlay = page.wait_for_selector("#perception img", timeout=20_000)
    src = overlay.get_attribute("src")
    png = Image.open(io.BytesIO(_http_get(src if src.startswith("http") else server.url + src.lstrip("/"))))
    assert png.width > png.height > 0                          # the photo beside its depth panel
    assert [k for k, _ in progress_state(page)["stages"]] == ["perceive"]
    shoot(page, tmp_path, "photo-perceived")

    # Reconstruct: the perceived capture is used as it is (no perception stage), progress moves.
    page.get_by_role("radio", name="layout").check()
    page.click("#reconstruct")
    page.wait_for_selector("#progress .sw-progress[data-state=running]", timeout=60_000)
    samples, shot = [], False
    deadline = time.perf_counter() + 180
    while time.perf_counter() < deadline:
        smp = progress_state(page)
        samples.append(smp)
        if not shot and smp["state"] == "running" and any(c == "running" and k == "reconstruct"
                                                          for k, c in smp["stages"]):
            shoot(page, tmp_path, "photo-progress")
            shot = True
        if smp["state"] == "finished" and "Done:" in page.inner_text("#status"):
            break
        page.wait_for_timeout(100)
    running = [smp for smp in samples if smp["state"] == "running"]
    percents = [smp["percent"] for smp in running]
    assert len(set(percents)) >= 3, percents                  # the bar moves, it does not stand still
    assert percents == sorted(percents)                       # and only forwards
    assert max(smp["overlays"] for smp in samples) == 0, [smp["overlay_where"] for smp in samples if smp["overlays"]]
    assert any("retrieval + pose" in smp["text"] for smp in running)   # per-object steps of layout
    final = progress_state(page)
    assert [k for k, _ in final["stages"]] == ["check", "load", "reconstruct", "exports"]   # not perceived again
    assert "Done:" in page.inner_text("#status")
    links = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.href)")
    zip_url = next(u for u in links if u.endswith("room_layout.zip"))
    with zipfile.ZipFile(io.BytesIO(_http_get(zip_url))) as zf:
        scene = json.loads(zf.read("room_layout/scene.json"))
        names = zf.namelist()
    assert scene["inputs"]["inputs"]["depth"]["source"] == "estimated"
    assert "room_layout/perceived/perception.png" in names
    shoot(page, tmp_path, "photo-done")


def test_upload_boxes_say_what_each_file_is_for(page, capture_dirs, tmp_path):
    open_tab(page, "Capture")
    src = capture_dirs[0]
    page.set_input_files("#rgb input[type=file]", str(src / "rgb.png"))
    page.set_input_files("#seg input[type=file]", str(src / "seg.png"))
    page.wait_for_function("document.querySelectorAll('#rgb .file-preview, #seg .file-preview').length === 2")
    for elem_id, name in (("rgb", "rgb.png"), ("seg", "seg.png")):
        shown = file_names(page, elem_id)
        assert [f["name"] for f in shown] == [name]
        assert not shown[0]["cut"] and shown[0]["stem_px"] > 10, shown      # the whole name, not ".p"
    depth_label = page.inner_text("#depth")
    assert "Depth, optional (estimated from the picture when absent)" in depth_label
    assert "optional: found by the detector and SAM" in page.inner_text("#seg")
    shoot(page, tmp_path, "files")


def test_a_job_whose_browser_left_is_cancelled(browser, server, photo):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#reconstruct", state="visible")
    before = {p.name for p in server.work_dir.glob("job-*")}
    open_tab(page, "Photo")
    page.set_input_files("#photo input[type=file]", str(photo))
    page.wait_for_selector("#photo td.filename")
    page.get_by_role("radio", name="layout").check()
    page.click("#reconstruct")
    page.wait_for_function("document.querySelector('#progress .sw-progress[data-state=running]')", timeout=30_000)
    log_before = server.log.read_text()
    context.close()                                             # the person closes the tab mid-job
    # Either signal may come first (whichever it is, the first reason is kept): the page's
    # unload event, or the server noticing that nobody reads the job's stream any more.
    reasons = ("cancelled: the browser left the page", "cancelled: the page stopped listening")
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        text = server.log.read_text()[len(log_before):]
        if any(r in text for r in reasons):
            break
        time.sleep(0.2)
    assert any(r in text for r in reasons), text[-2000:]
    if reasons[0] in text:
        assert "browser left: 1 job(s) cancelled" in text
    new = [p for p in server.work_dir.glob("job-*") if p.name not in before]
    assert len(new) == 1 and not (new[0] / "scene").exists()    # stopped before a scene was written


def test_text_tab_generates_a_room_from_a_prompt(page, tmp_path):
    open_tab(page, "Text")
    page.fill("#prompt textarea", "a bedroom with a bed, a wardrobe and a lamp")
    shoot(page, tmp_path, "text")
    page.click("#generate")
    samples = watch_progress(page, "ok", 600)
    assert "Done:" in page.inner_text("#status")
    final = progress_state(page)
    assert [k for k, _ in final["stages"]] == ["generate", "exports"] and final["state"] == "finished"
    assert max(smp["overlays"] for smp in samples) == 0
    page.wait_for_function("document.querySelectorAll('#objects [role=row].virtual-row').length > 0")
    categories = {r[2] for r in _table_rows(page, "objects")}
    assert "lamp" in categories, categories                  # what the prompt asked for, from the library
    assert "room: bedroom" in page.inner_text("#status")      # the parsed request is shown
    links = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.href)")
    assert sorted(u.rsplit("/", 1)[-1] for u in links) == sorted(
        ["text_0.zip", "text_0.glb", "text_0.usdz", "text_0_usd.zip", "text_0.blend"])
    page.wait_for_selector("#model3d canvas", timeout=30_000)
    shoot(page, tmp_path, "text-done")
