"""What every reconstruction method is: :class:`Method`, and the warm :class:`Resources` it uses.

A method is a class with a ``name``, a ``Settings`` dataclass (every field that changes
the result, recorded in ``scene.json``), what it ``needs`` from the resources (an asset
``"library"``, model ``"weights"``) and from the capture (``"seg"``, ``"depth"``). It is
built once with its settings and a :class:`Resources` (the command line builds one per
run, a batch worker one per worker, the web page one per request over a process-wide
``Resources``), then ``reconstruct(capture) -> Scene`` is called for as many captures as
wanted; it reads and writes no files (everything it needs came through the resources),
and ``close()`` frees what the method itself holds. Writing the scene folder is
:func:`scenewright.run.run_to_folder`'s job, the same for every method.

See ``docs/internals.md`` ("Adding a method") for a worked example.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar

from scenewright.errors import InputError
from scenewright.library import Library
from scenewright.render import Renderer


class Resources:
    """Paths given by the user and the slow things loaded from them, shared and kept warm.

    ``library``: an asset library folder (or an opened Library, e.g. a subset made in
    memory); ``weights``: a model checkpoint folder. Loaded
    objects (the opened library, offscreen renderers per size, model pipelines) are cached
    here, so the second method built over the same Resources pays nothing. ``lock``
    serialises loading and use (one GL context, one pipeline) between threads.
    """

    def __init__(self, library=None, weights: str | os.PathLike | None = None):
        self._opened_library = None
        if library is not None and not isinstance(library, (str, os.PathLike)):
            self._opened_library, library = library, getattr(library, "root", None)
        self.library_path = None if library is None else Path(library)
        self.weights_path = None if weights is None else Path(weights)
        self.lock = threading.RLock()
        self._cache: dict[Any, Any] = {}

    def cached(self, key, make: Callable[[], Any]) -> tuple[Any, bool]:
        """(``make()``'s result, kept under ``key``; was it already there)."""
        with self.lock:
            if key in self._cache:
                return self._cache[key], True
            value = self._cache[key] = make()
            return value, False

    def loads(self) -> int:
        """How many things were loaded so far (a request that adds none found everything warm)."""
        return len(self._cache)

    def library(self):
        """The opened asset library (reopened when its ``library.json`` changes); InputError if none."""
        if self._opened_library is not None:
            return self._opened_library
        if self.library_path is None:
            raise InputError("no asset library given (pass --library DIR)")
        stamp_file = self.library_path / "library.json"
        stamp = stamp_file.stat().st_mtime if stamp_file.is_file() else -1.0
        key = ("library", str(self.library_path.resolve()), stamp)
        return self.cached(key, lambda: Library.open(self.library_path))[0]

    def renderer(self, width: int, height: int):
        """An offscreen renderer of this size, made once (raises if there is no EGL)."""
        return self.cached(("renderer", int(width), int(height)), lambda: Renderer(width, height))[0]

    def paths(self, needs: tuple[str, ...]) -> list[Path]:
        """The folders of ``needs`` ("library", "weights") that were given: what a run reads."""
        named = {"library": self.library_path, "weights": self.weights_path}
        return [named[n] for n in needs if named.get(n) is not None]

    def check(self, needs: tuple[str, ...], method: str, how_to_get: str = "") -> None:
        """InputError unless every resource in ``needs`` is given and looks right.

        ``how_to_get``: the method's hint for obtaining its weights, added to their messages.
        """
        hint = f"; {how_to_get}" if how_to_get else ""
        if "library" in needs and self._opened_library is None:
            if self.library_path is None:
                raise InputError(f"--method {method} needs --library DIR (an asset library folder)")
            if not (self.library_path / "library.json").is_file():
                raise InputError(f"{self.library_path}: not an asset library (no library.json); "
                                 "build one with `scenewright library build`")
        if "weights" in needs:
            if self.weights_path is None:
                raise InputError(f"--method {method} needs --weights DIR (a checkpoint folder){hint}")
            if not self.weights_path.is_dir():
                raise InputError(f"{self.weights_path}: weights folder not found{hint}")

    def close(self) -> None:
        """Release the renderers' GL contexts (the rest is files and arrays)."""
        with self.lock:
            for key, value in list(self._cache.items()):
                if key[0] == "renderer":
                    try:
                        value.release()
                    except Exception:       # a context lost with its display: nothing to free
                        pass
                    del self._cache[key]


class Method:
    """Base of every method (see the module docstring); subclasses set the class attributes.

    ``form``: the top-level settings fields the web page shows as controls (every other
    field is reachable there as ``KEY=VALUE``); ``stage``: what the page says while it runs.
    """

    name: ClassVar[str]
    Settings: ClassVar[type]
    summary: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()            # resources: "library", "weights"
    capture_needs: ClassVar[tuple[str, ...]] = ()    # capture channels: "seg", "depth"
    # Channels estimated from the picture (perception) when a capture folder lacks them.
    perceive_missing: ClassVar[tuple[str, ...]] = ("seg", "depth")
    how_to_get: ClassVar[str] = ""                   # how to obtain the weights it needs
    form: ClassVar[tuple[str, ...]] = ()
    stage: ClassVar[str] = "Reconstructing"

    def __init__(self, settings=None, resources: Resources | None = None, progress: bool = False):
        self.settings = settings if settings is not None else self.Settings()
        self.resources = resources if resources is not None else Resources()
        self.progress = progress
        self.notes: list[str] = []            # what building it found (no renderer, ...)
        self.resources.check(self.needs, self.name, self.how_to_get)

    @classmethod
    def reads(cls, settings) -> list:
        """Folders the ``settings`` point at (e.g. feature-model weights): a run's output must stay clear."""
        return []

    def check_capture(self, capture) -> None:
        """InputError naming the capture folder when a channel this method needs is missing."""
        if "seg" in self.capture_needs and capture.seg is None:
            raise InputError(f"{capture.path}: the {self.name} method needs seg.png (instance masks)")
        if "depth" in self.capture_needs and capture.depth is None:
            raise InputError(f"{capture.path}: the {self.name} method needs depth (depth.npy in metres "
                             "or a 16-bit depth.png in millimetres)")

    def warm(self, full: bool = False) -> None:
        """Load now what the first capture would otherwise load (``full``: everything cacheable).

        Building the method already loads what every capture needs; this is for servers
        that want the first request as fast as later ones.
        """

    def reconstruct(self, capture):
        """Capture → :class:`scenewright.scene.Scene` (nothing read or written)."""
        raise NotImplementedError

    def close(self) -> None:
        """Free what this method holds itself (shared resources stay with their owner)."""
