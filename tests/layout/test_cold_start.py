"""What a cold ``scenewright reconstruct`` with the layout method loads and how many BLAS threads it runs.

A capture with metric depth needs no depth estimator: torch and transformers (~2-4 s to
import) must stay unimported. By default a reconstruction leaves OpenBLAS's thread count as
it is (``scenewright.blas_threads.BLAS_THREADS`` = 0); an ``OPENBLAS_NUM_THREADS`` in the
environment is what it runs with. The CLI's reconstructing commands set that variable to one
thread before numpy is loaded, unless the environment chose a count. The limiter itself, when asked for one thread, sets it and
gives the count back. Each case runs in a new process,
as a user's command does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI's reconstruct in this process, recording the BLAS thread counts seen inside the
# method's reconstruct (from a retrieval call) and after it, and which heavy modules were imported.
PROBE = r"""
import json, sys
from threadpoolctl import threadpool_info
import scenewright.methods.layout.pipeline as pipeline
seen = []
retrieve = pipeline.retrieve
def counting(*args, **kwargs):
    seen.append(sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}))
    return retrieve(*args, **kwargs)
pipeline.retrieve = counting
from scenewright.cli import main
rc = main(["reconstruct", sys.argv[1], "-o", sys.argv[2], "--library", sys.argv[3], "--no-preview", "--quiet"])
after = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
print(json.dumps({"rc": rc, "inside": seen, "after": after,
                  "imported": sorted(m for m in ("torch", "transformers", "diffusers") if m in sys.modules)}))
"""


def _probe(capture: Path, out: Path, library: Path, env_extra: dict, script: str = PROBE) -> dict:
    """Run ``script`` in a fresh Python (no BLAS count in its environment but ``env_extra``);
    its last stdout line as JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(PYTHONPATH=str(ROOT), **env_extra)
    proc = subprocess.run([sys.executable, "-c", script, str(capture), str(out), str(library)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_given_depth_imports_no_torch_and_leaves_blas_threads_alone(small_bench, small_library, tmp_path):
    capture = sorted(small_bench.glob("scene_*/capture"))[0]
    assert (capture / "depth.npy").exists()
    found = _probe(capture, tmp_path / "default", small_library, {})
    assert found["rc"] == 0
    assert found["imported"] == []
    assert found["inside"] and all(counts == found["after"] for counts in found["inside"])
    chosen = _probe(capture, tmp_path / "chosen", small_library, {"OPENBLAS_NUM_THREADS": "1"})
    assert chosen["rc"] == 0 and chosen["inside"]
    assert all(counts == [1] for counts in chosen["inside"])
    assert json.loads((tmp_path / "chosen" / "scene.json").read_text())["instances"] == \
        json.loads((tmp_path / "default" / "scene.json").read_text())["instances"]


# The same from a process where nothing imported numpy before the CLI (a user's command): the
# probe wraps the start-up limit so that it patches retrieval right after the CLI chose the count.
STARTUP_PROBE = r"""
import json, os, sys
import scenewright.blas_threads as blas_threads
seen = []
start_up = blas_threads.limit_at_start_up
def limit_then_count(command, *args):
    made = start_up(command, *args)
    loaded_before = "numpy" in sys.modules
    from threadpoolctl import threadpool_info
    import scenewright.methods.layout.pipeline as pipeline
    retrieve = pipeline.retrieve
    def counting(*a, **k):
        seen.append(sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}))
        return retrieve(*a, **k)
    pipeline.retrieve = counting
    seen.append({"made": made, "numpy_loaded_before": loaded_before})
    return made
blas_threads.limit_at_start_up = limit_then_count
from scenewright.cli import main
rc = main(["reconstruct", sys.argv[1], "-o", sys.argv[2], "--library", sys.argv[3], "--no-preview", "--quiet"])
print(json.dumps({"rc": rc, "start": seen[0], "inside": seen[1:], "env": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


def _startup_probe(capture: Path, out: Path, library: Path, env_extra: dict) -> dict:
    return _probe(capture, out, library, env_extra, STARTUP_PROBE)


def test_the_reconstruct_command_starts_openblas_with_one_thread_unless_the_environment_chose(
        small_bench, small_library, tmp_path):
    """``scenewright reconstruct`` sets OPENBLAS_NUM_THREADS before numpy loads (no switch while
    threads run): one BLAS thread inside, the same scene as a process that kept OpenBLAS's own
    count; a count in the environment stays."""
    capture = sorted(small_bench.glob("scene_*/capture"))[0]
    started = _startup_probe(capture, tmp_path / "started", small_library, {})
    assert started["rc"] == 0
    assert started["start"] == {"made": True, "numpy_loaded_before": False}
    assert started["env"] == "1"
    assert started["inside"] and all(counts == [1] for counts in started["inside"])
    kept = _probe(capture, tmp_path / "kept", small_library, {})       # numpy loaded first: untouched
    assert json.loads((tmp_path / "started" / "scene.json").read_text())["instances"] == \
        json.loads((tmp_path / "kept" / "scene.json").read_text())["instances"]
    chosen = _startup_probe(capture, tmp_path / "chosen", small_library, {"OPENBLAS_NUM_THREADS": "2"})
    assert chosen["start"]["made"] is False and chosen["env"] == "2"
    assert all(counts == [2] for counts in chosen["inside"])


def test_other_commands_leave_the_blas_environment_alone():
    code = ("import os, sys\nfrom scenewright.blas_threads import limit_at_start_up\n"
            "print(limit_at_start_up('eval'), limit_at_start_up(None), os.environ.get('OPENBLAS_NUM_THREADS'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "False", "None"]


OVERLAP = r"""
import json
import numpy, scipy.linalg
from threadpoolctl import threadpool_info
from scenewright.blas_threads import blas_threads_limited
def counts():
    return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
seen = {"start": counts()}
first, second = blas_threads_limited(1), blas_threads_limited(1)
first.__enter__()
second.__enter__()                  # a second reconstruction starts on another thread
seen["both"] = counts()
first.__exit__(None, None, None)    # the first ends while the second still runs
seen["second_alone"] = counts()
second.__exit__(None, None, None)
seen["end"] = counts()
print(json.dumps(seen))
"""


def test_overlapping_reconstructions_share_one_limit_and_the_last_restores_it():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", OVERLAP], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["both"] == [1] and seen["second_alone"] == [1]
    assert seen["end"] == seen["start"]
