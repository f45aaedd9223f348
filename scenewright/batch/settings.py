"""What a batch run is made of: :class:`BatchSettings` and the method settings it builds.

A batch reconstructs every capture with one method and one set of method settings.
Those settings are built here (the method's own dataclass: ``LayoutSettings``,
``BoxesSettings`` or ``MIDISettings``, with ``--seed`` and ``--set KEY=VALUE``
overrides), so the sequential path and every Ray worker build exactly the same ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from scenewright.errors import InputError

METHODS = ("layout", "boxes", "midi")
SEQUENTIAL = "none"          # --address none: in this process, no Ray


@dataclass
class BatchSettings:
    """Everything a ``scenewright batch`` run needs; recorded in ``OUT_ROOT/batch.json``.

    ``address``: ``"local"`` starts a Ray cluster on this machine (``workers`` CPUs),
    ``"auto"``, ``"HOST:PORT"`` (the head's GCS address) or ``"ray://HOST:PORT"`` (Ray
    Client) joins a running one, ``"none"`` runs in this
    process without Ray. ``workers``: actors (each keeps its own library, index and
    renderer); None = as many as the cluster's CPUs allow (``cpus_per_task`` each).
    ``overrides``: ``KEY=VALUE`` strings applied to the method's settings dataclass
    (dotted keys reach nested ones, values are JSON: ``pose.render_assets=5``).
    """

    method: str = "layout"
    library: str | None = "data/library"   # layout only
    weights: str | None = None             # midi only
    address: str = "local"
    workers: int | None = None
    cpus_per_task: float = 1.0
    resume: bool = True
    overwrite: bool = False                # replace scene folders this batch did not write
    preview: bool = False                  # preview.png per scene (a render per capture)
    seed: int | None = None                # None: the method's default seed
    overrides: tuple[str, ...] = ()
    limit: int | None = None
    eval_bench: str | None = None
    eval_points: int = 20480               # surface points per object for --eval (the evaluator's default)

    def validate(self) -> None:
        """InputError for settings no batch can run with."""
        if self.method not in METHODS:
            raise InputError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.method == "layout" and not self.library:
            raise InputError("--method layout needs --library DIR (an asset library folder)")
        if self.method == "layout" and not (Path(self.library) / "library.json").is_file():
            raise InputError(f"{self.library}: not an asset library (no library.json); "
                             "build one with `scenewright library build`")
        if self.method == "midi" and not self.weights:
            raise InputError("--method midi needs --weights DIR (see `scenewright models download midi`)")
        if self.method == "midi" and not Path(self.weights).is_dir():
            raise InputError(f"{self.weights}: weights folder not found")
        if not (self.address in ("local", "auto", SEQUENTIAL)
                or re.fullmatch(r"(ray://)?[\w.\-]+:\d+", self.address)):
            raise InputError(f"--address must be local, auto, none, HOST:PORT or ray://HOST:PORT, "
                             f"not {self.address!r}")
        if self.workers is not None and not 1 <= self.workers <= 1024:
            raise InputError(f"--workers must be between 1 and 1024, got {self.workers}")
        if not 0 < self.cpus_per_task <= 256:
            raise InputError(f"--cpus-per-task must be > 0 (and at most 256), got {self.cpus_per_task}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be at least 1, got {self.limit}")
        if self.eval_bench is not None and not (Path(self.eval_bench) / "manifest.json").is_file():
            raise InputError(f"{self.eval_bench}: not a benchmark folder (no manifest.json) for --eval")
        if not 100 <= self.eval_points <= 1_000_000:
            raise InputError(f"--eval-points must be between 100 and 1000000, got {self.eval_points}")
        method_settings(self)          # bad --set values fail before any work starts

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["overrides"] = list(self.overrides)
        for key in ("library", "weights", "eval_bench"):
            if data[key] is not None:
                data[key] = str(Path(data[key]).resolve())
        return data


def method_settings(batch: BatchSettings):
    """The method's settings dataclass for this batch (seed and ``--set`` overrides applied)."""
    if batch.method == "layout":
        from scenewright.methods.layout.pipeline import LayoutSettings
        s = LayoutSettings()
    elif batch.method == "boxes":
        from scenewright.methods.boxes import BoxesSettings
        s = BoxesSettings()
    else:
        from scenewright.methods.midi.pipeline import MIDISettings
        s = MIDISettings()
    if batch.seed is not None:
        s.seed = int(batch.seed)
    for item in batch.overrides:
        apply_override(s, item)
    if batch.method == "midi":
        s.validate()
    return s


def apply_override(settings, item: str) -> None:
    """Set one ``KEY=VALUE`` (dotted key, JSON value) on a settings dataclass; InputError if wrong."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: expected KEY=VALUE")
    *path, leaf = key.strip().split(".")
    target = settings
    for part in path:
        if not dataclasses.is_dataclass(getattr(target, part, None)):
            raise InputError(f"--set {item!r}: {type(target).__name__} has no settings group {part!r}")
        target = getattr(target, part)
    names = {f.name for f in dataclasses.fields(target)}
    if leaf not in names:
        raise InputError(f"--set {item!r}: {type(target).__name__} has no field {leaf!r} "
                         f"(fields: {', '.join(sorted(names))})")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw                    # a bare word is a string: features=classical
    old = getattr(target, leaf)
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if old is not None and (isinstance(old, bool) != isinstance(value, bool)
                            or (isinstance(old, (int, float)) and not isinstance(value, (int, float)))
                            or (isinstance(old, str) and not isinstance(value, str))):
        raise InputError(f"--set {item!r}: {leaf} is a {type(old).__name__}, got {value!r}")
    setattr(target, leaf, value)


def settings_json(settings) -> dict:
    """A method settings dataclass as plain JSON values (tuples → lists), as scene.json stores it."""
    from scenewright.fileio import dumps_json
    return json.loads(dumps_json(dataclasses.asdict(settings)))


def fingerprint(batch: BatchSettings, method_json: dict, library_version: str | None) -> dict:
    """What decides a capture's result: a resumed capture is skipped only if this is unchanged.

    The library is named by its resolved path and version, the weights by their path:
    the layout settings alone do not say which assets were retrieved from.
    """
    data = {"method": batch.method, "settings": method_json, "preview": batch.preview,
            "library": None, "library_version": None, "weights": None}
    if batch.method == "layout":
        data["library"] = os.path.realpath(batch.library)
        data["library_version"] = library_version
    if batch.method == "midi":
        data["weights"] = os.path.realpath(batch.weights)
    text = json.dumps(data, sort_keys=True)
    data["key"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return data
