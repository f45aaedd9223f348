"""Photometric calibration: the picture's exposure and white balance, read off its objects.

The library's views and the pose stage's renders are flat-shaded (``scenewright.render``):
a photograph of the same objects differs by its exposure and the colour of its light, so
colour comparisons (retrieval's colour histogram, the render-and-compare colour term)
call a black chair in a dim photo "dark brown" and prefer whichever asset happens to
share the shift. The objects themselves are the colour chart: after a first retrieval +
pose pass, each confidently placed object's best hypothesis is rendered in its window
and the photo's pixels are compared with the render's, per channel,

    obs_c ≈ gain_c · render_c

with each object's median ratio and the median over objects (robust to shadows,
highlights and a wrongly identified asset). When the gain is off by more than
``apply_above`` (in natural log, per channel) the picture is divided by it and retrieval
and pose run again on the corrected picture. A picture that already looks like the
renders (the benchmark's flat pictures: the correct assets' renders match their pixels)
gives a gain of 1 and is left alone.

A gain must be what the objects say, not what a few wrong assets say: each voting object
votes for the gain or for no correction, whichever is nearer its own ratio (the three
channels together), and the gain is applied only when at least ``min_support`` (⅔) of them
vote for it (exposure and the light's colour move every object alike; wrongly identified
assets scatter either way). A refused gain is kept in ``refused`` and the picture left alone.

The second pass re-retrieves only the objects the corrected picture does not confirm: a
voter whose own ratio lies within ``explained_within`` of the gain on every channel (objects'
shading differs by about that in a photo) keeps its asset and pose (``redo`` = "all" re-runs
every object, as before).

A single gain per channel is what holds up: on the first 8 photoreal benchmark scenes,
fitted against the flat pictures with the true masks, it brings the objects' mean
|ΔRGB| from 36.8 to 32.9 (of 255; better in 6 of 8 scenes), where a gain and a contrast
exponent fitted in log space made it worse (52.8: shadows and highlights drive a log fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenewright.methods.layout.pose import make_window, observe


@dataclass
class PhotometricSettings:
    enabled: bool = True             # estimate and undo the picture's exposure and white balance
    min_iou: float = 0.6             # objects whose best render's silhouette IoU is below: not used
    min_depth: float = 0.3           # … or whose depth agreement is below
    min_objects: int = 2             # fewer confident objects: no correction
    min_pixels: int = 20             # usable pixels (per channel) an object needs to vote
    pixels_per_object: int = 400     # pixel pairs drawn per object
    dark: float = 6.0                # pixels darker than this (0..255) in either image are not used
    bright: float = 250.0            # … or brighter (clipped)
    apply_above: float = 0.1         # correct when some channel's |ln gain| exceeds this (≈ 0.14 stop)
    gain_bounds: tuple[float, float] = (0.125, 8.0)   # ±3 stops per channel
    w_edges: float = 0.0             # a corrected picture: render-and-compare also weighs edge agreement (0.5 measured worse)
    min_support: float = 2 / 3      # share of voting objects nearer the fitted gain than 1 it needs to be applied
    explained_within: float = 0.2    # |ln| per channel: an object this close to the gain is confirmed (objects' shading differs ~0.1-0.2)
    redo: str = "uncertain"          # second pass: "uncertain" (objects the correction does not confirm) | "all"


@dataclass
class ColourTransform:
    """``obs ≈ gain · render`` per channel (0..255 values)."""

    gain: np.ndarray         # (3,)
    n_objects: int           # objects that voted
    support: float | None = None           # share of voters nearer the fitted gain than 1
    refused: np.ndarray | None = None      # (3,) the fitted gain too few objects supported (then gain = 1)
    confirmed: tuple[int, ...] = ()        # object ids whose colours the gain explains (not redone)

    @property
    def size(self) -> float:
        """Largest |ln gain| over the channels (0: the picture looks like the renders)."""
        return float(np.max(np.abs(np.log(self.gain))))

    def to_json(self) -> dict:
        out = {"gain": [round(float(g), 4) for g in self.gain], "objects": self.n_objects}
        if self.support is not None:
            out.update(support=round(self.support, 3), confirmed=[int(i) for i in self.confirmed],
                       refused=None if self.refused is None else [round(float(g), 4) for g in self.refused])
        return out

    def invert(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 picture → the same in the renderer's colours (uint8)."""
        y = rgb.astype(np.float32) / self.gain.astype(np.float32)
        return np.clip(np.round(y), 0, 255).astype(np.uint8)


def object_log_gains(obs: np.ndarray, ren: np.ndarray, owner: np.ndarray,
                     settings: PhotometricSettings) -> tuple[np.ndarray, np.ndarray]:
    """(object ids (n,), their median log ratios (n, 3)) with ``obs ≈ gain · ren``, from pixel
    pairs ``obs``, ``ren`` (P, 3) in 0..255 of objects ``owner`` (P,) int.

    Clipped and very dark pixels say nothing about a ratio and are left out; an object with
    fewer than ``min_pixels`` usable pixels in some channel does not vote. A median is not
    moved by the object's highlights and shadows."""
    ok = (obs > settings.dark) & (ren > settings.dark) & (obs < settings.bright) & (ren < settings.bright)
    ids, per_object = [], []
    for k in np.unique(owner):
        rows = owner == k
        logs = []
        for c in range(3):
            use = ok[rows, c]
            if use.sum() < settings.min_pixels:
                break
            logs.append(np.median(np.log(obs[rows, c][use] / ren[rows, c][use])))
        else:
            ids.append(k)
            per_object.append(logs)
    return np.asarray(ids, int), np.asarray(per_object, float).reshape(-1, 3)


