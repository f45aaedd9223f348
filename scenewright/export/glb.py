"""Scene → one self-contained GLB (trimesh), with the scene's data in glTF ``extras``.

The scene folder's own ``scene.glb`` already is a GLB; this one adds what a viewer or a
game engine cannot get from the folder's GLB alone: per-mesh extras (label, category,
asset id, score, size, relations, attribution) and the scene-level attribution,
relations, method and export settings in ``scenes[0].extras.scenewright``, and it
honours ``--no-room`` / ``--no-camera``.
"""

from __future__ import annotations

import copy
from pathlib import Path

from scenewright.export.common import ExportSettings, attribution_of, export_metadata, relations_of
from scenewright.scene import Scene


def write_glb(scene: Scene, path: Path, settings: ExportSettings, source: str = "") -> dict:
    """Write ``scene`` as a GLB at ``path``; node ``inst_<id>`` keeps world_from_object as its transform."""
    out = copy.copy(scene)
    out.room = dict(scene.room) if settings.room else {}
    out.instances = []
    credits, relations = attribution_of(scene), relations_of(scene)
    for inst in scene.instances:
        if inst.mesh is None:
            continue
        inst = copy.copy(inst)
        inst.mesh = inst.mesh.copy(include_cache=True)
        if not settings.textures and hasattr(inst.mesh.visual, "material"):
            inst.mesh.visual.material.baseColorTexture = None
        if settings.double_sided and hasattr(inst.mesh.visual, "material"):
            inst.mesh.visual.material.doubleSided = True
        inst.mesh.metadata = {"scenewright": {
            "instance_id": inst.id, "label": inst.label, "category": inst.category, "asset_id": inst.asset_id,
            "score": inst.score, "size": inst.size, "relations": relations[inst.id],
            "attribution": credits.get(inst.asset_id)}}
        out.instances.append(inst)
    tscene = out.to_trimesh_scene(with_camera=settings.camera)
    tscene.metadata["scenewright"] = export_metadata(scene, settings, source)
    path.write_bytes(tscene.export(file_type="glb"))
    return {"objects": len(out.instances), "room": len(out.room)}
