"""Objects that are the same thing share one asset (Imaginarium's group step, R3).

Dining chairs of one set, twin nightstands: each is retrieved alone, and partial
views make the individual picks noisy. Objects are grouped when they have the same
category, a similar observed size and overlapping candidate lists; the group then
votes for the asset maximising ``mean score × ln(count + 1)`` over the members'
candidate lists. A member adopts it only if it is nearly as good for that member
as its own pick (``margin``), so two different chairs that happen to be alike
keep their own assets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class ConsensusSettings:
    enabled: bool = True            # objects that are the same thing (twin chairs) share one asset
    height_tol: float = 0.15        # relative difference of observed box heights
    footprint_tol: float = 0.35     # relative difference of the larger footprint side
    top_k: int = 3                  # candidate lists overlap within their top k
    margin: float = 0.25            # adopt the group's asset if within this of the member's best score


def _similar(a, b, s: ConsensusSettings) -> bool:
    if a.category is None or a.category != b.category or not a.hypotheses or not b.hypotheses:
        return False
    sa, sb = np.asarray(a.obj.box.size, float), np.asarray(b.obj.box.size, float)
    if abs(sa[1] - sb[1]) > s.height_tol * max(sa[1], sb[1]):
        return False
    fa, fb = max(sa[0], sa[2]), max(sb[0], sb[2])
    if not (a.obj.truncated or b.obj.truncated) and abs(fa - fb) > s.footprint_tol * max(fa, fb):
        return False
    ta = {h.asset_id for h in a.hypotheses[: s.top_k]}
    tb = {h.asset_id for h in b.hypotheses[: s.top_k]}
    return bool(ta & tb)


def find_groups(results, settings: ConsensusSettings) -> list[list[int]]:
    """Indices into ``results`` of each group of ≥ 2 look-alike objects (union-find)."""
    parent = list(range(len(results)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(results)):
        for j in range(i + 1, len(results)):
            if _similar(results[i], results[j], settings):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(results)):
        groups.setdefault(root(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def best_per_asset(hyps) -> dict:
    out = {}
    for h in hyps:
        if h.asset_id not in out or h.score > out[h.asset_id].score:
            out[h.asset_id] = h
    return out


def group_consensus(results, settings: ConsensusSettings, rescore=None) -> list[list[int]]:
    """Reorder members' hypotheses so the group's asset comes first; returns groups of instance ids.

    ``rescore(result, asset_id) -> list[Hypothesis]`` scores an asset a member did not
    consider (same scale as its own scores); without it such members keep their pick.
    """
    if not settings.enabled:
        return []
    out = []
    for g in find_groups(results, settings):
        per = [best_per_asset(results[i].hypotheses) for i in g]
        assets = set().union(*[set(p) for p in per])
        best_asset, best_value = None, -math.inf
        for a in sorted(assets):
            scores = [p[a].score for p in per if a in p]
            value = float(np.mean(scores)) * math.log(len(scores) + 1)
            if value > best_value:
                best_asset, best_value = a, value
        members = []
        for i, p in zip(g, per):
            r = results[i]
            own = r.hypotheses[0]
            if best_asset in p:
                h = p[best_asset]
            elif rescore is not None:
                extra = rescore(r, best_asset)
                if not extra:
                    continue
                h = extra[0]
                r.hypotheses.extend(extra)
            else:
                continue
            if h.score >= own.score - settings.margin:
                # by identity: == on hypotheses compares their numpy fields (ambiguous when two
                # share asset and yaw)
                r.hypotheses.pop(next(k for k, x in enumerate(r.hypotheses) if x is h))
                r.hypotheses.insert(0, h)
                members.append(int(r.obj.id))
        if len(members) > 1:
            out.append(members)
    return out
