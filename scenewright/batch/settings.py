"""What a batch run is made of: :class:`BatchSettings` and the method settings it builds.

A batch reconstructs every capture with one method and one set of method settings.
Those settings are built here (the method's own ``Settings`` dataclass with ``--config``,
``--seed`` and ``--set KEY=VALUE`` applied by :func:`scenewright.settings.build_settings`),
so the sequential path and every Ray worker build exactly the same ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from scenewright.capture import DEPTH_OVERRIDES
from scenewright.errors import InputError
from scenewright.methods.base import Resources
from scenewright.methods.registry import DEFAULT_METHOD, get_method
from scenewright.settings import build_settings, settings_json  # noqa: F401  (settings_json: the runner's)

SEQUENTIAL = "none"          # --address none: in this process, no Ray


def _configured_library() -> str:
    from scenewright.config import get
    return get("library")


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

    method: str = DEFAULT_METHOD
    # for methods that need an asset library; default: the configured one (scenewright.config)
    library: str | None = dataclasses.field(default_factory=_configured_library)
    weights: str | None = None             # for methods that need a checkpoint
    address: str = "local"
    workers: int | None = None
    cpus_per_task: float = 1.0
    resume: bool = True
    overwrite: bool = False                # replace scene folders this batch did not write
    preview: bool = False                  # preview.png per scene (a render per capture)
    settle: bool = False                   # settle every scene under gravity (MuJoCo) before writing it
    room: bool = True                      # floor and walls (from the photo) in every scene.glb
    ceiling: bool = False                  # … and a ceiling
    depth: str | None = None               # every capture's depth taken as given|estimated|relative|none (--depth)
    seed: int | None = None                # None: the method's default seed
    config: str | None = None              # method settings file (.json or .toml)
    overrides: tuple[str, ...] = ()
    limit: int | None = None
    eval_bench: str | None = None
    eval_points: int = 20480               # surface points per object for --eval (the evaluator's default)
    max_pixels: int | None = 16_000_000    # a larger capture fails (read from its header, before any work)
    max_instances: int | None = None       # None: the method's max_instances setting, else 255
    # Images and incomplete captures: what is missing is estimated (scenewright.perception.from_image).
    models: str | None = None              # models folder (None: $SCENEWRIGHT_MODELS, else the cache)
    labels: str | None = None              # label text for images without NAME.txt / labels.json
    fov: float | None = None               # horizontal field of view (degrees) where no camera is given
    box_threshold: float = 0.30
    text_threshold: float = 0.25
    max_side: int = 2048                   # a photo's capture is reduced to this long side (0 = keep)
    device: str = "cpu"

    def validate(self) -> None:
        """InputError for settings no batch can run with."""
        cls = get_method(self.method)
        self.resources().check(cls.needs, self.method, cls.how_to_get)
        if not (self.address in ("local", "auto", SEQUENTIAL)
                or re.fullmatch(r"(ray://)?[\w.\-]+:\d+", self.address)):
            raise InputError(f"--address must be local, auto, none, HOST:PORT or ray://HOST:PORT, "
                             f"not {self.address!r}")
        if self.workers is not None and not 1 <= self.workers <= 1024:
            raise InputError(f"--workers must be between 1 and 1024, got {self.workers}")
        if not 0 < self.cpus_per_task <= 256:
            raise InputError(f"--cpus-per-task must be > 0 (and at most 256), got {self.cpus_per_task}")
        if self.max_pixels is not None and self.max_pixels < 64:
            raise InputError(f"--max-pixels {self.max_pixels}: must be at least 64")
        if self.max_instances is not None and self.max_instances < 1:
            raise InputError(f"--max-instances {self.max_instances}: must be at least 1")
        if self.depth is not None and self.depth not in DEPTH_OVERRIDES:
            raise InputError(f"--depth must be one of {', '.join(DEPTH_OVERRIDES)}, got {self.depth!r}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be at least 1, got {self.limit}")
        if self.eval_bench is not None and not (Path(self.eval_bench) / "manifest.json").is_file():
            raise InputError(f"{self.eval_bench}: not a benchmark folder (no manifest.json) for --eval")
        if not 100 <= self.eval_points <= 1_000_000:
            raise InputError(f"--eval-points must be between 100 and 1000000, got {self.eval_points}")
        method_settings(self)          # bad --set values fail before any work starts
        self.image_settings()          # bad --fov / thresholds too

    def image_settings(self):
        """How images and incomplete captures are perceived (InputError for a bad option)."""
        from scenewright.perception.cli import image_settings
        return image_settings(self.box_threshold, self.text_threshold, self.fov, self.max_side, self.device)

    def perception_json(self) -> dict:
        """What decides a perceived capture besides its files: the models folder and the options."""
        from scenewright.models.folder import models_dir
        return {"models": os.path.realpath(models_dir(self.models)), "labels": self.labels,
                **self.image_settings().to_json()}

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["overrides"] = list(self.overrides)
        for key in ("library", "weights", "eval_bench", "config", "models"):
            if data[key] is not None:
                data[key] = str(Path(data[key]).resolve())
        return data


    def resources(self) -> Resources:
        """The paths this batch's method needs, as :class:`~scenewright.methods.base.Resources`."""
        from scenewright.models.used import method_weights
        cls = get_method(self.method)
        weights = method_weights(cls, self.weights, self.models)     # else the models folder's
        return Resources(library=self.library if "library" in cls.needs else None,
                         weights=weights if "weights" in cls.needs else None)


def method_settings(batch: BatchSettings):
    """The method's settings dataclass for this batch (config, seed and ``--set`` applied;
    feature models such as DINOv2 found in the models folder when not given)."""
    from scenewright.models.used import resolve_setting_models
    settings = build_settings(get_method(batch.method).Settings, seed=batch.seed, config=batch.config,
                              overrides=batch.overrides)
    resolve_setting_models(settings, batch.models)
    return settings


def fingerprint(batch: BatchSettings, method_json: dict, library_version: str | None,
                perceives: bool = False) -> dict:
    """What decides a capture's result: a resumed capture is skipped only if this is unchanged.

    The library is named by its resolved path and version, the weights by their path:
    the layout settings alone do not say which assets were retrieved from. ``perceives``:
    some captures are images (or lack seg/depth), so the perception options count too.
    """
    data = {"method": batch.method, "settings": method_json, "preview": batch.preview,
            "library": None, "library_version": None, "weights": None}
    needs = get_method(batch.method).needs
    if "library" in needs:
        data["library"] = os.path.realpath(batch.library)
        data["library_version"] = library_version
    if "weights" in needs:
        data["weights"] = os.path.realpath(batch.resources().weights_path)
    if batch.settle:              # settled poses are another result (absent: unchanged keys of older runs)
        data["settle"] = True
    if not batch.room or batch.ceiling:     # another room in scene.glb (absent: the default room)
        data["room"] = {"room": batch.room, "ceiling": batch.ceiling}
    if batch.depth is not None:   # depth taken otherwise than declared (absent: as declared)
        data["depth"] = batch.depth
    if perceives:                 # images or incomplete captures: perception decides the result too
        data["perception"] = batch.perception_json()
    text = json.dumps(data, sort_keys=True)
    data["key"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return data
