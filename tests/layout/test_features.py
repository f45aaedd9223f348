"""Appearance descriptors: classical colour/shape and the DINOv2 path with a tiny saved model."""

import numpy as np
import pytest

from scenewright.errors import InputError
from scenewright.methods.layout.features import (ClassicalFeatures, Dinov2Features, crop_to_mask,
                                                 make_extractor, rgb_to_hsv)
from tolerance import reorder_atol, rms


def _blob(colour, shape="square", size=64):
    rgb = np.zeros((size, size, 3), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    if shape == "square":
        mask = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
    else:
        mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    rgb[mask] = colour
    return rgb, mask


def test_crop_keeps_aspect_and_zeroes_background():
    rgb = np.full((40, 60, 3), 200, np.uint8)
    mask = np.zeros((40, 60), bool)
    mask[0:10, 50:60] = True          # touches the border: padding goes outside the image
    crop, cm = crop_to_mask(rgb, mask)
    assert crop.shape[0] == crop.shape[1] and cm.sum() == 100
    assert np.all(crop[~cm] == 0) and np.all(crop[cm] == 200)


def test_hsv_matches_colorsys():
    import colorsys
    px = np.array([[255, 0, 0], [10, 200, 30], [0, 0, 0], [128, 128, 128], [20, 40, 250]], np.uint8)
    ours = rgb_to_hsv(px)
    ref = np.array([colorsys.rgb_to_hsv(*(p / 255.0)) for p in px])
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_classical_separates_colour_and_shape():
    f = ClassicalFeatures()
    red_sq, blue_sq, red_disc = _blob((200, 30, 30)), _blob((30, 30, 200)), _blob((200, 30, 30), "disc")
    feats = f([c[0] for c in (red_sq, blue_sq, red_disc)], [c[1] for c in (red_sq, blue_sq, red_disc)])
    assert feats.shape[0] == 3
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-5)
    again = f([red_sq[0]], [red_sq[1]])[0]
    assert again @ feats[0] > 0.999
    assert feats[0] @ feats[2] > feats[0] @ feats[1]      # colour dominates shape
    assert feats[0] @ feats[2] < 0.99                    # but shape still counts


def test_dinov2_saved_model_loads_and_embeds(tiny_dinov2):
    ext = make_extractor("auto", str(tiny_dinov2))
    assert isinstance(ext, Dinov2Features) and ext.size == 56
    blobs = [_blob((200, 30, 30)), _blob((30, 200, 30), "disc"), _blob((200, 30, 30))]
    feats = ext([b[0] for b in blobs], [b[1] for b in blobs])
    assert feats.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1, atol=reorder_atol(1.0, 64), rtol=0)
    assert feats[0] @ feats[2] > 0.9999          # deterministic
    assert feats[0] @ feats[1] < 0.9999          # different inputs differ
    # the same weights loaded again give the same descriptors (nothing random at load)
    again = Dinov2Features(tiny_dinov2)([blobs[0][0]], [blobs[0][1]])[0]
    # A batch of one runs other kernels than a batch of three (other summation orders): the
    # longest reduction is the 3·14·14 patch embedding, then 2 layers of attention + MLP and
    # the pooling; unit-normalised rows keep the relative error, at the rows' entry size.
    np.testing.assert_allclose(again, feats[0], atol=reorder_atol(rms(feats), 3 * 14 * 14, 6), rtol=0)


def test_feature_choice_errors(tmp_path):
    assert isinstance(make_extractor("auto", None), ClassicalFeatures)
    assert isinstance(make_extractor("classical", None), ClassicalFeatures)
    with pytest.raises(InputError, match="dinov2_weights"):
        make_extractor("dinov2", None)
    with pytest.raises(InputError, match="config.json"):
        make_extractor("dinov2", str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InputError):
        make_extractor("dinov2", str(tmp_path))
