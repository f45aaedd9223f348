"""Photometric calibration: the picture's per-channel gain read off its objects, and undone."""

from __future__ import annotations

import numpy as np

from scenewright.methods.layout.photometric import (ColourTransform, PhotometricSettings, explained, fit_colour_gain,
                                                     object_log_gains, supported_gain)


def _pairs(gain, n_objects=6, per_object=400, seed=0, wrong=()):
    """Rendered colours and the photo's: obs = gain · ren · shading, shading log-normal (σ 0.1)
    around 1 with 10 % of each object's pixels in highlight (clipped at 255); objects in
    ``wrong`` show a colour unrelated to their render (a misidentified asset)."""
    rng = np.random.default_rng(seed)
    ren, obs, own = [], [], []
    for k in range(n_objects):
        r = rng.uniform(30, 200, (per_object, 3))
        o = r * np.asarray(gain) * np.exp(0.1 * rng.standard_normal((per_object, 1)))
        o[: per_object // 10] = 255.0
        if k in wrong:
            o = rng.uniform(10, 240, (per_object, 3))
        ren.append(r)
        obs.append(np.clip(o, 0, 255))
        own.append(np.full(per_object, k))
    return np.concatenate(obs), np.concatenate(ren), np.concatenate(own)


def test_gain_recovered_despite_highlights_and_a_wrong_object():
    gain = np.array([0.7, 0.55, 0.4])
    obs, ren, own = _pairs(gain, wrong=(2,))
    fit = fit_colour_gain(obs, ren, own, PhotometricSettings())
    # each object's median of 360 log-normal ratios (σ 0.1) is within ~0.02 of the truth
    # (3 standard errors); the median over 6 objects is no worse, one unrelated object outvoted
    np.testing.assert_allclose(np.log(fit), np.log(gain), atol=0.03)


def test_flat_picture_gives_no_correction():
    obs, ren, own = _pairs([1.0, 1.0, 1.0], seed=1, wrong=(0,))
    t = ColourTransform(fit_colour_gain(obs, ren, own, PhotometricSettings()), 6)
    assert t.size < PhotometricSettings().apply_above


def test_too_few_objects_gives_none():
    obs, ren, own = _pairs([0.5, 0.5, 0.5], n_objects=1)
    assert fit_colour_gain(obs, ren, own, PhotometricSettings()) is None
    # an object whose pixels are all clipped or black does not vote
    obs, ren, own = _pairs([0.5, 0.5, 0.5], n_objects=2)
    obs[own == 1] = 255.0
    assert fit_colour_gain(obs, ren, own, PhotometricSettings()) is None


def test_invert_divides_and_clips():
    t = ColourTransform(np.array([0.5, 1.0, 2.0]), 3)
    rgb = np.array([[[100, 100, 100], [200, 10, 255]]], np.uint8)
    out = t.invert(rgb)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[[200, 100, 50], [255, 10, 128]]])
    assert np.isclose(t.size, np.log(2.0))


def test_edge_agreement_ignores_gain_and_tells_a_turned_front():
    from scenewright.methods.layout.pose import edge_agreement
    s = 48
    front = np.full((s, s, 3), 120.0, np.float32)
    front[:, 20:23] = 30.0                          # a dark seam between two drawers
    back = np.full((s, s, 3), 120.0, np.float32)    # the plain back of the same box
    back[10:13, :] = 30.0                           # … with one rail across
    both = np.ones((s, s), bool)
    darker = front * np.array([0.6, 0.5, 0.4], np.float32)
    assert edge_agreement(darker, front, both) > 0.99      # a gain scales gradients, the correlation ignores it
    assert edge_agreement(darker, back, both) < 0.2
    assert edge_agreement(front, front, np.zeros((s, s), bool)) == 0.0   # nothing in common: no evidence


def test_a_gain_only_a_few_objects_show_is_refused():
    """Three of five objects read redder than their renders (wrong assets of a redder finish), two
    match: the median says red × 0.82, but only 3 of 5 objects are nearer that than 1."""
    logs = np.array([[-0.20, 0.01, 0.0], [-0.22, 0.0, 0.02], [-0.25, -0.01, 0.0], [0.0, 0.0, 0.0], [0.02, 0.0, -0.01]])
    s = PhotometricSettings()
    fitted = np.median(logs, axis=0)
    log_gain, support, refused = supported_gain(logs, fitted, s)
    assert fitted[0] < -s.apply_above                       # the median alone would correct red
    assert refused and np.all(log_gain == 0.0) and support == 3 / 5
    # the same five objects under a dimmer light (every channel × 0.6) share one shift: kept
    dim = np.log(0.6) + 0.05 * np.array([[1, 0, -1], [0, 1, 0], [-1, 0, 1], [1, 1, 0], [0, -1, -1]])
    log_gain, support, refused = supported_gain(dim, np.median(dim, axis=0), s)
    assert not refused and support == 1.0 and np.allclose(log_gain, np.median(dim, axis=0))
    # a gain under the threshold is never refused (nothing to apply), whatever its support
    assert not supported_gain(logs, np.array([-0.05, 0.0, 0.0]), s)[2]


def test_a_shift_every_object_shows_is_kept_and_confirms_the_objects_it_explains():
    gain = np.array([0.7, 0.55, 0.4])
    obs, ren, own = _pairs(gain, wrong=(2,))
    s = PhotometricSettings()
    ids, logs = object_log_gains(obs, ren, own, s)
    assert ids.tolist() == list(range(6))
    log_gain, support, refused = supported_gain(logs, np.median(logs, axis=0), s)
    assert not refused and support >= 5 / 6
    # the five right assets agree with the corrected picture; the unrelated one is redone
    assert explained(logs, log_gain, s).tolist() == [True, True, False, True, True, True]
