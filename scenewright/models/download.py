"""``scenewright models download``: a hub snapshot, pinned to a revision, copied into the models folder.

huggingface_hub's ``snapshot_download`` fills its own cache (``$HF_HUB_CACHE``; offline mode
``HF_HUB_OFFLINE=1`` serves a pre-populated cache), then the snapshot is copied into
``models/<name>`` atomically with a ``scenewright-model.json`` saying which repository,
revision and commit it is, and the sha256 of its weight files. The copy makes the models folder self-contained (it can be
moved to an offline machine); the hub cache can be deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, dumps_json
from scenewright.models.folder import MARKER, models_dir, weights_sha256
from scenewright.models.registry import MODELS


def download(name: str, to: str | os.PathLike | None = None, revision: str | None = None,
             overwrite: bool = True) -> Path:
    """Fetch model ``name`` into ``<models folder>/<name>``; return that folder.

    InputError (one line) when the hub cannot be reached or the revision does not exist.
    """
    if name not in MODELS:
        raise InputError(f"model {name!r}: expected one of {', '.join(MODELS)}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise InputError("huggingface_hub is not installed (pip install huggingface_hub)") from None
    spec = MODELS[name]
    rev = revision or spec.revision
    target = models_dir(to) / name
    try:
        snapshot = Path(snapshot_download(repo_id=spec.repo_id, revision=rev))
    except Exception as exc:  # offline: LocalEntryNotFoundError; RevisionNotFoundError, HfHubHTTPError…
        first = str(exc).splitlines()[0] if str(exc) else "no network?"
        raise InputError(f"{target}: cannot download {spec.repo_id}@{rev} ({type(exc).__name__}: {first}); "
                         "this needs access to huggingface.co — on an offline machine copy a models "
                         "folder from elsewhere") from None
    # The models folder is what this command fills: it is the output here, not an input to protect.
    with atomic_dir(target, overwrite=overwrite, models=False) as tmp:
        # The cache's snapshot holds symlinks into its blob store: copy the files themselves.
        shutil.copytree(snapshot, tmp, symlinks=False, dirs_exist_ok=True)
        (tmp / MARKER).write_text(dumps_json({
            "name": name, "repo_id": spec.repo_id, "revision": rev, "commit": snapshot.name,
            "licence": spec.licence, "weights_sha256": weights_sha256(tmp)}) + "\n")
    return target
