"""Preprocessing and image encoders against golden/e2e (from the PNGs, like a user)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import maxdiff
from scenewright.errors import InputError
from scenewright.methods.midi.preprocess import (clip_pixel_values, dinov2_pixel_values,
                                                 instance_ids_from_seg_image, load_image_pair,
                                                 pad_to_square, split_instances)

G = "e2e"


@pytest.fixture(scope="module")
def inputs(tiny):
    return load_image_pair(tiny / "golden" / "scene_rgb.png", tiny / "golden" / "scene_seg.png")


def test_instance_split(inputs, golden):
    g = golden(G)
    assert inputs.ids == [40, 120, 200]
    assert np.array_equal(inputs.instance_rgb, g["instance_rgb"].numpy())
    assert np.array_equal(inputs.mask, g["instance_mask"].numpy())


def test_pixel_values(pipe, inputs, golden, atol):
    g = golden(G)
    assert maxdiff(clip_pixel_values(pipe.c.feature_extractor_1, inputs), g["pixel_values_1"]) <= atol(G, "pixel_values_1")
    pv2 = dinov2_pixel_values(pipe.c.feature_extractor_2, inputs)
    assert maxdiff(pv2, g["pixel_values_2"]) <= atol(G, "pixel_values_2")
    assert set(torch.unique(pv2[:, 6]).tolist()) <= {0.0, 1.0}


def test_encoders(pipe, inputs, golden, atol):
    g = golden(G)
    e1, e2 = pipe.encode_images(inputs)
    assert maxdiff(e1, g["image_embeds_1"]) <= atol(G, "image_embeds_1")
    assert maxdiff(e2, g["image_embeds_2"]) <= atol(G, "image_embeds_2")
    with torch.no_grad():
        clip = pipe.c.image_encoder_1(pixel_values=g["pixel_values_1"])
    assert maxdiff(clip.last_hidden_state, g["clip_last_hidden_state"]) <= atol(G, "clip_last_hidden_state")


def test_palette_seg_merges_equal_luminance():
    """R10: the original reads seg as grey; palette colours of equal luminance merge."""
    pal = np.zeros((4, 4, 3), np.uint8)
    pal[0, :2] = (255, 0, 0)      # L = 76
    pal[1, :2] = (0, 0, 255)      # L = 29
    pal[2, :2] = (76, 76, 76)     # L = 76 too
    grey, values = instance_ids_from_seg_image(Image.fromarray(pal))
    assert values == [29, 76]
    assert (grey[0, :2] == grey[2, :2]).all()


def test_split_errors_and_small_instances():
    rgb = np.full((8, 8, 3), 100, np.uint8)
    with pytest.raises(InputError, match="no instances"):
        split_instances(rgb, np.zeros((8, 8), np.int32))
    with pytest.raises(InputError, match="8x8"):
        split_instances(rgb, np.zeros((8, 9), np.int32))
    seg = np.zeros((8, 8), np.int32)
    seg[3, 3] = 5                     # a one-pixel instance is kept, as the original does
    out = split_instances(rgb, seg)
    assert out.ids == [5] and out.mask[0].sum() == 255
    assert (out.instance_rgb[0, 0, 0] == 255).all() and (out.instance_rgb[0, 3, 3] == 100).all()


def test_pad_to_square():
    rgb = np.zeros((40, 60, 3), np.uint8)
    seg = np.zeros((40, 60), np.uint8)
    seg[2:38, 5:55] = 1               # union bbox fills most of the frame
    prgb, pseg = pad_to_square(rgb, seg)
    assert prgb.shape[0] == prgb.shape[1] == pseg.shape[0] == pseg.shape[1]
    assert pseg.sum() == seg.sum()                            # nothing cut away
    assert (prgb[pseg == 0] == 255).any()                     # white padding
    ys, xs = np.nonzero(pseg)
    side = pseg.shape[0]
    # The union box now covers at most 80 % (+ rounding) of the padded side.
    assert (ys.max() - ys.min() + 1) <= 0.8 * side + 2 and (xs.max() - xs.min() + 1) <= 0.8 * side + 2
    # Already small: only squared (right/bottom), content untouched.
    seg2 = np.zeros((40, 60), np.uint8)
    seg2[18:22, 28:32] = 3
    r2, s2 = pad_to_square(rgb, seg2)
    assert s2.shape == (60, 60) and np.array_equal(s2[:40, :60], seg2)
