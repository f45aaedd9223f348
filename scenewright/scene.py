"""The one scene model every method returns, and reading/writing scene folders.

A scene folder (``docs/scene-format.md`` of the shared docs) holds ``scene.glb``
(one node ``inst_<id>`` per object, its transform = world_from_object, its mesh in
the object frame), ``scene.json`` (the same scene as data) and optionally
``preview.png``. Units are metres; the world is Y up with the floor at y = 0.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from scenewright.errors import InputError
from scenewright.fileio import atomic_dir, dumps_json, read_json

SCENE_FORMAT = "scene/1"
# glTF cameras look down -Z with +Y up; OpenCV cameras look down +Z with +Y down.
GLTF_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
# World frame used when nothing tells where the floor is: y_world = -y_cam, z_world = -z_cam.
WORLD_FROM_CAMERA_NO_FLOOR = GLTF_FROM_OPENCV.copy()


@dataclass
class Camera:
    """Pinhole camera. ``K`` (3, 3) in pixels; ``world_from_camera`` (4, 4) OpenCV→world or None."""

    K: np.ndarray
    width: int
    height: int
    world_from_camera: np.ndarray | None = None

    def to_json(self) -> dict:
        return {"K": np.asarray(self.K, float).tolist(), "width": int(self.width),
                "height": int(self.height),
                "world_from_camera": None if self.world_from_camera is None
                else np.asarray(self.world_from_camera, float).tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "Camera":
        wfc = data.get("world_from_camera")
        return cls(K=np.asarray(data["K"], float), width=int(data["width"]), height=int(data["height"]),
                   world_from_camera=None if wfc is None else np.asarray(wfc, float))


@dataclass
class Instance:
    """One object: its mesh in the object frame and where it stands in the world."""

    id: int
    mesh: trimesh.Trimesh | None = None
    world_from_object: np.ndarray = field(default_factory=lambda: np.eye(4))
    label: str | None = None
    category: str | None = None
    asset_id: str | None = None
    size: list[float] | None = None
    score: float | None = None
    # Anything else a method wants to record about this instance (JSON-able).
    extra: dict = field(default_factory=dict)

    @property
    def node(self) -> str:
        return f"inst_{self.id}"

    def world_mesh(self) -> trimesh.Trimesh:
        """The mesh in world coordinates (a copy)."""
        if self.mesh is None:
            raise ValueError(f"instance {self.id} has no mesh")
        m = self.mesh.copy()
        m.apply_transform(self.world_from_object)
        return m


@dataclass
class Relation:
    """A relation of the scene graph: on, against_wall, facing or same_asset_group."""

    type: str
    subject: int | None = None
    object: int | None = None
    wall: int | None = None
    members: list[int] | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class Scene:
    camera: Camera | None = None
    instances: list[Instance] = field(default_factory=list)
    floor: dict | None = None            # {"normal": [0,1,0], "height": 0.0}
    walls: list[dict] = field(default_factory=list)   # [{"point": [...], "normal": [...]}]
    relations: list[Relation] = field(default_factory=list)
    method: dict = field(default_factory=lambda: {"name": None, "version": None, "settings": {}})
    timings_s: dict = field(default_factory=dict)
    # Room surfaces as meshes already in world coordinates: {"floor": mesh, "wall_0": mesh, ...}.
    room: dict[str, trimesh.Trimesh] = field(default_factory=dict)
    # Per-asset licence and creator, so exported scenes keep their attribution.
    attribution: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def instance(self, instance_id: int) -> Instance:
        for inst in self.instances:
            if inst.id == instance_id:
                return inst
        raise KeyError(instance_id)

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "format": SCENE_FORMAT,
            "camera": None if self.camera is None else self.camera.to_json(),
            "floor": self.floor,
            "walls": self.walls,
            "instances": [],
            "relations": [r.to_json() for r in self.relations],
            "method": self.method,
            "timings_s": self.timings_s,
            "attribution": self.attribution,
        }
        for inst in self.instances:
            entry = {"id": int(inst.id), "label": inst.label, "category": inst.category,
                     "asset_id": inst.asset_id, "node": inst.node,
                     "world_from_object": np.asarray(inst.world_from_object, float).tolist(),
                     "size": None if inst.size is None else [float(s) for s in inst.size],
                     "score": None if inst.score is None else float(inst.score)}
            entry.update(inst.extra)
            data["instances"].append(entry)
        data.update(self.extra)
        return data

    def to_trimesh_scene(self, with_camera: bool = True) -> trimesh.Scene:
        """A trimesh scene with one node ``inst_<id>`` per object (transform kept, not baked)."""
        tscene = trimesh.Scene()
        for inst in self.instances:
            if inst.mesh is None:
                continue
            tscene.add_geometry(inst.mesh, node_name=inst.node, geom_name=inst.node,
                                transform=np.asarray(inst.world_from_object, float))
        for name, mesh in self.room.items():
            tscene.add_geometry(mesh, node_name=name, geom_name=name)
        if with_camera and self.camera is not None and self.camera.world_from_camera is not None:
            fx, fy = self.camera.K[0, 0], self.camera.K[1, 1]
            cam = trimesh.scene.Camera(name="camera", resolution=(self.camera.width, self.camera.height),
                                       focal=(fx, fy))
            tscene.camera = cam
            tscene.graph.update(frame_from=tscene.graph.base_frame, frame_to="camera",
                                matrix=np.asarray(self.camera.world_from_camera) @ GLTF_FROM_OPENCV)
            tscene.camera.name = "camera"
        tscene.metadata["scenewright"] = {"format": SCENE_FORMAT, "attribution": self.attribution}
        return tscene


def write_scene(scene: Scene, folder: str | os.PathLike, preview: np.ndarray | None = None,
                overwrite: bool = False, inputs=(), attach=None) -> Path:
    """Write ``scene`` as a scene folder (atomically). ``preview``: (H, W, 3) uint8 image.

    ``inputs``: folders the scene was made from (capture, library, weights); an output
    that is, contains or lies inside one is refused (:func:`scenewright.fileio.refuse_overlap`).
    ``attach``: ``attach(folder)`` writes more files into the folder before it is moved
    into place (a perceived capture), so they arrive with the scene or not at all.
    """
    folder = Path(folder)
    with atomic_dir(folder, overwrite=overwrite, inputs=inputs) as tmp:
        (tmp / "scene.glb").write_bytes(scene_glb_bytes(scene))
        (tmp / "scene.json").write_text(dumps_json(scene.to_json()) + "\n")
        if preview is not None:
            from PIL import Image
            Image.fromarray(np.asarray(preview, np.uint8)).save(tmp / "preview.png")
        if attach is not None:
            attach(tmp)
    return folder


def scene_glb_bytes(scene: Scene) -> bytes:
    """``scene.glb`` of a scene folder: objects, ``scene.room``, camera; materials' own sidedness.

    Written by :func:`scenewright.export.glb.scene_glb`, the one GLB writer.
    """
    from scenewright.export.common import ExportSettings
    from scenewright.export.glb import scene_glb
    return scene_glb(scene, ExportSettings(double_sided=False))


def load_glb_nodes(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, trimesh.Trimesh]]:
    """Read a GLB: node name → (world_from_node (4, 4), mesh in the node's own frame).

    Geometry of child nodes is merged into its top-level named node, in that node's frame.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        tscene = trimesh.load(path, force="scene", process=False)
    except Exception as exc:  # trimesh raises many kinds on corrupt input
        raise InputError(f"{path}: cannot read GLB ({type(exc).__name__}: {exc})") from None
    graph = tscene.graph
    base = graph.base_frame
    out: dict[str, tuple[np.ndarray, list]] = {}
    for node in graph.nodes_geometry:
        chain = graph.transforms.parents
        top = node
        while chain.get(top) not in (None, base):
            top = chain[top]
        top_tf, _ = graph.get(top)
        node_tf, geom_name = graph.get(node)
        if not isinstance(tscene.geometry[geom_name], trimesh.Trimesh):
            continue
        # include_cache keeps the vertex normals the file holds (a plain copy drops them)
        mesh = _flat_material_as_colours(tscene.geometry[geom_name].copy(include_cache=True))
        mesh.apply_transform(np.linalg.inv(top_tf) @ node_tf)
        out.setdefault(str(top), (top_tf, []))[1].append(mesh)
    return {name: (tf, parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts))
            for name, (tf, parts) in out.items()}


