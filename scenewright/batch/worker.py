"""One worker of a batch: warm state built once, then one capture after another.

:class:`Reconstructor` is a plain class. The sequential path (``--address none``)
makes one in this process; the Ray path wraps the very same class as an actor
(``ray.remote(Reconstructor)``), one per worker, so both run identical code.

Warm state, built in ``__init__`` and kept for every capture the worker gets:
- layout: the opened library, its retrieval index (surface samples and sizes of
  every asset) and an offscreen renderer for render-and-compare pose refinement;
- boxes: nothing worth keeping (no library, the preview makes its own renderer);
- midi: the loaded pipeline (checkpoint on the settings' device and dtype), made on
  the first capture and reused.
"""

from __future__ import annotations

import copy
import os
import socket
import time
import traceback
from pathlib import Path

from scenewright.batch.inputs import CaptureJob
from scenewright.batch.settings import BatchSettings, method_settings
from scenewright.errors import InputError, one_line_reason


class Reconstructor:
    """Reconstructs captures with one method and one set of settings (see the module docstring)."""

    def __init__(self, batch: BatchSettings):
        t0 = time.perf_counter()
        self.batch = batch
        self.settings = method_settings(batch)
        self.library = None
        self.renderer = None
        self.notes: list[str] = []
        self.host, self.pid = socket.gethostname(), os.getpid()
        if batch.method == "layout":
            from scenewright.library import Library
            from scenewright.methods.layout.retrieval import library_index
            self.library = Library.open(batch.library)
            library_index(self.library, self.settings.retrieval.n_points, self.settings.seed)
            if self.settings.render_refine:
                try:
                    from scenewright.render import Renderer
                    n = self.settings.pose.render_size
                    self.renderer = Renderer(n, n)
                except Exception as exc:    # no EGL on this node: the pipeline falls back itself
                    self.notes.append(f"no renderer ({type(exc).__name__}: {exc})")
        self.warmup_s = time.perf_counter() - t0

    def info(self) -> dict:
        """Where this worker runs and what its warm-up cost (seconds)."""
        return {"worker": f"{self.host}:{self.pid}", "host": self.host, "pid": self.pid,
                "warmup_s": round(self.warmup_s, 4), "notes": list(self.notes)}

    def run(self, job: CaptureJob, out_dir: str, overwrite: bool = False) -> dict:
        """Reconstruct one capture into ``out_dir`` (written atomically by the method).

        Never raises for a bad capture or a method error: the returned record says
        ``status`` ``"ok"`` or ``"failed"`` with ``error`` (the message, naming the file
        when the method's error does) and the last lines of the ``traceback``.
        """
        t0 = time.perf_counter()
        record = {"name": job.name, "capture": str(job.path), "out": str(out_dir),
                  "worker": f"{self.host}:{self.pid}"}
        try:
            scene = self._run(Path(job.path), Path(out_dir), overwrite)
            record.update(status="ok", n_instances=len(scene.instances),
                          n_meshes=sum(i.mesh is not None for i in scene.instances),
                          timings_s=dict(scene.timings_s))
        except InputError as exc:
            record.update(status="failed", error=one_line_reason(exc))
        except Exception as exc:   # a method bug must not stop the batch: record it, go on
            record.update(status="failed", error=one_line_reason(exc),
                          traceback=traceback.format_exc()[-2000:])
        record["seconds"] = round(time.perf_counter() - t0, 4)
        return record

    def _run(self, capture: Path, out: Path, overwrite: bool):
        # A copy per capture: no method may carry state from one capture to the next.
        settings = copy.deepcopy(self.settings)
        if self.batch.method == "layout":
            from scenewright.methods.layout.pipeline import run
            return run(capture, out, None, settings, overwrite=overwrite, preview=self.batch.preview,
                       progress=False, library=self.library, renderer=self.renderer)
        if self.batch.method == "boxes":
            return self._boxes(capture, out, settings, overwrite)
        from scenewright.methods.midi.pipeline import MIDIPipeline, reconstruct
        key = (str(self.batch.weights), settings.device, settings.dtype, settings.lora)
        if getattr(self, "_midi_key", None) != key:
            self._midi_pipe = MIDIPipeline.from_pretrained(self.batch.weights, settings.device, settings.dtype,
                                                           lora=settings.lora)
            self._midi_key = key
        scene, _ = reconstruct(capture, out, self.batch.weights, settings, overwrite=overwrite,
                               show_progress=False, pipe=self._midi_pipe)
        return scene

    def _boxes(self, capture: Path, out: Path, settings, overwrite: bool):
        """What ``reconstruct --method boxes`` does, without its console output."""
        from scenewright.capture import load_capture
        from scenewright.fileio import check_output_dir
        from scenewright.methods.boxes import reconstruct_boxes
        from scenewright.scene import write_scene
        t0 = time.perf_counter()
        check_output_dir(out, overwrite, inputs=[capture])
        cap = load_capture(capture)
        scene = reconstruct_boxes(cap, settings)
        preview = None
        if self.batch.preview:
            try:
                from scenewright.render import render_scene
                t = time.perf_counter()
                preview = render_scene(scene, over=cap)
                scene.timings_s["preview"] = time.perf_counter() - t
            except Exception as exc:   # the scene is valid without its preview
                scene.extra.setdefault("notes", []).append(f"preview failed: {type(exc).__name__}: {exc}")
        scene.timings_s["total"] = time.perf_counter() - t0
        write_scene(scene, out, preview=preview, overwrite=overwrite, inputs=[capture])
        return scene

    def close(self) -> None:
        """Free the renderer's GL context (the library holds only files and arrays)."""
        if self.renderer is not None:
            try:
                self.renderer.release()
            except Exception:
                pass
            self.renderer = None
