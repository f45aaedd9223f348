"""Where assets come from: Sweet Home 3D catalogs and folders of GLB/OBJ files.

Both become a :class:`Collection` of :class:`SourceItem`, so the builder treats
them alike. A folder source holds model files and an ``assets.csv``::

    id,name,category,width,depth,height[,file,creator,license]
    chair1,Oak chair,chair,0.45,0.5,0.9,chair1.glb,Jane Doe,CC-BY 4.0

Sizes are in **metres** (x, z, y extents in the object frame); an empty size
keeps the model's own extent along that axis. ``file`` defaults to ``<id>.glb``,
then ``<id>.obj``. Models must already be Y up with the front toward +Z (the glTF
convention). The asset id is ``<folder name>/<id>``; a ``LICENSE.TXT`` in the
folder is kept with the library like a catalog's.
"""

from __future__ import annotations

import csv
import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from scenewright.errors import InputError
from scenewright.library import sh3f
from scenewright.library.categories import CATEGORIES, category_for_name, is_excluded

DEFAULT_CATALOG_DIR = Path("/usr/share/sweethome3d/furniture")
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class SourceItem:
    """One asset to build. Sizes in metres; None keeps the model's own extent."""
    asset_id: str
    name: str
    category: str
    source_category: str
    catalog: str
    width: float | None
    height: float | None
    depth: float | None
    rotation: tuple[float, ...]
    creator: str
    license: str
    kind: str                   # "sh3f" | "folder"
    source: str                 # the .sh3f file, or the model file of a folder source
    member: str = ""            # the OBJ inside the zip (sh3f)
    multi_part: bool = False
    excluded: str = ""          # why the item is left out ("" = kept)
    properties: tuple = field(default=(), compare=False, repr=False)

    @property
    def folder_name(self) -> str:
        """The asset's folder under ``assets/`` (ids with odd characters made safe)."""
        catalog, _, item = self.asset_id.partition("/")
        return f"{catalog}/{re.sub(r'[^A-Za-z0-9._-]', '_', item)}"


@dataclass
class Collection:
    name: str                   # catalog file stem or folder name
    path: Path
    kind: str
    title: str
    license: str
    license_text: str
    items: list[SourceItem]


def exclusion_reason(name: str, sh3d_category: str, door_or_window: bool = False,
                     staircase: bool = False) -> str:
    if door_or_window:
        return "door or window"
    if staircase:
        return "staircase"
    if is_excluded(name, sh3d_category):
        return f"excluded ({sh3d_category or 'name'})" if sh3d_category else "excluded (name)"
    return ""


def read_sh3f(path: Path) -> Collection:
    cat = sh3f.read_catalog(path)
    items = []
    for it in cat.items:
        items.append(SourceItem(
            asset_id=it.asset_id, name=it.name,
            category=category_for_name(it.name, it.sh3d_category),
            source_category=it.sh3d_category, catalog=cat.name,
            width=it.width / 100, height=it.height / 100, depth=it.depth / 100,
            rotation=tuple(it.model_rotation), creator=it.creator, license=it.license,
            kind="sh3f", source=str(path), member=it.model, multi_part=it.multi_part,
            excluded=exclusion_reason(it.name, it.sh3d_category, it.door_or_window, it.staircase),
            properties=tuple(sorted(it.properties.items()))))
    return Collection(cat.name, path, "sh3f", cat.title, cat.license, cat.license_text, items)


def _size(row: dict, key: str, csv_path: Path, line: int) -> float | None:
    value = (row.get(key) or "").strip()
    if not value:
        return None
    try:
        size = float(value)
    except ValueError:
        raise InputError(f"{csv_path}: line {line}: {key}={value!r} is not a number") from None
    if not size > 0:
        raise InputError(f"{csv_path}: line {line}: {key} must be positive (metres), got {value}")
    return size


