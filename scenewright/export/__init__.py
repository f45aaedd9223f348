"""Export a scene folder to the tools people use: USD (.usda/.usdc/.usdz), Blender (.blend), GLB.

>>> from scenewright.export import export_scene, ExportSettings
>>> export_scene("out/scene", "scene.usdz")                       # format from the extension
>>> export_scene("out/scene", "scene.blend", settings=ExportSettings(room=False))

Outputs are written beside the target under a temporary name and renamed into place,
so a failed export leaves nothing half-written and an existing file untouched (it is
only replaced with ``overwrite=True``). A .usda/.usdc/.usd layer references its textures
in a sibling folder ``<stem>_textures/`` (moved into place together with the layer);
.usdz, .blend and .glb are self-contained.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from scenewright.errors import InputError
from scenewright.export.common import FORMATS, ExportSettings
from scenewright.export.glb import write_glb
from scenewright.fileio import (_is_no_space_in, check_writable_parent, move_aside, no_space_error,
                                refuse_overlap, temp_dir_beside)
from scenewright.progress import make_progress
from scenewright.scene import read_scene

__all__ = ["export_scene", "ExportSettings", "FORMATS", "infer_format", "texture_dir_for"]


def infer_format(out_file: str | os.PathLike, format: str | None = None) -> str:
    """The export format: ``format`` when given, else from ``out_file``'s extension.

    InputError for an unknown format or extension, and for a format that contradicts the
    extension (a .usd file may hold either usda or usdc; every other extension names one format).
    """
    ext = Path(out_file).suffix.lower()
    by_ext = {e: f for f, e in FORMATS.items()}
    if format is None:
        if ext not in by_ext:
            raise InputError(f"{out_file}: cannot tell the format from the extension {ext or '(none)'!r}; "
                             f"use one of {', '.join(FORMATS.values())} or pass --format")
        return by_ext[ext]
    fmt = str(format).lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {format!r}; known: {', '.join(FORMATS)}")
    if ext != FORMATS[fmt] and not (ext == ".usd" and fmt in ("usda", "usdc")):
        raise InputError(f"{out_file}: --format {fmt} writes {FORMATS[fmt]} files; "
                         f"the extension {ext or '(none)'!r} says otherwise")
    return fmt


def texture_dir_for(out_file: Path) -> Path:
    """Folder beside a .usda/.usdc/.usd layer that holds its PNG textures."""
    return out_file.with_name(f"{out_file.stem}_textures")


def _read(scene_dir: Path):
    if not scene_dir.is_dir():
        raise InputError(f"{scene_dir}: scene folder not found")
    scene = read_scene(scene_dir)
    missing = [i.node for i in scene.instances if i.mesh is None]
    if scene.instances and len(missing) == len(scene.instances):
        # scene.json and scene.glb disagree (or the GLB lost its meshes): nothing to export
        raise InputError(f"{scene_dir / 'scene.glb'}: none of the nodes listed in scene.json "
                         f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}) holds a mesh")
    return scene


def with_room(scene, settings: ExportSettings):
    """``scene`` with its room meshes when the export takes the room (``settings.room``).

    The room is the one scene.glb holds (textured from the photo at reconstruction). A
    folder without one (written by hand or before rooms were kept) gets floor and walls
    in plain colours from its planes; a folder reconstructed with ``--no-room``
    (``scene.json`` ``room.included`` false) stays without.
    """
    if not settings.room or scene.room or (scene.extra.get("room") or {}).get("included") is False:
        return scene
    import copy

    from scenewright.export.room import room_surfaces
    scene = copy.copy(scene)          # the caller's scene stays as it was
    scene.room = room_surfaces(scene)
    return scene


def _move_into_place(src: Path, dst: Path, aside: list[tuple[Path, Path]]) -> None:
    """Rename ``src`` to ``dst``; an existing ``dst`` is first renamed aside (kept until the end)."""
    if dst.exists():
        aside.append((_aside(dst), dst))
    os.replace(src, dst)


def _aside(path: Path) -> Path:
    return move_aside(path)


def export_scene(scene_dir: str | os.PathLike, out_file: str | os.PathLike, format: str | None = None,
                 settings: ExportSettings | None = None, overwrite: bool = False, progress: bool = False,
                 scene=None) -> Path:
    """Export the scene folder ``scene_dir`` to ``out_file`` and return its path.

    ``format``: usd | usda | usdc | usdz | blend | glb (None: from the extension). An
    existing ``out_file`` (or its texture folder) is an InputError unless ``overwrite``.
    ``scene``: an already-read :class:`~scenewright.scene.Scene` of ``scene_dir`` (skips reading).
    """
    settings = settings or ExportSettings()
    settings.validate()
    scene_dir, out_file = Path(scene_dir), Path(out_file)
    refuse_overlap(out_file, [scene_dir])
    if out_file.is_dir():
        raise InputError(f"{out_file}: is a folder; give the output file name")
    fmt = infer_format(out_file, format)
    tex_dir = texture_dir_for(out_file) if fmt in ("usd", "usda", "usdc") and settings.textures else None
    if tex_dir is not None:
        refuse_overlap(tex_dir, [scene_dir])
    if not overwrite:
        for p in (out_file, tex_dir):
            if p is not None and p.exists():
                raise InputError(f"{p}: exists (pass --overwrite to replace it)")
    scene = with_room(scene if scene is not None else _read(scene_dir), settings)
    check_writable_parent(out_file)
    tmp = temp_dir_beside(out_file)
    aside: list[tuple[Path, Path]] = []       # (old output moved aside, where it was)
    placed: list[Path] = []
    try:
        staged = tmp / out_file.name
        _write(fmt, scene, staged, settings, str(scene_dir), progress)
        staged_tex = tmp / tex_dir.name if tex_dir is not None else None
        if staged_tex is not None and staged_tex.is_dir():
            _move_into_place(staged_tex, tex_dir, aside)
            placed.append(tex_dir)
        elif tex_dir is not None and tex_dir.exists():     # overwriting: stale textures would mislead
            aside.append((_aside(tex_dir), tex_dir))
        _move_into_place(staged, out_file, aside)
    except BaseException as exc:
        full = _is_no_space_in(exc, tmp)
        # put back what was there: a failed export leaves the old output as it was
        for path in placed:
            shutil.rmtree(path, ignore_errors=True)
        for old, dst in aside:
            if not dst.exists():
                os.replace(old, dst)
        if full:
            # pxr, Blender and zip writers each word a full disk their own way
            raise no_space_error(out_file) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for old, _ in aside:
            if old.exists():
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return out_file


def _write(fmt: str, scene, path: Path, settings: ExportSettings, source: str, progress: bool) -> None:
    """Write ``scene`` to ``path`` (inside a private temporary folder) in format ``fmt``."""
    with make_progress(progress, "export", transient=True) as p:
        task = p.add_task(fmt, total=len(scene.instances))
        advance = lambda n: p.advance(task, n)  # noqa: E731
        if fmt in ("usd", "usda", "usdc"):
            from scenewright.export.usd import write_usd
            write_usd(scene, path, settings, path.parent / f"{path.stem}_textures", source, advance,
                      file_format=None if fmt == "usd" else fmt)
        elif fmt == "usdz":
            from scenewright.export.usd import package_usdz, write_usd
            layer = path.with_suffix(".usdc")
            write_usd(scene, layer, settings, path.parent / f"{path.stem}_textures", source, advance)
            package_usdz(layer, path)
        elif fmt == "blend":
            from scenewright.export.blend import write_blend
            write_blend(scene, path, settings, source, advance)
        elif fmt == "glb":
            write_glb(scene, path, settings, source)
        else:  # infer_format already refused it
            raise InputError(f"unknown export format {fmt!r}")
