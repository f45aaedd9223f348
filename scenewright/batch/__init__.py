"""Many captures at once, on a Ray cluster or in this process (``scenewright batch``).

>>> from scenewright.batch import BatchSettings, run_batch
>>> report = run_batch("bench/", "out/", BatchSettings(method="boxes", address="local", workers=2))
>>> report["totals"]["ok"], report["totals"]["throughput_per_min"]

See ``docs/batch.md``.
"""

from scenewright.batch.inputs import CaptureJob, find_captures
from scenewright.batch.runner import BATCH_FILE, EVAL_FILE, run_batch, run_eval
from scenewright.batch.settings import BatchSettings, method_settings

__all__ = ["BATCH_FILE", "EVAL_FILE", "BatchSettings", "CaptureJob", "find_captures", "method_settings",
           "run_batch", "run_eval"]
