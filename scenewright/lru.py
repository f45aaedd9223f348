"""A bounded, thread-safe map of the most recently used entries.

What a long-running process (a batch worker, the web page) derives per library asset must
not grow with the library: every per-asset cache keeps at most ``size`` entries and drops
the least recently used. ``functools.lru_cache`` would serve a plain function, but the
caches here are filled by callers that compute outside the cache (several threads may
render at once), are asked ``in`` and iterated (the web page's warm-up reports them), and
one of them must act when entries leave (meshes sit in reference cycles; see
``library.store``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Iterator


class LRUCache:
    """``{key: value}`` holding the ``size`` most recently used entries.

    ``on_evict(key)``, if given, is called for every dropped entry after its value is let go
    and outside the lock (it may take long, touch the cache, or collect the dropped value).
    """

    def __init__(self, size: int, on_evict: Callable[[Hashable], None] | None = None):
        if size < 1:
            raise ValueError(f"cache size must be at least 1, got {size}")
        self.size = size
        self._on_evict = on_evict
        self._items: "OrderedDict[Hashable, object]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default=None):
        """The value of ``key`` (now the most recently used), else ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def peek(self, key: Hashable, default=None):
        """The value of ``key`` without making it the most recently used, else ``default``."""
        with self._lock:
            return self._items.get(key, default)

    def __setitem__(self, key: Hashable, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            dropped = self._trim()
        self._evicted(dropped)

    def get_or_load(self, key: Hashable, load: Callable[[], object]):
        """The value of ``key``, made by ``load()`` if absent. ``load`` runs outside the lock, so
        two threads may both load one key; the first stored wins and both get it."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()
        with self._lock:
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            dropped = self._trim()
        self._evicted(dropped)
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys held now, least recently used first (a snapshot: safe while others add)."""
        with self._lock:
            return iter(list(self._items))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _trim(self) -> list[Hashable]:
        dropped = []
        while len(self._items) > self.size:
            dropped.append(self._items.popitem(last=False)[0])
        return dropped

    def _evicted(self, dropped: list[Hashable]) -> None:
        if self._on_evict is not None:
            for key in dropped:
                self._on_evict(key)
