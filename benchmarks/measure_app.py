"""Measure the page as a person meets it: server start, page load, reconstructions by clicking.

``.venv/bin/python benchmarks/measure_app.py --library data/library --example living_room --runs 3``
``.venv/bin/python benchmarks/measure_app.py --photo room.jpg --models DIR --labels "sofa, chair" --runs 2``

Starts ``scenewright app`` in a subprocess, opens it in Debian's chromium (playwright,
headless), picks the example, clicks **Reconstruct** ``--runs`` times and prints a
Markdown table: seconds from click to filled outputs, and the server's own total per
request (from the timings table). With ``--photo`` it uploads the photo in the Photo tab,
clicks **Perceive** (timed alone), then **Reconstruct** (which reuses the perceived capture),
and prints the seconds of each stage as the page's progress pane showed them.
Needs playwright and ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenewright.methods.registry import DEFAULT_METHOD, method_names  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with opener.open(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not answer within {timeout} s")


def _stages(page) -> str:
    """The progress pane's stages with their seconds, as the page showed them."""
    return "; ".join(page.eval_on_selector_all("#progress li[data-stage]", "ls => ls.map(l => l.innerText.trim())"))


def measure(library: str | None, example: str, method: str, runs: int, warmup: str = "quick",
            chromium: str = "/usr/bin/chromium", uncheck: tuple[str, ...] = (), wait: float = 0.0,
            photo: str | None = None, models: str | None = None, labels: str = "") -> dict:
    """Seconds: ``server_ready``, ``first_load``, ``reload``, ``runs`` [click → outputs], ``server_totals``."""
    from playwright.sync_api import sync_playwright
    port = _free_port()
    work = tempfile.mkdtemp(prefix="scenewright-measure-")
    cmd = [sys.executable, "-m", "scenewright", "app", "--port", str(port), "--work-dir", work]
    cmd += ["--library", library] if library else []
    cmd += ["--warmup", warmup]
    cmd += ["--models", models] if models else []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    out: dict = {"runs": [], "server_totals": [], "stages": []}
    try:
        _wait_http(url, proc, 120)
        out["server_ready"] = time.perf_counter() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#reconstruct", state="visible")
            out["first_load"] = time.perf_counter() - t
            t = time.perf_counter()
            page.reload()
            page.wait_for_selector("#reconstruct", state="visible")
            out["reload"] = time.perf_counter() - t
            if photo:
                page.get_by_role("tab", name="Photo").click()
                page.set_input_files("#photo input[type=file]", photo)
                page.fill("#photo-labels textarea, #photo-labels input", labels)
                page.wait_for_selector("#photo td.filename")
                time.sleep(wait)
                t = time.perf_counter()
                page.click("#perceive")
                page.wait_for_selector("#status.ok, #status.error", timeout=600_000)
                if page.query_selector("#status.error"):
                    raise SystemExit(page.inner_text("#status"))
                page.wait_for_selector("#perception img", timeout=60_000)
                out["perceive"] = time.perf_counter() - t
                out["stages"].append(_stages(page))
            else:
                page.click("#example input")
                page.get_by_role("option", name=example, exact=True).click()
            page.get_by_role("radio", name=method).check()
            if uncheck:
                page.get_by_text("Settings").click()
                for field in uncheck:        # the page's control of a boolean settings field
                    page.locator(f"#setting-{method}-{field} input").uncheck()
            time.sleep(wait)
            last = ""
            for _ in range(runs):
                t = time.perf_counter()
                page.click("#reconstruct")
                # Every request writes a new job folder: wait for the download links to change.
                page.wait_for_function(
                    "prev => { const a = document.querySelector('#downloads a');"
                    " return (a && a.href !== prev) || document.querySelector('#status.error'); }",
                    arg=last, timeout=600_000)
                out["runs"].append(time.perf_counter() - t)
                if page.query_selector("#status.error"):
                    raise SystemExit(page.inner_text("#status"))
                last = page.eval_on_selector("#downloads a", "a => a.href")
                cells = page.eval_on_selector_all("#timings [role=gridcell]", "cs => cs.map(c => c.innerText)")
                total = [float(cells[i + 1]) for i in range(0, len(cells) - 1, 2) if cells[i].startswith("total")]
                out["server_totals"].append(total[0] if total else float("nan"))
                out["stages"].append(_stages(page))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default="data/library")
    ap.add_argument("--example", default="living_room")
    ap.add_argument("--method", default=DEFAULT_METHOD, choices=method_names())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", choices=["off", "quick", "full"], default="quick")
    ap.add_argument("--wait", type=float, default=0.0, help="seconds to wait after the page loads "
                    "(a person reading the page; lets a warm-up finish)")
    ap.add_argument("--photo", default=None, help="a photo to upload in the Photo tab (perceived first)")
    ap.add_argument("--models", default=None, help="perception models folder for --photo")
    ap.add_argument("--labels", default="", help="what to look for in --photo")
    ap.add_argument("--uncheck", action="append", default=[], metavar="FIELD",
                    help="untick the page's control of this boolean setting (e.g. render_refine)")
    args = ap.parse_args(argv)
    if not Path("/usr/bin/chromium").is_file():
        print("needs /usr/bin/chromium", file=sys.stderr)
        return 2
    r = measure(args.library, args.example, args.method, args.runs, args.warmup,
                uncheck=tuple(args.uncheck), wait=args.wait, photo=args.photo, models=args.models,
                labels=args.labels)
    print("| server ready | first page load | reload | " + " | ".join(f"run {i + 1}" for i in range(args.runs)) + " |")
    print("|---" * (3 + args.runs) + "|")
    print(f"| {r['server_ready']:.1f} s | {r['first_load']:.2f} s | {r['reload']:.2f} s | "
          + " | ".join(f"{c:.1f} s ({s:.1f})" for c, s in zip(r["runs"], r["server_totals"])) + " |")
    if "perceive" in r:
        print(f"\nPerceive (click → overlay shown): {r['perceive']:.1f} s")
    for i, stages in enumerate(r["stages"]):
        print(f"- {'perceive' if 'perceive' in r and i == 0 else 'reconstruct'}: {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
