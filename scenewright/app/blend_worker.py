"""A worker process that writes .blend files for the web page, one request per line.

``bpy`` (Blender as a Python module) keeps global state and crashes or hangs when driven
from a thread other than the one that first loaded it, while the page serves every
request from a pool of threads. So the page hands .blend exports to this one long-lived
process (:class:`BlendWorker`), which loads Blender once and runs every export on its
main thread. Protocol on stdin/stdout: a JSON line ``{"scene": DIR, "out": FILE}`` in,
a JSON line ``{"ok": true}`` or ``{"ok": false, "error": "..."}`` out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def serve(stdin=sys.stdin, stdout=sys.stdout) -> int:
    from scenewright.export import export_scene
    for line in stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            export_scene(job["scene"], job["out"], overwrite=True)
            answer = {"ok": True}
        except Exception as exc:          # told to the page as a note; the worker keeps serving
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
    return 0


class BlendWorker:
    """The page's side: starts the worker on first use, restarts it if it died."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(PACKAGE_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # Blender's own log lines go to the server's stderr, never into the answers.
        return subprocess.Popen([sys.executable, "-m", "scenewright.app.blend_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env, bufsize=1)

    def export(self, scene_dir, out) -> Path:
        """Write ``out`` (.blend) from the scene folder ``scene_dir``; RuntimeError on failure."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            self._proc.stdin.write(json.dumps({"scene": str(scene_dir), "out": str(out)}) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the Blender worker process stopped")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(answer["error"])
        return Path(out)

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.stdin.close()
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc = None


if __name__ == "__main__":
    # Blender writes "Info: Saved as ..." to stdout: answers go on a private copy of the pipe.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    sys.exit(serve(sys.stdin, answers))
