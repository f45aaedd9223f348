"""Which learned models a run uses: found in the models folder, and recorded in ``scene.json``.

:func:`resolve_method_models` fills in what a method needs from the models folder when the
user gave no explicit folder: the ``midi`` method's checkpoint (``--weights``, else
``<models>/midi``) and the layout method's DINOv2 features (``--set features=dinov2``
without ``dinov2_weights``: ``<models>/dinov2``). A model that is needed and absent is one
InputError line naming ``scenewright models download NAME``.

:func:`models_used` lists the models a finished run used (name, repository, revision,
commit, config and weight hashes) for ``scene.json["models"]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from scenewright.errors import InputError
from scenewright.models.folder import model_folder, model_identity
from scenewright.models.registry import MODELS


def method_weights_model(method_cls) -> str | None:
    """The models-folder name of the checkpoint a method needs (``midi``), or None."""
    if "weights" not in getattr(method_cls, "needs", ()):
        return None
    name = getattr(method_cls, "weights_model", getattr(method_cls, "name", None))
    return name if name in MODELS else None


def resolve_method_models(method_cls, settings, weights: str | os.PathLike | None,
                          models: str | os.PathLike | None = None) -> str | None:
    """The weights folder the method gets (``weights`` if given, else the models folder's);
    ``settings`` gains ``dinov2_weights`` from the models folder when its features ask for
    DINOv2 without one. InputError (one line, the download command) for a needed model absent."""
    weights = method_weights(method_cls, weights, models)
    resolve_setting_models(settings, models)
    return weights


def method_weights(method_cls, weights: str | os.PathLike | None,
                   models: str | os.PathLike | None = None) -> str | None:
    """``weights`` if given, else the models folder's checkpoint for the method (None when the
    method needs none); InputError naming both ways when it needs one and there is none."""
    name = method_weights_model(method_cls)
    if name is not None and not weights:
        try:
            weights = str(model_folder(name, models))
        except InputError as exc:
            raise InputError(f"--method {method_cls.name} needs --weights DIR or its checkpoint in the "
                             f"models folder: {exc}") from None
    return None if weights is None else str(weights)


def resolve_setting_models(settings, models: str | os.PathLike | None = None) -> None:
    """``features = "dinov2"`` without ``dinov2_weights``: the models folder's ``dinov2``."""
    if getattr(settings, "features", None) == "dinov2" and hasattr(settings, "dinov2_weights") \
            and not settings.dinov2_weights:
        try:
            settings.dinov2_weights = str(model_folder("dinov2", models))
        except InputError as exc:
            raise InputError(f"{exc} (or --set dinov2_weights=DIR)") from None


def _identities(value) -> list[dict]:
    """Model identity dicts (they carry a ``folder``) anywhere inside a perception record entry."""
    if isinstance(value, dict):
        if "folder" in value and ("config_sha256" in value or "repo_id" in value):
            return [value]
        return [i for v in value.values() for i in _identities(v)]
    return []


def models_used(method, perception=None) -> list[dict]:
    """Every learned model behind a scene: perception's (depth, detector, segmenter), the
    method's checkpoint and the model folders its settings read; one entry per folder."""
    found: list[dict] = []
    if perception is not None:
        for entry in perception.inputs.values():
            found += _identities(entry.get("by") if isinstance(entry, dict) else None)
    weights = getattr(getattr(method, "resources", None), "weights_path", None)
    if weights is not None and "weights" in getattr(method, "needs", ()):
        found.append(model_identity(weights, method_weights_model(type(method)) or Path(weights).name))
    for path in method.reads(method.settings):
        folder = Path(path)
        if (folder / "config.json").is_file() or (folder / "model_index.json").is_file():
            found.append(model_identity(folder, folder.name))
    out, seen = [], set()
    for ident in found:
        key = str(Path(ident["folder"]).resolve())
        if key in seen:
            continue
        seen.add(key)
        out.append({k: ident.get(k) for k in ("name", "repo_id", "revision", "commit", "config_sha256",
                                              "weights_sha256", "class", "folder") if ident.get(k) is not None})
    return out
