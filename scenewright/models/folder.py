"""Finding the models folder and a model inside it; a missing model is one clear error line."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from scenewright.errors import InputError

MODELS_ENV = "SCENEWRIGHT_MODELS"
MARKER = "scenewright-model.json"       # written by `models download`: repo, revision, commit, licence
# The file that makes a folder a model of that role (a diffusers pipeline has an index, not a config).
REQUIRED_FILE = {"midi": "model_index.json"}


def default_models_dir() -> Path:
    """``$XDG_CACHE_HOME/scenewright/models`` (``~/.cache/scenewright/models``)."""
    from scenewright.config import default_models
    return default_models()


def models_dir(flag: str | os.PathLike | None = None) -> Path:
    """The models folder: ``flag`` (``--models``), else ``$SCENEWRIGHT_MODELS``, else the settings
    file's ``models``, else the default (:mod:`scenewright.config`)."""
    from scenewright.config import get
    return Path(get("models", flag or None))


def download_hint(name: str, root: Path) -> str:
    to = "" if root == models_dir() else f" --to {root}"
    return f"scenewright models download {name}{to}"


def model_folder(name: str, root: str | os.PathLike | None = None) -> Path:
    """``root/name`` if it holds a ``config.json``; else InputError naming the command that fetches it."""
    root = models_dir(root)
    folder = root / name
    required = REQUIRED_FILE.get(name, "config.json")
    if not (folder / required).is_file():
        state = f"has no {required}" if folder.is_dir() else "not found"
        raise InputError(f"{folder}: {name} model {state}; fetch it with `{download_hint(name, root)}`")
    return folder


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symlinks followed once)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def model_identity(folder: Path) -> dict:
    """What a result records about a model: repo and commit when downloaded by us, else the
    sha256 of its config.json (a folder a user saved themselves is still identified)."""
    info: dict = {"folder": str(folder)}
    marker = folder / MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text())
            info.update({k: data.get(k) for k in ("repo_id", "revision", "commit", "licence")})
        except (json.JSONDecodeError, OSError):
            pass
    config = folder / "config.json"
    if config.is_file():
        info["config_sha256"] = hashlib.sha256(config.read_bytes()).hexdigest()[:16]
    return info