def fit_colour_gain(obs: np.ndarray, ren: np.ndarray, owner: np.ndarray,
                    settings: PhotometricSettings) -> np.ndarray | None:
    """Per-channel gain (3,) with ``obs ≈ gain · ren`` (see :func:`object_log_gains`): the
    median over objects, so a wrongly identified asset is outvoted. None when fewer than
    ``min_objects`` objects vote."""
    _, logs = object_log_gains(obs, ren, owner, settings)
    if len(logs) < settings.min_objects:
        return None
    return np.exp(np.clip(np.median(logs, axis=0), *np.log(settings.gain_bounds)))


def supported_gain(logs: np.ndarray, log_gain: np.ndarray,
                   settings: PhotometricSettings) -> tuple[np.ndarray, float, bool]:
    """(log gain, or zeros when refused; support; refused).

    ``logs`` (n, 3): the voting objects' own log ratios; ``log_gain`` (3,) their consensus.
    Each object votes for the gain or for none, whichever is nearer its own ratio (over the
    three channels at once: exposure moves them together, and a gain kept on some channels
    only would itself be a colour cast); a gain the picture would apply (some |ln gain| >
    ``apply_above``) needs ``min_support`` of the votes. A median alone lets a few wrong
    assets set a channel."""
    logs = np.asarray(logs, float).reshape(-1, 3)
    if not len(logs):
        return np.zeros(3), 0.0, False
    support = float(np.mean(np.linalg.norm(logs - log_gain, axis=1) < np.linalg.norm(logs, axis=1)))
    refused = bool(np.max(np.abs(log_gain)) > settings.apply_above and support < settings.min_support)
    return (np.zeros(3) if refused else np.asarray(log_gain, float)), support, refused


def explained(logs: np.ndarray, log_gain: np.ndarray, settings: PhotometricSettings) -> np.ndarray:
    """(n,) bool: objects (own log ratios ``logs`` (n, 3)) that the corrected picture shows in
    their render's colours on every channel, within ``explained_within``: their asset and pose
    are confirmed, not redone."""
    return np.all(np.abs(np.asarray(logs, float).reshape(-1, 3) - log_gain) <= settings.explained_within, axis=1)


def estimate_colour_transform(results, capture, scorer, settings: PhotometricSettings,
                              seed: int = 0) -> ColourTransform | None:
    """The picture's colour transform from each confidently placed object's best render.

    ``results``: the pipeline's per-object results after a retrieval + pose pass (their
    ``hypotheses[0]`` carries ``extra["render"]``); ``scorer`` a :class:`~.pose.RenderScorer`.
    """
    if scorer is None or not settings.enabled:
        return None
    rng = np.random.default_rng(seed)
    obs_px, ren_px, owner, voters = [], [], [], []
    n = 0
    for r in results:
        if not r.hypotheses or r.obj.mask is None or not r.obj.mask.any():
            continue
        h = r.hypotheses[0]
        terms = h.extra.get("render") or {}
        if terms.get("iou", 0.0) < settings.min_iou or terms.get("depth", 0.0) < settings.min_depth:
            continue
        win = make_window(r.obj.mask, capture.K, scorer.settings.render_size)
        seen = observe(capture, r.obj.id, r.obj.mask, win)
        res = scorer.render(h, win)
        both = (res.instance_ids > 0) & seen.mask & ~seen.other
        ys, xs = np.nonzero(both)
        if len(ys) < 20:
            continue
        pick = rng.choice(len(ys), min(len(ys), settings.pixels_per_object), replace=False)
        obs_px.append(seen.rgb[ys[pick], xs[pick]].astype(np.float64))
        ren_px.append(res.rgb[ys[pick], xs[pick]].astype(np.float64))
        owner.append(np.full(len(pick), n))
        voters.append(int(r.obj.id))
        n += 1
    if n < settings.min_objects:
        return None
    obs, ren, own = np.concatenate(obs_px), np.concatenate(ren_px), np.concatenate(owner)
    ids, logs = object_log_gains(obs, ren, own, settings)
    if len(logs) < settings.min_objects:
        return None
    fitted = np.clip(np.median(logs, axis=0), *np.log(settings.gain_bounds))
    log_gain, support, refused = supported_gain(logs, fitted, settings)
    agree = explained(logs, log_gain, settings)
    return ColourTransform(gain=np.exp(log_gain), n_objects=n, support=support,
                           refused=np.exp(fitted) if refused else None,
                           confirmed=tuple(int(voters[k]) for k in ids[agree]))
