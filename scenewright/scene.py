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
                overwrite: bool = False, inputs=()) -> Path:
    """Write ``scene`` as a scene folder (atomically). ``preview``: (H, W, 3) uint8 image.

    ``inputs``: folders the scene was made from (capture, library, weights); an output
    that is, contains or lies inside one is refused (:func:`scenewright.fileio.refuse_overlap`).
    """
    folder = Path(folder)
    with atomic_dir(folder, overwrite=overwrite, inputs=inputs) as tmp:
        tscene = scene.to_trimesh_scene()
        glb = tscene.export(file_type="glb") if tscene.geometry else _glb_without_meshes(scene)
        (tmp / "scene.glb").write_bytes(glb)
        (tmp / "scene.json").write_text(dumps_json(scene.to_json()) + "\n")
        if preview is not None:
            from PIL import Image
            Image.fromarray(np.asarray(preview, np.uint8)).save(tmp / "preview.png")
    return folder


def _glb_without_meshes(scene: Scene) -> bytes:
    """A valid GLB holding only the named, posed instance nodes.

    trimesh refuses to export a scene without geometry, but a method may legitimately
    produce one (MIDI when no instance has a surface), and the folder must stay valid.
    """
    import json
    import struct
    nodes = [{"name": inst.node,
              "matrix": np.asarray(inst.world_from_object, float).T.reshape(-1).tolist()}
             for inst in scene.instances]
    doc = {"asset": {"version": "2.0", "generator": "scenewright"}, "scene": 0,
           "scenes": [{"nodes": list(range(len(nodes))),
                       "extras": {"scenewright": {"format": SCENE_FORMAT, "attribution": scene.attribution}}}],
           "nodes": nodes}
    chunk = json.dumps(doc).encode()
    chunk += b" " * (-len(chunk) % 4)
    return (struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(chunk))
            + struct.pack("<I4s", len(chunk), b"JSON") + chunk)


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
        mesh = tscene.geometry[geom_name].copy(include_cache=True)
        mesh.apply_transform(np.linalg.inv(top_tf) @ node_tf)
        out.setdefault(str(top), (top_tf, []))[1].append(mesh)
    return {name: (tf, parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts))
            for name, (tf, parts) in out.items()}


def read_scene(folder: str | os.PathLike, load_meshes: bool = True) -> Scene:
    """Read a scene folder written by :func:`write_scene` (or by any method or the benchmark)."""
    folder = Path(folder)
    data = read_json(folder / "scene.json")
    if not isinstance(data, dict):
        raise InputError(f"{folder / 'scene.json'}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != SCENE_FORMAT:
        raise InputError(f"{folder / 'scene.json'}: format {data.get('format')!r}, expected {SCENE_FORMAT!r}")
    nodes = load_glb_nodes(folder / "scene.glb") if load_meshes else {}
    known = {"id", "label", "category", "asset_id", "node", "world_from_object", "size", "score"}
    instances = []
    for entry in data.get("instances", []):
        node = entry.get("node") or f"inst_{entry['id']}"
        mesh = nodes[node][1] if node in nodes else None
        instances.append(Instance(
            id=int(entry["id"]), mesh=mesh,
            world_from_object=np.asarray(entry.get("world_from_object") or np.eye(4), float),
            label=entry.get("label"), category=entry.get("category"), asset_id=entry.get("asset_id"),
            size=entry.get("size"), score=entry.get("score"),
            extra={k: v for k, v in entry.items() if k not in known}))
    room = {name: mesh.copy().apply_transform(tf) for name, (tf, mesh) in nodes.items()
            if name == "floor" or name == "ceiling" or name.startswith("wall_")}
    top_known = {"format", "camera", "floor", "walls", "instances", "relations", "method",
                 "timings_s", "attribution"}
    return Scene(
        camera=None if data.get("camera") is None else Camera.from_json(data["camera"]),
        instances=instances, floor=data.get("floor"), walls=data.get("walls") or [],
        relations=[Relation(**r) for r in data.get("relations", [])],
        method=data.get("method") or {}, timings_s=data.get("timings_s") or {}, room=room,
        attribution=data.get("attribution") or [],
        extra={k: v for k, v in data.items() if k not in top_known})