def _flat_material_as_colours(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A primitive painted by its material's colour alone gets that colour as vertex colours.

    scene.glb stores flat colours as ``baseColorFactor`` (one primitive per colour); as
    vertex colours the primitives of a node merge into one mesh that keeps every colour
    (merging materials would pack them into a texture atlas).
    """
    visual = mesh.visual
    if not isinstance(visual, trimesh.visual.TextureVisuals) or visual.material is None:
        return mesh
    if getattr(visual.material, "baseColorTexture", None) is not None or getattr(visual.material, "image", None) \
            is not None:
        return mesh
    rgba = np.asarray(visual.material.main_color, np.uint8).reshape(-1)[:4]
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile(rgba, (len(mesh.vertices), 1)))
    return mesh


RELATION_TYPES = ("on", "against_wall", "facing", "same_asset_group")
RELATION_KEYS = {f.name for f in dataclasses.fields(Relation)}
INSTANCE_KEYS = {"id", "label", "category", "asset_id", "node", "world_from_object", "size", "score"}
TOP_KEYS = {"format", "camera", "floor", "walls", "instances", "relations", "method", "timings_s", "attribution"}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _finite_matrix(value, shape: tuple[int, ...], what: str, path: Path) -> np.ndarray:
    """``value`` as a finite float array of ``shape``; InputError naming ``what`` otherwise."""
    try:
        arr = np.asarray(value, float)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {what} must be a {'x'.join(map(str, shape))} matrix of numbers") from None
    if arr.shape != shape:
        raise InputError(f"{path}: {what} must be {'x'.join(map(str, shape))}, got shape "
                         f"{'x'.join(map(str, arr.shape)) or 'a scalar'}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: {what} has non-finite entries (NaN or infinity)")
    return arr


def validate_scene_json(data, path: str | os.PathLike = "scene.json") -> None:
    """Check a parsed ``scene.json`` against the scene format; InputError naming ``path`` and the field.

    Refused: a non-object, another format, a camera without a finite 3x3 ``K`` (positive
    focal lengths, last row 0 0 1) or positive integer size, a ``world_from_camera`` or
    ``world_from_object`` that is not a finite 4x4 matrix (last row 0 0 0 1), instances
    without a positive integer ``id`` (or with a repeated one), ``label``/``category``/
    ``asset_id``/``node`` that are not strings, a ``size`` that is not 3 finite numbers ≥ 0,
    relations of an unknown type, with an unknown key or naming ids that are not instances.
    Unknown keys of an instance or of the top level are kept (methods record extras there).
    """
    path = Path(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != SCENE_FORMAT:
        raise InputError(f"{path}: format {data.get('format')!r}, expected {SCENE_FORMAT!r}")
    camera = data.get("camera")
    if camera is not None:
        if not isinstance(camera, dict):
            raise InputError(f"{path}: camera must be an object or null")
        K = _finite_matrix(camera.get("K"), (3, 3), "camera.K", path)
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
            raise InputError(f"{path}: camera.K must have positive focal lengths and last row 0 0 1")
        for key in ("width", "height"):
            if not _is_int(camera.get(key)) or camera[key] < 1:
                raise InputError(f"{path}: camera.{key} must be a positive integer, got {camera.get(key)!r}")
        if camera.get("world_from_camera") is not None:
            _rigid_like(_finite_matrix(camera["world_from_camera"], (4, 4), "camera.world_from_camera", path),
                        "camera.world_from_camera", path)
    floor = data.get("floor")
    if floor is not None:
        if not isinstance(floor, dict):
            raise InputError(f"{path}: floor must be an object or null")
        if "normal" in floor:
            _finite_matrix(floor["normal"], (3,), "floor.normal", path)
        if "height" in floor and not _is_number(floor["height"]):
            raise InputError(f"{path}: floor.height must be a finite number, got {floor['height']!r}")
    walls = data.get("walls") or []
    if not isinstance(walls, list) or not all(isinstance(w, dict) for w in walls):
        raise InputError(f"{path}: walls must be a list of objects")
    for k, wall in enumerate(walls):
        for key in ("point", "normal"):
            if key in wall:
                _finite_matrix(wall[key], (3,), f"walls[{k}].{key}", path)
    instances = data.get("instances", [])
    if not isinstance(instances, list):
        raise InputError(f"{path}: instances must be a list of objects, got {type(instances).__name__}")
    ids: set[int] = set()
    for k, entry in enumerate(instances):
        where = f"instances[{k}]"
        if not isinstance(entry, dict):
            raise InputError(f"{path}: {where} must be an object, got {type(entry).__name__}")
        if "id" not in entry:
            raise InputError(f"{path}: {where} has no 'id'")
        iid = entry["id"]
        if not _is_int(iid) or iid <= 0:
            raise InputError(f"{path}: {where}: id must be a positive integer, got {iid!r}")
        if iid in ids:
            raise InputError(f"{path}: {where}: id {iid} appears twice")
        ids.add(iid)
        where = f"instance {iid}"
        for key in ("label", "category", "asset_id", "node"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise InputError(f"{path}: {where}: {key} must be a string or null, got {entry[key]!r}")
        if entry.get("world_from_object") is not None:
            _rigid_like(_finite_matrix(entry["world_from_object"], (4, 4), f"{where}: world_from_object", path),
                        f"{where}: world_from_object", path)
        if entry.get("size") is not None:
            size = _finite_matrix(entry["size"], (3,), f"{where}: size", path)
            if np.any(size < 0):
                raise InputError(f"{path}: {where}: size has negative extents {size.tolist()}")
        if entry.get("score") is not None and not _is_number(entry["score"]):
            raise InputError(f"{path}: {where}: score must be a finite number or null, got {entry['score']!r}")
    relations = data.get("relations", [])
    if not isinstance(relations, list):
        raise InputError(f"{path}: relations must be a list of objects, got {type(relations).__name__}")
    for k, rel in enumerate(relations):
        where = f"relations[{k}]"
        if not isinstance(rel, dict):
            raise InputError(f"{path}: {where} must be an object, got {type(rel).__name__}")
        unknown = sorted(set(rel) - RELATION_KEYS)
        if unknown:
            raise InputError(f"{path}: {where}: unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} (known: {', '.join(sorted(RELATION_KEYS))})")
        if rel.get("type") not in RELATION_TYPES:
            raise InputError(f"{path}: {where}: type {rel.get('type')!r} is not one of {', '.join(RELATION_TYPES)}")
        for key in ("subject", "object"):
            if rel.get(key) is not None and (not _is_int(rel[key]) or rel[key] not in ids):
                raise InputError(f"{path}: {where}: {key} {rel[key]!r} is not the id of an instance")
        if rel.get("wall") is not None and (not _is_int(rel["wall"]) or rel["wall"] < 0):
            raise InputError(f"{path}: {where}: wall must be a wall index ≥ 0, got {rel['wall']!r}")
        members = rel.get("members")
        if members is not None and (not isinstance(members, list)
                                    or not all(_is_int(m) and m in ids for m in members)):
            raise InputError(f"{path}: {where}: members must be a list of instance ids, got {members!r}")
    for key, kind in (("method", dict), ("timings_s", dict), ("attribution", list)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise InputError(f"{path}: {key} must be {'an object' if kind is dict else 'a list'}, "
                             f"got {type(data[key]).__name__}")
    if not all(isinstance(a, dict) for a in data.get("attribution") or []):
        raise InputError(f"{path}: attribution must be a list of objects")


def _rigid_like(m: np.ndarray, what: str, path: Path) -> None:
    """A 4x4 transform must be affine (last row 0 0 0 1) and not collapse space (det ≠ 0)."""
    if not np.allclose(m[3], [0, 0, 0, 1]):
        raise InputError(f"{path}: {what} must have last row 0 0 0 1, got {m[3].tolist()}")
    if abs(np.linalg.det(m[:3, :3])) < 1e-12:
        raise InputError(f"{path}: {what} is singular (it flattens the object)")


def read_scene(folder: str | os.PathLike, load_meshes: bool = True) -> Scene:
    """Read a scene folder written by :func:`write_scene` (or by any method or the benchmark).

    ``scene.json`` is checked by :func:`validate_scene_json` first, and meshes with
    non-finite vertices are refused, so every problem is an InputError naming the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: scene folder not found")
    json_path = folder / "scene.json"
    data = read_json(json_path)
    validate_scene_json(data, json_path)
    nodes = load_glb_nodes(folder / "scene.glb") if load_meshes else {}
    for name, (tf, mesh) in nodes.items():
        if not np.all(np.isfinite(tf)) or not np.all(np.isfinite(mesh.vertices)):
            raise InputError(f"{folder / 'scene.glb'}: node {name} has non-finite coordinates (NaN or infinity)")
    instances = []
    for entry in data.get("instances", []):
        node = entry.get("node") or f"inst_{entry['id']}"
        mesh = nodes[node][1] if node in nodes else None
        wfo = entry.get("world_from_object")
        instances.append(Instance(
            id=int(entry["id"]), mesh=mesh,
            world_from_object=np.eye(4) if wfo is None else np.asarray(wfo, float),
            label=entry.get("label"), category=entry.get("category"), asset_id=entry.get("asset_id"),
            size=entry.get("size"), score=entry.get("score"),
            extra={k: v for k, v in entry.items() if k not in INSTANCE_KEYS}))
    room = {name: mesh.copy().apply_transform(tf) for name, (tf, mesh) in nodes.items()
            if name == "floor" or name == "ceiling" or name.startswith("wall_")}
    return Scene(
        camera=None if data.get("camera") is None else Camera.from_json(data["camera"]),
        instances=instances, floor=data.get("floor"), walls=data.get("walls") or [],
        relations=[Relation(**r) for r in data.get("relations", [])],
        method=data.get("method") or {}, timings_s=data.get("timings_s") or {}, room=room,
        attribution=data.get("attribution") or [],
        extra={k: v for k, v in data.items() if k not in TOP_KEYS})
