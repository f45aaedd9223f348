"""Reading photos as people have them: formats, EXIF orientation, bit depths, seg PNGs, labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scenewright.capture import seg_from_palette
from scenewright.errors import InputError
from scenewright.perception.image_input import default_vocabulary, load_image, load_seg, parse_labels

from .conftest import rgb_image


def test_exif_orientation_is_applied(tmp_path):
    # Stored 60 wide x 40 high, left half red; orientation 6 = "rotate 90° clockwise to display".
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:, :30] = (255, 0, 0)
    stored[:, 30:] = (0, 0, 255)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.rgb.shape == (60, 40, 3)             # upright: 40 wide, 60 high
    # After a clockwise turn the stored left (red) half is on top.
    top, bottom = loaded.rgb[:25].reshape(-1, 3).mean(0), loaded.rgb[35:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60
    assert any("EXIF orientation 6" in n for n in loaded.notes)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_common_formats_read_as_rgb(tmp_path, fmt):
    rgb = rgb_image(64, 48)
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(rgb).save(path, format=fmt, **({"quality": 95} if fmt != "PNG" else {}))
    loaded = load_image(path)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (48, 64, 3)
    # Lossy formats differ by their compression error only: the mean stays within a few levels.
    tolerance = 0 if fmt == "PNG" else 8
    assert np.abs(loaded.rgb.astype(int) - rgb).mean() <= tolerance


def test_grey_rgba_palette_and_16bit(tmp_path):
    grey = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    g = load_image(tmp_path / "grey.png")
    assert g.rgb.shape == (48, 64, 3) and np.array_equal(g.rgb[..., 1], grey) and g.notes

    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 32:, 3] = 255                                # left half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    a = load_image(tmp_path / "rgba.png")
    assert np.array_equal(a.rgb[0, 0], [255, 255, 255])  # transparent → white background
    assert np.array_equal(a.rgb[0, 40], [255, 0, 0])
    assert any("transparency" in n for n in a.notes)

    wide = np.zeros((48, 64), np.uint16)
    wide[:, :16], wide[:, 16:32], wide[:, 32:] = 0, 32768, 65535
    Image.fromarray(wide).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    d = load_image(tmp_path / "deep.png")
    # Scaled by the 16-bit range: 32768 / 65535 × 255 = 127.5 → 128 after rounding.
    assert d.rgb.dtype == np.uint8 and d.rgb[0, 0, 0] == 0 and d.rgb[0, 20, 0] == 128 and d.rgb[0, 40, 0] == 255
    assert any("16" in n or "I" in n for n in d.notes)

    Image.fromarray(rgb_image(64, 48)).convert("P").save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png").rgb.shape == (48, 64, 3)


def test_bad_images_are_input_errors(tmp_path):
    (tmp_path / "text.jpg").write_text("not a picture")
    with pytest.raises(InputError, match=r"text\.jpg: not an image"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "absent.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="too small"):
        load_image(tmp_path / "tiny.png")
    # A truncated JPEG: the header reads, the data does not.
    Image.fromarray(rgb_image(64, 48)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match=r"cut\.jpg"):
        load_image(tmp_path / "cut.jpg")


def test_seg_colours_and_ids(tmp_path):
    colours = np.zeros((20, 30, 3), np.uint8)
    colours[2:8, 2:10] = (255, 0, 0)
    colours[10:18, 12:28] = (0, 128, 255)
    Image.fromarray(colours).save(tmp_path / "seg_rgb.png")
    seg = load_seg(tmp_path / "seg_rgb.png", (30, 20))
    assert np.array_equal(seg, seg_from_palette(colours)) and len(np.unique(seg)) == 3 and seg[0, 0] == 0

    ids = np.zeros((20, 30), np.uint16)
    ids[1:5, 1:5], ids[6:9, 6:20] = 3, 700
    Image.fromarray(ids).save(tmp_path / "seg16.png")
    assert set(np.unique(load_seg(tmp_path / "seg16.png"))) == {0, 3, 700}

    with pytest.raises(InputError, match="differs from the image 31x20"):
        load_seg(tmp_path / "seg_rgb.png", (31, 20))
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(InputError, match="no instances"):
        load_seg(tmp_path / "empty.png")


def test_labels_and_vocabulary():
    assert parse_labels("sofa, armchair;  coffee   table.\nSofa") == ["sofa", "armchair", "coffee table"]
    assert parse_labels(None) == [] and parse_labels(" , ") == []
    vocab = default_vocabulary()
    assert "coffee table" in vocab and "sofa" in vocab and all("_" not in v for v in vocab)
