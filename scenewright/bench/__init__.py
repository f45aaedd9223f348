"""Benchmark scenes: rectangular rooms furnished with library assets by recognisable rules,
photographed from where a person would stand, with exact ground truth (``docs/bench.md``).

``scenewright.bench.generate.make_bench(out, library, BenchSettings(...))`` writes a
benchmark folder; ``scenewright bench make`` is its command line.
"""
