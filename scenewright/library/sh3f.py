"""Reading Sweet Home 3D furniture catalogs (``.sh3f``).

A ``.sh3f`` file is a zip holding ``PluginFurnitureCatalog.properties`` (Java
properties: ISO-8859-1 text, ``\\uXXXX`` escapes, ``key#N=value`` per item), the
OBJ models with their MTL files and textures, and a ``LICENSE.TXT``. Only the
properties are read here; models are extracted on demand by :func:`extract_model`.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenewright.errors import InputError

PROPERTIES = "PluginFurnitureCatalog.properties"


@dataclass(frozen=True)
class CatalogItem:
    """One piece of furniture of a catalog, as the properties describe it.

    ``width``/``depth``/``height`` are in centimetres (the catalog's unit);
    ``model_rotation`` is the (3, 3) matrix Sweet Home 3D applies to the model's
    points (as column vectors) before sizing it.
    """
    catalog: str                # catalog file stem, e.g. "BlendSwap-CC-0"
    index: int                  # N of the key#N entries
    item_id: str                # the id after '#', e.g. "armchair"
    name: str
    sh3d_category: str
    model: str                  # path of the OBJ inside the zip, no leading '/'
    multi_part: bool            # the OBJ's folder holds its MTL and textures
    width: float
    depth: float
    height: float
    model_rotation: tuple[float, ...] = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    elevation: float = 0.0
    door_or_window: bool = False
    staircase: bool = False
    creator: str = ""
    license: str = ""
    properties: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def asset_id(self) -> str:
        return f"{self.catalog}/{self.item_id}"

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) float64 rotation, rows as written in the catalog."""
        return np.asarray(self.model_rotation, dtype=np.float64).reshape(3, 3)


@dataclass
class Catalog:
    path: Path
    name: str                   # file stem
    title: str                  # the catalog's own name= entry
    license: str                # catalog-level license= entry
    license_text: str           # LICENSE.TXT, "" when absent
    items: list[CatalogItem]


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    """Java properties escapes: ``\\uXXXX``, ``\\t``…, and ``\\x`` → ``x``."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u" and i + 6 <= n and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
            out.append(chr(int(text[i + 2:i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text into a dict (logical lines, ``=``/``:`` separators)."""
    result: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        # a line ending in an odd number of backslashes continues on the next line
        while (len(line) - len(line.rstrip("\\"))) % 2 == 1 and i <= len(lines):
            line = line[:-1] + (lines[i].lstrip() if i < len(lines) else "")
            i += 1
        m = re.match(r"((?:\\.|[^=:\s\\])*)\s*[=:\s]\s*(.*)$", line)
        if m is None:
            result[_unescape(line)] = ""
            continue
        result[_unescape(m.group(1))] = _unescape(m.group(2))
    return result


def _float(props: dict, key: str, path: Path, default: float | None = None) -> float:
    value = props.get(key)
    if value is None:
        if default is None:
            raise InputError(f"{path}: {PROPERTIES} has no {key}")
        return default
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{path}: {key}={value!r} is not a number") from None


def read_catalog(path: str | Path) -> Catalog:
    """Read a catalog's item list; an unreadable or malformed file is an InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: catalog file not found")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if PROPERTIES not in names:
                raise InputError(f"{path}: not a Sweet Home 3D furniture catalog (no {PROPERTIES})")
            raw = zf.read(PROPERTIES)
            license_text = ""
            for cand in ("LICENSE.TXT", "LICENSE.txt", "license.txt"):
                if cand in names:
                    license_text = zf.read(cand).decode("utf-8", errors="replace")
                    break
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable .sh3f (zip) file ({exc})") from None
    props = parse_properties(raw.decode("latin-1"))
    stem = path.stem
    items = []
    indices = sorted({int(m.group(1)) for k in props if (m := re.fullmatch(r"id#(\d+)", k))})
    for n in indices:
        p = {k[: -len(f"#{n}")]: v for k, v in props.items() if k.endswith(f"#{n}")}
        if "model" not in p:
            raise InputError(f"{path}: item #{n} has no model")
        full_id = p["id"]
        rot = tuple(float(x) for x in p.get("modelRotation", "1 0 0 0 1 0 0 0 1").split())
        if len(rot) != 9:
            raise InputError(f"{path}: modelRotation#{n} must have 9 numbers")
        items.append(CatalogItem(
            catalog=stem, index=n,
            item_id=full_id.split("#", 1)[1] if "#" in full_id else full_id,
            name=p.get("name", full_id),
            sh3d_category=p.get("category", ""),
            model=p["model"].lstrip("/"),
            multi_part=p.get("multiPartModel", "false").strip().lower() == "true",
            width=_float(p, "width", path), depth=_float(p, "depth", path),
            height=_float(p, "height", path),
            model_rotation=rot,
            elevation=_float(p, "elevation", path, 0.0),
            door_or_window=p.get("doorOrWindow", "false").strip().lower() == "true",
            staircase="staircaseCutOutShape" in p,
            creator=p.get("creator", ""),
            license=p.get("license", props.get("license", "")),
            properties=p,
        ))
    if not items:
        raise InputError(f"{path}: the catalog lists no furniture")
    return Catalog(path=path, name=stem, title=props.get("name", stem),
                   license=props.get("license", ""), license_text=license_text, items=items)


def model_members(zf: zipfile.ZipFile, item: CatalogItem) -> list[str]:
    """Zip members an item's model needs: its folder for a multi-part model, else the OBJ."""
    if item.model not in zf.NameToInfo:
        raise InputError(f"{item.catalog}: model {item.model} of {item.item_id} is not in the catalog")
    if not item.multi_part:
        return [item.model]
    folder = item.model.rsplit("/", 1)[0] + "/" if "/" in item.model else ""
    return [n for n in zf.namelist() if n.startswith(folder) and not n.endswith("/")]


def extract_model(zf: zipfile.ZipFile, item: CatalogItem, into: Path) -> tuple[Path, str]:
    """Extract an item's model files under ``into``; returns (OBJ path, sha256 of the files).

    The hash covers every extracted byte plus the item's properties, so it changes
    when the model, a texture or a dimension changes (it drives resumable builds).
    """
    digest = hashlib.sha256()
    for key in sorted(item.properties):
        digest.update(f"{key}={item.properties[key]}\n".encode())
    for name in sorted(model_members(zf, item)):
        data = zf.read(name)
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return into / item.model, digest.hexdigest()
