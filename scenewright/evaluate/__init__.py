"""Scoring predicted scenes against benchmark ground truth (``scenewright eval``).

``evaluator.evaluate_bench`` / ``evaluate_scene`` with ``EvalSettings``; metrics in
``points`` (P1 "MIDI protocol (corrected ICP)" and P2-style), ``layout``, ``symmetry``
(yaw symmetry group of a GT shape) and ``plausibility``; ``synthetic.make_toy_bench``
builds a benchmark of primitives for tests.
Kept import-light so ``scenewright --help`` stays fast. See ``docs/evaluate.md``.
"""
