"""Fixtures for tests and benchmarks, kept out of the runtime packages.

- :mod:`scenewright.testing.library`: ``build_small_library`` — a small real asset
  library built from the Debian Sweet Home 3D catalogs by the real builder;
- :mod:`scenewright.testing.toy_bench`: ``make_toy_bench`` — a tiny benchmark of
  ray-cast primitives (no library, no renderer) for evaluator tests.
"""
