"""The bounded cache every per-asset store uses (``scenewright.lru``)."""
import threading

import pytest

from scenewright.lru import LRUCache


def test_keeps_the_most_recently_used_and_reports_what_it_drops():
    dropped = []
    cache = LRUCache(2, on_evict=dropped.append)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1                 # "a" is now the most recent: "b" goes next
    cache["c"] = 3
    assert dropped == ["b"]
    assert "b" not in cache and "a" in cache and "c" in cache
    assert list(cache) == ["a", "c"] and len(cache) == 2
    assert cache.get("b", "missing") == "missing"


def test_get_or_load_loads_once_and_stores():
    calls = []
    cache = LRUCache(3)

    def load():
        calls.append(1)
        return {"mesh": 1}

    first = cache.get_or_load("k", load)
    assert cache.get_or_load("k", load) is first
    assert len(calls) == 1
    cache.clear()
    assert "k" not in cache and len(cache) == 0


def test_a_stored_none_is_a_value_not_a_miss():
    cache = LRUCache(2)
    cache["k"] = None
    assert "k" in cache
    assert cache.get("k", "default") is None
    assert cache.get_or_load("k", lambda: pytest.fail("loaded again")) is None


def test_the_eviction_hook_runs_after_the_value_is_let_go():
    """The mesh cache collects garbage in its hook: the dropped value must be unreachable by then."""
    import gc
    import weakref

    class Value:
        pass

    seen = []
    cache = LRUCache(1, on_evict=lambda key: (gc.collect(), seen.append(ref() is None)))
    v = Value()
    ref = weakref.ref(v)
    cache["a"] = v
    del v
    cache["b"] = Value()
    assert seen == [True]


def test_threads_never_exceed_the_bound():
    cache = LRUCache(8)
    sizes = []

    def work():
        for i in range(200):
            cache.get_or_load(i % 16, object)
            sizes.append(len(cache))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sizes) == 800 and max(sizes) <= 8


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        LRUCache(0)


def test_peek_reads_without_making_recent():
    cache = LRUCache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.peek("a") == 1 and cache.peek("z", 0) == 0
    cache["c"] = 3                      # "a" was only peeked at: it is still the least recent
    assert "a" not in cache and list(cache) == ["b", "c"]
