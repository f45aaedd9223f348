"""The web page: reconstruct a room from a picture in the browser, without writing code.

>>> from scenewright.app import AppSettings, build_app
>>> demo = build_app(AppSettings(library="data/library"))    # a gr.Blocks, not launched
>>> demo.launch(server_name="127.0.0.1", server_port=7860)   # or mount it in a FastAPI app

``scenewright app [--library LIB] [--port 7860]`` does the same from the command line.
Importing this package does not import gradio (``scenewright --help`` stays fast).
"""

from __future__ import annotations

from scenewright.app.jobs import AppSettings, JobRequest, run_job  # noqa: F401  (light: no gradio)


def build_app(settings: AppSettings | None = None):
    """The page as a ``gr.Blocks`` (see :func:`scenewright.app.page.build_app`)."""
    from scenewright.app.page import build_app as _build
    return _build(settings)


def launch_app(settings: AppSettings, block: bool = True):
    """Build and serve the page (see :func:`scenewright.app.page.launch_app`)."""
    from scenewright.app.page import launch_app as _launch
    return _launch(settings, block=block)


__all__ = ["AppSettings", "JobRequest", "build_app", "launch_app", "run_job"]
