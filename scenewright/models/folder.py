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


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def weight_files(folder: Path) -> list[Path]:
    """The weight files under ``folder`` (safetensors, bin, pt, pth, ckpt), in path order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def weights_sha256(folder: Path, chunk: int = 1 << 22) -> str:
    """One sha256 over every weight file (its path relative to ``folder``, then its bytes).

    Streams the files (4 MiB at a time): a 5 GB checkpoint takes some seconds, so
    ``models download`` stores it in the folder's ``scenewright-model.json`` and
    :func:`model_identity` reads it from there.
    """
    h = hashlib.sha256()
    for path in weight_files(folder):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def read_marker(folder: Path) -> dict:
    """``scenewright-model.json`` of a downloaded model ({} for a folder saved otherwise)."""
    marker = folder / MARKER
    if not marker.is_file():
        return {}
    try:
        data = json.loads(marker.read_text())
    except (json.JSONDecodeError, OSError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def model_identity(folder: str | os.PathLike, name: str | None = None) -> dict:
    """What a result records about a model: its role ``name``, the repository, revision and
    commit when ``models download`` fetched it (with the weights' sha256), and always the
    sha256 of its ``config.json`` (``model_index.json`` for a pipeline), so a folder a user
    saved themselves is still identified."""
    folder = Path(folder)
    info: dict = {"name": name or folder.name, "folder": str(folder)}
    data = read_marker(folder)
    info.update({k: data.get(k) for k in ("repo_id", "revision", "commit", "licence")})
    if data.get("weights_sha256"):
        info["weights_sha256"] = data["weights_sha256"]
    for config_name in ("config.json", "model_index.json"):
        config = folder / config_name
        if config.is_file():
            info["config_sha256"] = hashlib.sha256(config.read_bytes()).hexdigest()[:16]
            break
    return info


def find_model(name: str, given: str | os.PathLike | None = None,
               root: str | os.PathLike | None = None) -> Path:
    """The folder of model ``name``: ``given`` (an explicit ``--weights`` or setting) when set,
    else ``<models folder>/<name>``; InputError naming the download command when absent."""
    if given:
        return Path(given).expanduser()
    return model_folder(name, root)
