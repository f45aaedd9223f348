"""Export speed and file size per format, against the obvious alternative route.

The scene is the shipped ``examples/living_room/gt`` (6 Sweet Home 3D objects with
textures, 4 walls, floor, ceiling, camera) unless ``--scene`` says otherwise. For every
format, ``scenewright.export.export_scene`` (reading the scene folder included) is timed
against what a user would otherwise do:

- ``glb``               — trimesh: ``read_scene(...).to_trimesh_scene().export("glb")``;
- ``blend``             — Blender: import ``scene.glb`` with its glTF importer, save the .blend;
- ``usda/usdc/usdz``    — Blender: import ``scene.glb``, ``bpy.ops.wm.usd_export``.

Each output is then reopened and checked for what it kept: the number of meshes, whether
the asset attribution (a creator's name) is anywhere in it, the per-object labels, and
for USD the stage's up axis and whether the camera's horizontal field of view matches K.
Times are medians of ``--repeat`` runs after one warm-up, wall and CPU (the machine is
shared, so wall times move with its load; the load average is recorded).

    .venv/bin/python benchmarks/bench_export.py [--scene DIR] [--repeat 5] [--out FILE.json]
                                                [--room-capture DIR | --no-room-cost]

It also measures what the room costs (``--room-capture``, default the shipped living-room
capture): a ``boxes`` reconstruction (no preview) with the photo-textured room and ceiling vs
``--no-room``, and each format's export of that folder with the room vs ``--no-room``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("usda", "usdc", "usdz", "blend", "glb")


def machine_info() -> dict:
    import bpy
    import trimesh
    from pxr import Usd
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "loadavg_start": os.getloadavg(), "usd": ".".join(map(str, Usd.GetVersion())),
            "bpy": bpy.app.version_string, "trimesh": trimesh.__version__}


def ours(scene_dir: Path, out: Path) -> None:
    from scenewright.export import export_scene
    export_scene(scene_dir, out, overwrite=True)


def alternative(scene_dir: Path, out: Path) -> None:
    """The route without scenewright's exporter, for the format of ``out``."""
    fmt = out.suffix[1:]
    if fmt == "glb":
        from scenewright.scene import read_scene
        out.write_bytes(read_scene(scene_dir).to_trimesh_scene().export(file_type="glb"))
        return
    import bpy

    from scenewright.export.blend import _blender_quiet
    with _blender_quiet():
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_scene.gltf(filepath=str(scene_dir / "scene.glb"))
        if fmt == "blend":
            bpy.ops.wm.save_as_mainfile(filepath=str(out), check_existing=False, compress=True)
        else:
            bpy.ops.wm.usd_export(filepath=str(out))


def _credit(scene_dir: Path) -> str:
    data = json.loads((scene_dir / "scene.json").read_text())
    creators = [a["creator"] for a in data.get("attribution") or [] if a.get("creator")]
    return creators[0] if creators else "\0none\0"


def facts(path: Path, scene_dir: Path) -> dict:
    """What an output kept: meshes, attribution, labels, (USD) up axis and camera FOV."""
    data = json.loads((scene_dir / "scene.json").read_text())
    credit, labels = _credit(scene_dir), {i["label"] for i in data["instances"] if i.get("label")}
    fmt = path.suffix[1:]
    if fmt.startswith("usd"):
        from pxr import Gf, Usd, UsdGeom
        stage = Usd.Stage.Open(str(path))
        text = str(stage.GetRootLayer().customLayerData)
        meshes, cam_fov, found = 0, None, set()
        for prim in stage.Traverse():
            meshes += prim.IsA(UsdGeom.Mesh)
            text += str(prim.GetCustomData())
            for attr in prim.GetAttributes():
                if attr.GetTypeName() == "string":
                    found.add(attr.Get())
            if prim.IsA(UsdGeom.Camera):
                cam_fov = UsdGeom.Camera(prim).GetCamera(Usd.TimeCode.Default()).GetFieldOfView(
                    Gf.Camera.FOVHorizontal)
        K, W = np.asarray(data["camera"]["K"]), data["camera"]["width"]
        want = float(np.degrees(2 * np.arctan(W / 2 / K[0, 0])))
        return {"meshes": meshes, "attribution": credit in text, "labels": labels <= found,
                "up_axis": UsdGeom.GetStageUpAxis(stage),
                "camera_fov_ok": cam_fov is not None and abs(cam_fov - want) < 0.01,
                "camera_hfov_deg": cam_fov, "k_hfov_deg": want}
    if fmt == "blend":
        import bpy

        from scenewright.export.blend import _blender_quiet
        with _blender_quiet():
            bpy.ops.wm.open_mainfile(filepath=str(path))
        text = " ".join(t.as_string() for t in bpy.data.texts)
        found = {str(o.get("label")) for o in bpy.data.objects}
        return {"meshes": sum(o.type == "MESH" for o in bpy.data.objects), "attribution": credit in text,
                "labels": labels <= found}
    import struct
    blob = path.read_bytes()
    (n,) = struct.unpack_from("<I", blob, 12)
    doc = json.loads(blob[20:20 + n])           # the glTF document (labels live in node or mesh extras)
    meta = json.dumps(doc.get("scenes", [{}])[0].get("extras"), default=str) + json.dumps(
        [x.get("extras") for x in doc.get("nodes", []) + doc.get("meshes", [])], default=str)
    return {"meshes": sum("mesh" in node for node in doc.get("nodes", [])), "attribution": credit in meta,
            "labels": all(json.dumps(lb) in meta for lb in labels)}


