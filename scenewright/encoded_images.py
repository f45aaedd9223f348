"""Textures that remember the file bytes they were decoded from.

A library asset's texture is a PNG inside its ``mesh.glb``; trimesh decodes it to a PIL
image, and an export would encode those pixels to PNG again — 0.1-0.3 CPU-s per 2048²
atlas, most of what writing a scene's GLB costs. When the library loads a mesh it records
the original bytes in ``image.info`` (:func:`remember_encoding`), and an export writes them
as they are (:func:`original_encoding`): the same pixels, no encoding.

The record holds the image's mode and size when it was made. PIL copies ``info`` to the
result of ``copy``, ``convert``, ``resize`` and the like, so a derived image whose mode or
size changed is not taken for its source; pixels edited in place (which nothing in
scenewright does to a library texture: the library shares its meshes) would be.
"""

from __future__ import annotations

import json
import struct

ENCODED_KEY = "scenewright.encoded"
MIME_TYPES = ("image/png", "image/jpeg")


def remember_encoding(image, data: bytes, mime: str) -> None:
    """Record that ``image`` (PIL) is the decoding of ``data`` (a PNG or JPEG file's bytes)."""
    if mime in MIME_TYPES:
        image.info[ENCODED_KEY] = (image.mode, tuple(image.size), mime, bytes(data))


def original_encoding(image) -> tuple[str, bytes] | None:
    """(mime type, file bytes) ``image`` was decoded from, if recorded and still its mode and size."""
    found = getattr(image, "info", {}).get(ENCODED_KEY)
    if found is None:
        return None
    mode, size, mime, data = found
    if mode != image.mode or tuple(size) != tuple(image.size):
        return None
    return mime, data


def glb_images(data: bytes) -> list[tuple[str, bytes]]:
    """The (mime type, bytes) of every image embedded in a GLB file's binary chunk, in the
    order of its ``images`` array; [] for a file that is not a GLB or has none."""
    if len(data) < 20 or data[:4] != b"glTF":
        return []
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != 0x4E4F534A:                       # "JSON"
        return []
    doc = json.loads(data[20:20 + json_length])
    binary_start = 20 + json_length
    if len(data) < binary_start + 8:
        return []
    bin_length, bin_type = struct.unpack_from("<II", data, binary_start)
    if bin_type != 0x004E4942:                        # "BIN\0"
        return []
    binary = memoryview(data)[binary_start + 8: binary_start + 8 + bin_length]
    images = []
    for image in doc.get("images", []):
        view = doc.get("bufferViews", [])[image["bufferView"]] if "bufferView" in image else None
        if view is None or view.get("buffer", 0) != 0:
            return []                                  # an external or URI image: not ours to copy
        start = view.get("byteOffset", 0)
        images.append((image.get("mimeType", ""), bytes(binary[start:start + view["byteLength"]])))
    return images
