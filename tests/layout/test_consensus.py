"""The group step adopts one asset for look-alike objects (real hypotheses, no renderer)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from scenewright.methods.layout.consensus import ConsensusSettings, group_consensus
from scenewright.methods.layout.retrieval import Hypothesis


def _hyp(asset: str, score: float, yaw: float = 0.0) -> Hypothesis:
    h = Hypothesis(asset_id=asset, category="chair", yaw=yaw, scale=np.ones(3), translation=np.zeros(3))
    h.score = score
    return h


def _chair(i: int, hyps: list[Hypothesis]):
    obj = SimpleNamespace(id=i, box=SimpleNamespace(size=np.array([0.5, 0.9, 0.5])), truncated=False)
    return SimpleNamespace(obj=obj, category="chair", hypotheses=hyps)


def test_the_adopted_hypothesis_moves_first_even_beside_its_twin_at_the_same_yaw():
    # two hypotheses of asset B at the same yaw (equal but for their arrays' identity):
    # moving the better one must not compare their numpy fields
    twin_low, twin_high = _hyp("B", 0.80), _hyp("B", 0.85)
    first = _chair(1, [_hyp("A", 0.9), twin_low, twin_high])
    second = _chair(2, [_hyp("B", 1.0), _hyp("A", 0.5)])
    groups = group_consensus([first, second], ConsensusSettings())
    assert groups == [[1, 2]]
    assert first.hypotheses[0] is twin_high and len(first.hypotheses) == 3
    assert second.hypotheses[0].asset_id == "B"