def read_folder(folder: Path) -> Collection:
    csv_path = folder / "assets.csv"
    if not csv_path.is_file():
        raise InputError(f"{folder}: no assets.csv (columns id, name, category, width, depth, height)")
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"id", "name", "category", "width", "depth", "height"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    license_path = next((folder / n for n in ("LICENSE.TXT", "LICENSE.txt", "LICENSE") if (folder / n).is_file()), None)
    license_text = license_path.read_text(errors="replace") if license_path else ""
    items, seen = [], set()
    for line, row in enumerate(rows, start=2):
        item_id = (row["id"] or "").strip()
        if not item_id:
            raise InputError(f"{csv_path}: line {line}: empty id")
        if item_id in seen:
            raise InputError(f"{csv_path}: line {line}: duplicate id {item_id!r}")
        seen.add(item_id)
        file = (row.get("file") or "").strip()
        candidates = [file] if file else [f"{item_id}.glb", f"{item_id}.gltf", f"{item_id}.obj"]
        model = next((folder / c for c in candidates if (folder / c).is_file()), None)
        if model is None:
            raise InputError(f"{csv_path}: line {line}: model file {candidates[0]} not found in {folder}")
        name = (row["name"] or item_id).strip()
        given = (row["category"] or "").strip()
        category = given if given in CATEGORIES else category_for_name(f"{given} {name}".strip())
        items.append(SourceItem(
            asset_id=f"{folder.name}/{item_id}", name=name, category=category,
            source_category=given, catalog=folder.name,
            width=_size(row, "width", csv_path, line), height=_size(row, "height", csv_path, line),
            depth=_size(row, "depth", csv_path, line), rotation=IDENTITY,
            creator=(row.get("creator") or "").strip(), license=(row.get("license") or "").strip(),
            kind="folder", source=str(model), excluded="",
            properties=tuple(sorted((k, v or "") for k, v in row.items() if k))))
    if not items:
        raise InputError(f"{csv_path}: lists no assets")
    return Collection(folder.name, folder, "folder", folder.name, "", license_text, items)


def read_sources(paths: list[str | Path] | None) -> list[Collection]:
    """Collections for the given ``.sh3f`` files and folders (default: every catalog
    in ``/usr/share/sweethome3d/furniture``). Unknown or broken inputs are InputErrors."""
    if not paths:
        paths = sorted(DEFAULT_CATALOG_DIR.glob("*.sh3f"))
        if not paths:
            raise InputError(f"{DEFAULT_CATALOG_DIR}: no .sh3f catalogs found (install sweethome3d "
                             "or pass --sh3f / --folder)")
    collections, names = [], set()
    for p in map(Path, paths):
        if p.is_dir():
            col = read_folder(p)
        elif p.suffix.lower() == ".sh3f":
            col = read_sh3f(p)
        elif not p.exists():
            raise InputError(f"{p}: not found")
        else:
            raise InputError(f"{p}: unknown source type (expected a .sh3f catalog or a folder with assets.csv)")
        if col.name in names:
            raise InputError(f"{p}: a second source named {col.name!r} (asset ids would clash)")
        names.add(col.name)
        collections.append(col)
    return collections


_ZIPS: dict[str, zipfile.ZipFile] = {}


def fetch_model(item: SourceItem, into: Path) -> tuple[Path, str]:
    """Put an item's model files under ``into``; returns (model path, sha256 content hash).

    The hash covers the model bytes (with its MTL and textures) and the item's
    catalog entry, so a changed model, texture or size triggers a rebuild.
    """
    if item.kind == "sh3f":
        zf = _ZIPS.get(item.source)
        if zf is None:   # keep each catalog open once per process
            zf = _ZIPS[item.source] = zipfile.ZipFile(item.source)
        cat_item = sh3f.CatalogItem(
            catalog=item.catalog, index=0, item_id=item.asset_id.split("/", 1)[1], name=item.name,
            sh3d_category=item.source_category, model=item.member, multi_part=item.multi_part,
            width=0, depth=0, height=0, properties=dict(item.properties))
        try:
            return sh3f.extract_model(zf, cat_item, into)
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise InputError(f"{item.source}: cannot extract {item.member} ({exc})") from None
    digest = hashlib.sha256()
    for key, value in item.properties:
        digest.update(f"{key}={value}\n".encode())
    model = Path(item.source)
    # folder models are read in place; hash the model with its MTL and textures
    files = [model] + (_obj_dependencies(model) if model.suffix.lower() == ".obj" else [])
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return model, digest.hexdigest()


def _obj_dependencies(obj: Path) -> list[Path]:
    """The MTL files an OBJ names and the texture files those name (existing ones)."""
    deps = []
    with open(obj, "rb") as f:
        mtls = [line.split(None, 1)[1].decode("utf-8", "replace").strip()
                for line in f if line.startswith(b"mtllib") and len(line.split()) > 1]
    for mtl in mtls:
        path = obj.parent / mtl
        if path.is_file():
            deps.append(path)
            for line in path.read_text(errors="replace").splitlines():
                words = line.split()
                if len(words) > 1 and words[0].lower().startswith("map_"):
                    tex = obj.parent / words[-1]
                    if tex.is_file():
                        deps.append(tex)
    return deps