def timed(fn, scene_dir: Path, out: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``repeat`` runs (the machine is shared: CPU time is steadier)."""
    fn(scene_dir, out)            # warm-up: imports, Blender's first factory reset
    wall, cpu = [], []
    for _ in range(repeat):
        for p in (out, out.with_name(f"{out.stem}_textures")):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        t, c = time.perf_counter(), time.process_time()
        fn(scene_dir, out)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def size_of(out: Path) -> int:
    """Bytes of the output, with a .usda/.usdc layer's texture folder."""
    tex = out.with_name(f"{out.stem}_textures")
    return out.stat().st_size + (sum(p.stat().st_size for p in tex.iterdir()) if tex.is_dir() else 0)


def room_cost(capture: Path, formats, repeat: int, tmp: Path) -> dict:
    """Seconds the room adds: per reconstruction (boxes, no preview) and per export, medians."""
    from scenewright.export import ExportSettings, export_scene
    from scenewright.run import run_to_folder

    def reconstruct(room: bool):
        def run(_scene_dir: Path, out: Path) -> None:
            run_to_folder(capture, out, "boxes", preview=False, overwrite=True, room=room, ceiling=room)
        return run

    rows = []
    folder = tmp / "room_scene"
    for room in (True, False):
        wall, cpu = timed(reconstruct(room), capture, tmp / f"reconstruct_{room}", repeat)
        rows.append({"step": "reconstruct boxes", "room": room, "median_s": statistics.median(wall),
                     "cpu_median_s": statistics.median(cpu)})
    run_to_folder(capture, folder, "boxes", preview=False, overwrite=True, ceiling=True)
    room_s = json.loads((folder / "scene.json").read_text())["timings_s"]["room"]
    for fmt in formats:
        for room in (True, False):
            def run(scene_dir: Path, out: Path, room=room) -> None:
                export_scene(scene_dir, out, settings=ExportSettings(room=room), overwrite=True)
            out = tmp / f"room_{room}.{fmt}"
            wall, cpu = timed(run, folder, out, repeat)
            rows.append({"step": f"export {fmt}", "room": room, "median_s": statistics.median(wall),
                         "cpu_median_s": statistics.median(cpu), "bytes": size_of(out)})
    return {"capture": str(capture), "room_build_s": room_s, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", type=Path, default=ROOT / "examples" / "living_room" / "gt")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench_export.json")
    parser.add_argument("--room-capture", type=Path, default=ROOT / "examples" / "living_room" / "capture",
                        help="capture whose boxes reconstruction measures the room's cost")
    parser.add_argument("--no-room-cost", action="store_true", help="skip the room measurement")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    from scenewright.scene import read_scene
    scene = read_scene(args.scene)
    n_tris = sum(len(i.mesh.faces) for i in scene.instances if i.mesh is not None)
    machine = machine_info()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for fmt in args.formats:
            for route, fn in (("scenewright", ours), ("alternative", alternative)):
                out = tmp / f"{route}.{fmt}"
                times, cpu = timed(fn, args.scene, out, args.repeat)
                rows.append({"format": fmt, "route": route, "median_s": statistics.median(times),
                             "min_s": min(times), "times_s": times, "cpu_median_s": statistics.median(cpu),
                             "bytes": size_of(out),
                             **facts(out, args.scene)})
        room = None if args.no_room_cost else room_cost(args.room_capture, args.formats, args.repeat, tmp)
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"export of {args.scene} ({len(scene.instances)} objects, {n_tris} triangles, "
                        f"median of {args.repeat})")
    for col in ("format", "route", "median s", "cpu s", "size MB", "meshes", "attribution", "labels", "extra"):
        table.add_column(col)
    for r in rows:
        extra = ""
        if "up_axis" in r:
            fov = "none" if r["camera_hfov_deg"] is None else f"{r['camera_hfov_deg']:.1f}°"
            extra = f"up {r['up_axis']}, camera hfov {fov} (K: {r['k_hfov_deg']:.1f}°)"
        table.add_row(r["format"], r["route"] if r["route"] == "scenewright" else
                      ("trimesh" if r["format"] == "glb" else "Blender glTF import + " +
                       ("save" if r["format"] == "blend" else "usd_export")),
                      f"{r['median_s']:.3f}", f"{r['cpu_median_s']:.3f}", f"{r['bytes'] / 1e6:.2f}", str(r["meshes"]),
                      "yes" if r["attribution"] else "no", "yes" if r["labels"] else "no", extra)
    Console(width=150).print(table)
    if room is not None:
        cost = Table(title=f"what the room costs (boxes on {args.room_capture}; building it: "
                           f"{room['room_build_s']:.3f} s), median of {args.repeat}")
        for col in ("step", "wall s with / without room", "CPU s with / without", "added CPU s",
                    "kB with / without"):
            cost.add_column(col)
        by = {(r["step"], r["room"]): r for r in room["rows"]}
        for step in dict.fromkeys(r["step"] for r in room["rows"]):
            a, b = by[(step, True)], by[(step, False)]
            cost.add_row(step, f"{a['median_s']:.3f} / {b['median_s']:.3f}",
                         f"{a['cpu_median_s']:.3f} / {b['cpu_median_s']:.3f}",
                         f"{a['cpu_median_s'] - b['cpu_median_s']:+.3f}",
                         f"{a['bytes'] / 1e3:.1f} / {b['bytes'] / 1e3:.1f}"
                         if "bytes" in a else "")
        Console(width=150).print(cost)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"scene": str(args.scene), "objects": len(scene.instances), "triangles": n_tris,
              "repeat": args.repeat, "rows": rows, "room_cost": room, "machine": {**machine, "loadavg_end": os.getloadavg()}}
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
