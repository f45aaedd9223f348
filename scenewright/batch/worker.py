"""One worker of a batch: a method built once (warm), then one capture after another.

:class:`Reconstructor` is a plain class. The sequential path (``--address none``)
makes one in this process; the Ray path wraps the very same class as an actor
(``ray.remote(Reconstructor)``), one per worker, so both run identical code.

Warm state, built in ``__init__`` and kept for every capture the worker gets, is the
method's own (:class:`scenewright.methods.base.Method` built over this worker's
:class:`~scenewright.methods.base.Resources`): for layout the opened library, its
retrieval index and the pose renderer; for midi the loaded pipeline (on the first
capture); for boxes nothing. Images (and captures lacking the seg or depth the method
wants) are perceived first with the perception models, loaded on the first such capture
and kept warm too.
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
from scenewright.capture import DEFAULT_MAX_INSTANCES, check_limits
from scenewright.errors import InputError, one_line_reason
from scenewright.run import build_method, run_to_folder


def needs_perception(job: CaptureJob, batch: BatchSettings) -> bool:
    """An image, or a capture folder missing a channel the method cannot work without
    (``capture_needs``: seg for every method, depth for boxes). A capture without depth for a
    method that copes (layout's ``depth.mode``) goes to the method as it is, so batches of
    ``bench degrade`` captures measure the method, not the depth model."""
    from scenewright.methods.registry import get_method
    from scenewright.perception.cli import lacks_inputs
    return job.is_image or lacks_inputs(job.path, wanted=tuple(get_method(batch.method).capture_needs))


class Reconstructor:
    """Reconstructs captures with one method and one set of settings (see the module docstring)."""

    def __init__(self, batch: BatchSettings):
        t0 = time.perf_counter()
        self.batch = batch
        self.settings = method_settings(batch)
        self.resources = batch.resources()
        self.method = build_method(batch.method, copy.deepcopy(self.settings), self.resources)
        self.notes: list[str] = list(self.method.notes)
        # MIDI denoises all instances jointly: its own setting is its limit unless one is given.
        self.max_instances = batch.max_instances or getattr(self.settings, "max_instances", None) \
            or DEFAULT_MAX_INSTANCES
        self._perception_models = None
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.warmup_s = time.perf_counter() - t0

    def info(self) -> dict:
        """Where this worker runs and what its warm-up cost (seconds)."""
        return {"worker": f"{self.host}:{self.pid}", "host": self.host, "pid": self.pid,
                "warmup_s": round(self.warmup_s, 4), "notes": list(self.notes)}

    def perception_models(self):
        """The perception models (depth, detector, segmenter), loaded on first use and kept."""
        if self._perception_models is None:
            from scenewright.perception.from_image import PerceptionModels
            settings = self.batch.image_settings()
            self._perception_models = PerceptionModels(self.batch.models, settings.device, settings)
        return self._perception_models

    def perceive(self, job: CaptureJob):
        """(Capture, PerceptionRecord) of an image or incomplete capture; labels from the image's
        own file (``NAME.txt`` / ``labels.json``), else ``--labels``, else the default vocabulary."""
        from scenewright.perception.cli import perceive_input
        from scenewright.perception.image_input import parse_labels
        models = self.perception_models()
        text = job.labels if job.labels is not None else self.batch.labels
        capture, record = perceive_input(job.path, job.seg, parse_labels(text), models, models.settings)
        where = job.labels_from or ("--labels" if self.batch.labels else None)
        entry = record.inputs.setdefault("labels", {})
        if where and "vocabulary_from" in entry:
            entry["vocabulary_from"] = where          # the file the label text came from
        elif where and text:
            entry["text_from"] = where
        if job.seg is not None:
            record.inputs.setdefault("seg", {})["file"] = str(job.seg)
        if len(capture.instance_ids) > self.max_instances:
            raise InputError(f"{job.path}: {len(capture.instance_ids)} instances found, more than the limit "
                             f"of {self.max_instances} (raise it: --max-instances)")
        return capture, record

    def run(self, job: CaptureJob, out_dir: str, overwrite: bool = False) -> dict:
        """Reconstruct one capture into ``out_dir`` (written atomically by :func:`run_to_folder`).

        Never raises for a bad capture or a method error: the returned record says
        ``status`` ``"ok"`` or ``"failed"`` with ``error`` (the message, naming the file
        when the method's error does) and the last lines of the ``traceback``.
        """
        t0 = time.perf_counter()
        record = {"name": job.name, "capture": str(job.path), "out": str(out_dir),
                  "worker": f"{self.host}:{self.pid}"}
        try:
            # Fresh settings per capture: no method may carry state from one capture to the next.
            self.method.settings = copy.deepcopy(self.settings)
            capture, perception = Path(job.path), None
            if not job.is_image:
                check_limits(job.path, max_pixels=self.batch.max_pixels, max_instances=self.max_instances)
            if needs_perception(job, self.batch):
                capture, perception = self.perceive(job)
                record["perceived"] = {k: v.get("source") for k, v in perception.inputs.items()}
            scene = run_to_folder(capture, Path(out_dir), self.method, overwrite=overwrite,
                                  preview=self.batch.preview, perception=perception,
                                  settle=self.batch.settle, room=self.batch.room, ceiling=self.batch.ceiling,
                                  depth=self.batch.depth)
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

    def close(self) -> None:
        """Close the method and free the renderers' GL contexts."""
        self.method.close()
        self.resources.close()
